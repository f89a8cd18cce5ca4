"""Chat data: detect the shape of an upload, normalise it to conversations, render prompts, mask the loss, pack.

Every example becomes a list of messages `{"role": "system" | "user" | "assistant", "content": str}`; plain
text for continued pretraining becomes one message with role "text". A template turns messages into text
segments, each flagged with whether its tokens carry loss: only assistant replies (and the end-of-turn marker
that follows them, so the model learns to stop) are trained; system and user turns and the template's own
markup are masked with -100. Segments are tokenised one by one, so the boundary between prompt and reply is
exact, and inference tokenises its prompt the same way.

Templates: "model" (the tokenizer's own chat template) or one of the built-ins: chatml, llama-3, alpaca, plain.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from ...errors import ConfigError, DataError

ROLES = ("system", "user", "assistant")
SHAPES = ("messages", "sharegpt", "alpaca", "pairs", "text")
SHAPE_TITLES = {"messages": "messages (role/content)", "sharegpt": "ShareGPT (from/value)",
                "alpaca": "Alpaca (instruction/input/output)", "pairs": "prompt/response columns",
                "text": "plain text (continued pretraining)"}
BUILTIN_TEMPLATES = ("chatml", "llama-3", "alpaca", "plain")
TEMPLATE_CHOICES = ("auto", "model", *BUILTIN_TEMPLATES)
IGNORE = -100

SHAREGPT_ROLES = {"system": "system", "human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                  "chatgpt": "assistant", "bard": "assistant", "model": "assistant", "bot": None}
MESSAGE_COLUMNS = ("messages", "conversation", "conversations", "chat", "dialog", "dialogue", "turns")
PROMPT_NAMES = ("prompt", "question", "instruction", "query", "input", "user", "customer", "request", "text",
                "utterance", "message")
RESPONSE_NAMES = ("response", "answer", "output", "completion", "reply", "assistant", "agent", "target", "chosen")
TEXT_NAMES = ("text", "content", "document", "body", "passage")
ALPACA_PREAMBLE = ("Below is an instruction that describes a task. "
                   "Write a response that appropriately completes the request.")


# ---- where a problem is ------------------------------------------------------------------------------
def row_name(df, i: int) -> str:
    """How a person finds row `i` (0-based) of the upload: 'line 42' (JSONL), 'record 42' (JSON), 'row 42'."""
    from ...data import row_name as name

    return name(df, i)


# ---- shapes ------------------------------------------------------------------------------------------
def _lower_map(df) -> dict[str, str]:
    return {str(c).lower().strip(): c for c in df.columns}


def _first_value(df, col):
    for v in df[col]:
        if isinstance(v, (list, dict)):
            return v
        if isinstance(v, str) and v.strip():
            parsed = _maybe_json(v)
            if parsed is not None:
                return parsed
            return v
    return None


def _maybe_json(value):
    if isinstance(value, str) and value.lstrip()[:1] in ("[", "{"):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return None


def _turn_column(df) -> tuple[str | None, str | None]:
    """(column, 'messages' | 'sharegpt') for a column holding lists of turns, else (None, None)."""
    lower = _lower_map(df)
    ordered = [lower[n] for n in MESSAGE_COLUMNS if n in lower] + [c for c in df.columns if c not in lower.values()]
    for col in ordered + list(df.columns):
        value = _first_value(df, col)
        if isinstance(value, list) and value and isinstance(value[0], dict):
            keys = set(value[0])
            if {"from", "value"} <= keys:
                return col, "sharegpt"
            if {"role", "content"} <= keys:
                return col, "messages"
    return None, None


def detect_shape(df) -> str:
    """The most likely shape of a table (see SHAPES)."""
    col, shape = _turn_column(df)
    if col is not None:
        return shape
    lower = _lower_map(df)
    if "instruction" in lower and "output" in lower:
        return "alpaca"
    prompt, response = _guess_pair(df)
    if prompt and response:
        return "pairs"
    return "text"


def _guess_pair(df) -> tuple[str | None, str | None]:
    lower = _lower_map(df)
    response = next((lower[n] for n in RESPONSE_NAMES if n in lower), None)
    prompt = next((lower[n] for n in PROMPT_NAMES if n in lower and lower[n] != response), None)
    return prompt, response


def propose(df, shape: str = "auto") -> dict:
    """{'shape', 'prompt_columns', 'response_column'} for a table; the columns are the ones that shape reads."""
    shape = detect_shape(df) if shape in ("", "auto") else shape
    lower = _lower_map(df)
    if shape in ("messages", "sharegpt"):
        col, _ = _turn_column(df)
        return {"shape": shape, "prompt_columns": [col] if col else [], "response_column": ""}
    if shape == "alpaca":
        cols = [lower[n] for n in ("instruction", "input") if n in lower]
        return {"shape": shape, "prompt_columns": cols, "response_column": lower.get("output", "")}
    if shape == "pairs":
        prompt, response = _guess_pair(df)
        if not (prompt and response):
            strings = [c for c in df.columns if not isinstance(_first_value(df, c), (list, dict))]
            by_len = sorted(strings, key=lambda c: df[c].astype(str).str.len().mean())
            prompt, response = (by_len[-2], by_len[-1]) if len(by_len) >= 2 else (None, None)
        return {"shape": shape, "prompt_columns": [prompt] if prompt else [], "response_column": response or ""}
    text = next((lower[n] for n in TEXT_NAMES if n in lower), None)
    if text is None:
        strings = [c for c in df.columns if not isinstance(_first_value(df, c), (list, dict))]
        text = max(strings, key=lambda c: df[c].astype(str).str.len().mean()) if strings else None
    return {"shape": "text", "prompt_columns": [text] if text else [], "response_column": ""}


def shape_for_columns(df, shape: str, prompt_columns: list[str], response_column: str) -> str:
    """The shape to read: the configured one, else what the chosen columns imply, else detected."""
    if shape not in ("", "auto"):
        return shape
    if len(prompt_columns) == 1 and not response_column and prompt_columns[0] in df.columns:
        value = _first_value(df, prompt_columns[0])
        if isinstance(value, list) and value and isinstance(value[0], dict):
            return "sharegpt" if "from" in value[0] else "messages"
        return "text"
    if prompt_columns and response_column:
        lower = {str(c).lower() for c in prompt_columns}
        if "instruction" in lower and str(response_column).lower() == "output":
            return "alpaca"
        return "pairs"
    return detect_shape(df)


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return str(value).strip()


def to_conversations(df, shape: str, prompt_columns: list[str], response_column: str,
                     source: str = "training file", strict: bool = False, skipped_out: list | None = None) -> list[list[dict]]:
    """The usable rows as lists of messages. A row that cannot be used (an empty prompt or reply, a broken list
    of turns) is left out and counted (tuner.skipped): too many, or any with `strict`, and the file is refused
    with a sentence naming them. The settled list is appended to `skipped_out` when given."""
    from ... import data as data_mod

    if shape not in SHAPES:
        raise ConfigError(f"'chat.shape' is {shape!r}; choose one of: auto, {', '.join(SHAPES)}.")
    for col in [*prompt_columns, *([response_column] if response_column else [])]:
        if col not in df.columns:
            raise DataError(f"The {source} has no column '{col}'; its columns are: {', '.join(map(str, df.columns))}.")
    if shape in ("messages", "sharegpt"):
        if not prompt_columns:
            raise DataError(f"The {source} has no column of conversations (a list of turns per row); pick that column or another data shape.")
        col = prompt_columns[0]

        def row(i):
            return _turns(df[col].iat[i], shape, col, row_name(df, i), source)
    elif shape == "text":
        if not prompt_columns:
            raise DataError(f"No text column chosen for the {source}; pick the column that holds the text.")

        def row(i):
            text = "\n".join(_cell(df[c].iat[i]) for c in prompt_columns if _cell(df[c].iat[i]))
            if not text:
                raise DataError(f"{_cap(row_name(df, i))} of the {source}: the text ({' + '.join(prompt_columns)}) is empty; fill it in or delete the row.")
            return [{"role": "text", "content": text}]
    else:
        if not prompt_columns:
            raise DataError(f"No prompt column chosen for the {source}; pick the column(s) that hold the question or instruction.")
        if not response_column:
            raise DataError(f"No response column chosen for the {source}; pick the column that holds the answer.")
        if response_column in prompt_columns:
            raise DataError(f"Column '{response_column}' is chosen as both prompt and response; pick different columns.")
        lower = {str(c).lower(): c for c in df.columns}
        system_col = lower.get("system") if shape == "alpaca" else None

        def row(i):
            prompt = "\n\n".join(_cell(df[c].iat[i]) for c in prompt_columns if _cell(df[c].iat[i]))
            reply = _cell(df[response_column].iat[i])
            if not prompt:
                raise DataError(f"{_cap(row_name(df, i))} of the {source}: the prompt ({' + '.join(map(str, prompt_columns))}) is empty; fill it in or delete the row.")
            if not reply:
                raise DataError(f"{_cap(row_name(df, i))} of the {source}: the response ('{response_column}') is empty; fill it in or delete the row.")
            conv = [{"role": "user", "content": prompt}, {"role": "assistant", "content": reply}]
            if system_col is not None and _cell(df[system_col].iat[i]):
                conv.insert(0, {"role": "system", "content": _cell(df[system_col].iat[i])})
            return conv

    skipped = data_mod.skipped_of(df, source)
    convs = []
    for i in range(len(df)):
        try:
            convs.append(row(i))
        except DataError as exc:
            skipped.add(row_name(df, i), skip_reason(exc, row_name(df, i), source))
    if not convs and not skipped:
        raise DataError(f"The {source} has 0 usable rows; add at least a few conversations.")
    skipped.settle(data_mod.records_read(df), strict)
    if skipped_out is not None:
        skipped_out.append(skipped)
    return convs


def skip_reason(exc: DataError, where: str, source: str):
    """A row's error sentence as the reason it was left out: without 'Row 3 of the file: ' and the advice."""
    from ...skipped import problem

    text = str(exc)
    for prefix in (f"{_cap(where)} of the {source}: ", f"{_cap(where)}: "):
        if text.startswith(prefix):
            text = text[len(prefix):]
            break
    return problem(text.split("; ")[0].rstrip("."))


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def prompt_turns(value, shape: str, column: str, where: str) -> list[dict]:
    """A conversation to answer (prediction files): validated turns up to and including the last user turn."""
    turns = _turns(value, shape, column, where, "file", need_reply=False)
    while turns and turns[-1]["role"] == "assistant":
        turns.pop()
    return turns


def _turns(value, shape: str, column: str, where: str, source: str, need_reply: bool = True) -> list[dict]:
    """One conversation cell -> validated messages."""
    parsed = _maybe_json(value) if isinstance(value, str) else value
    if not isinstance(parsed, list) or not parsed:
        raise DataError(f"{_cap(where)} of the {source}: '{column}' must be a non-empty list of turns, e.g. "
                        f"[{{\"role\": \"user\", \"content\": \"...\"}}, {{\"role\": \"assistant\", \"content\": \"...\"}}].")
    role_key, text_key = ("from", "value") if shape == "sharegpt" else ("role", "content")
    out = []
    for j, turn in enumerate(parsed):
        field = f"{column}[{j}]"
        if not isinstance(turn, dict):
            raise DataError(f"{_cap(where)}: {field} is {type(turn).__name__}; expected an object with '{role_key}' and '{text_key}'.")
        if role_key not in turn or text_key not in turn:
            raise DataError(f"{_cap(where)}: {field} has no '{role_key if role_key not in turn else text_key}' field; every turn needs '{role_key}' and '{text_key}'.")
        raw_role = str(turn[role_key]).strip()
        role = SHAREGPT_ROLES.get(raw_role.lower()) if shape == "sharegpt" else raw_role.lower()
        if role not in ROLES:
            expected = "system, human or gpt" if shape == "sharegpt" else "system, user or assistant"
            raise DataError(f"{_cap(where)}: {field} has role '{raw_role}'; expected {expected}.")
        content = turn[text_key]
        if content is None or isinstance(content, (list, dict)):
            raise DataError(f"{_cap(where)}: {field} ({role}) has no text in '{text_key}'; give each turn a string.")
        content = str(content).strip()
        if not content:
            raise DataError(f"{_cap(where)}: {field} ({role}) is empty; fill it in or delete the turn.")
        if role == "system" and j != 0:
            raise DataError(f"{_cap(where)}: {field} is a system turn after the start; put the system turn first.")
        out.append({"role": role, "content": content})
    rest = [m["role"] for m in out if m["role"] != "system"]
    if not rest:
        raise DataError(f"{_cap(where)}: the conversation has only a system turn; add a user turn.")
    if need_reply and "assistant" not in rest:
        raise DataError(f"{_cap(where)}: the conversation has no assistant turn; add the reply the model should learn.")
    if rest[0] != "user":
        first = next(j for j, m in enumerate(out) if m["role"] != "system")
        raise DataError(f"{_cap(where)}: {column}[{first}] is an assistant turn before any user turn; start each conversation with a user turn.")
    return out


def with_system(messages: list[dict], system_prompt: str) -> list[dict]:
    """Add `system_prompt` as the first turn of a conversation that has none (text examples stay as they are)."""
    if not system_prompt or not messages or messages[0]["role"] in ("system", "text"):
        return messages
    return [{"role": "system", "content": system_prompt}, *messages]


def turn_stats(conversations: list[list[dict]]) -> dict[str, int]:
    """Conversations per number of assistant turns: {'1 turn': n, '2 turns': m, ...} (plain text: 'text')."""
    counts: dict[int, int] = {}
    text = 0
    for conv in conversations:
        if conv and conv[0]["role"] == "text":
            text += 1
            continue
        n = sum(1 for m in conv if m["role"] == "assistant")
        counts[n] = counts.get(n, 0) + 1
    out = {f"{n} turn{'s' if n != 1 else ''}": counts[n] for n in sorted(counts)}
    if text:
        out["text"] = text
    return out


# ---- templates ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Rendered:
    segments: list[tuple[str, bool]]  # (text, carries loss)
    prefix_ids: list[int]             # tokens the tokenizer itself puts first (BOS) for built-in templates


def resolve_template(choice: str, tokenizer) -> str:
    """'auto' -> 'model' when the tokenizer has a chat template, else 'chatml'; other choices as given."""
    choice = (choice or "auto").strip()
    if choice not in TEMPLATE_CHOICES:
        raise ConfigError(f"'chat.template' is {choice!r}; choose one of: {', '.join(TEMPLATE_CHOICES)}.")
    has_own = bool(getattr(tokenizer, "chat_template", None))
    if choice == "auto":
        return "model" if has_own else "chatml"
    if choice == "model" and not has_own:
        raise ConfigError("This model's tokenizer has no chat template; choose a built-in template (chatml, llama-3, alpaca or plain).")
    return choice


def _bos_prefix(tokenizer) -> list[int]:
    """The ids a tokenizer adds before a text by itself (its BOS), found by encoding with and without them."""
    with_sp = tokenizer("a", add_special_tokens=True)["input_ids"]
    without = tokenizer("a", add_special_tokens=False)["input_ids"]
    n = len(with_sp) - len(without)
    return list(with_sp[:n]) if n > 0 and with_sp[n:n + len(without)] == without else []


def _eos_text(tokenizer) -> str:
    return tokenizer.eos_token or ""


def render(messages: list[dict], template: str, tokenizer, add_generation_prompt: bool = False) -> Rendered:
    """Messages -> text segments with loss flags. `template` is 'model' or a built-in name."""
    if messages and messages[0]["role"] == "text":
        return Rendered([(messages[0]["content"] + _eos_text(tokenizer), True)], _bos_prefix(tokenizer))
    if template == "model":
        return Rendered(_render_model(messages, tokenizer, add_generation_prompt), [])
    eos = _eos_text(tokenizer)
    segs: list[tuple[str, bool]] = []
    prefix = _bos_prefix(tokenizer)
    if template == "chatml":
        for m in messages:
            asst = m["role"] == "assistant"
            segs += [(f"<|im_start|>{m['role']}\n", False), (m["content"] + "<|im_end|>", asst), ("\n", False)]
        if add_generation_prompt:
            segs.append(("<|im_start|>assistant\n", False))
    elif template == "llama-3":
        if not prefix:
            segs.append(("<|begin_of_text|>", False))
        for m in messages:
            asst = m["role"] == "assistant"
            segs += [(f"<|start_header_id|>{m['role']}<|end_header_id|>\n\n", False), (m["content"] + "<|eot_id|>", asst)]
        if add_generation_prompt:
            segs.append(("<|start_header_id|>assistant<|end_header_id|>\n\n", False))
    elif template == "alpaca":
        system = messages[0]["content"] if messages and messages[0]["role"] == "system" else ALPACA_PREAMBLE
        segs.append((system + "\n\n", False))
        for m in messages:
            if m["role"] == "user":
                segs.append((f"### Instruction:\n{m['content']}\n\n", False))
            elif m["role"] == "assistant":
                segs += [("### Response:\n", False), (m["content"] + eos, True), ("\n\n", False)]
        if add_generation_prompt:
            segs.append(("### Response:\n", False))
    elif template == "plain":
        for m in messages:
            if m["role"] == "system":
                segs.append((m["content"] + "\n\n", False))
            elif m["role"] == "user":
                segs.append((f"User: {m['content']}\n", False))
            else:
                segs += [("Assistant: ", False), (m["content"] + eos, True), ("\n", False)]
        if add_generation_prompt:
            segs.append(("Assistant: ", False))
    else:
        raise ConfigError(f"Unknown chat template '{template}'; choose one of: {', '.join(TEMPLATE_CHOICES)}.")
    return Rendered(_merge(segs), prefix)


def _merge(segs: list[tuple[str, bool]]) -> list[tuple[str, bool]]:
    out: list[tuple[str, bool]] = []
    for text, loss in segs:
        if not text:
            continue
        if out and out[-1][1] == loss:
            out[-1] = (out[-1][0] + text, loss)
        else:
            out.append((text, loss))
    return out


def _apply(tokenizer, messages, add_generation_prompt):
    try:
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)
    except Exception as exc:  # a template's own refusal (e.g. "system role not supported")
        reason = str(exc).strip().split("\n")[0][:160]
        raise ConfigError(f"The model's chat template refused a conversation ({reason}); choose a built-in template such as chatml.") from None


def _render_model(messages: list[dict], tokenizer, add_generation_prompt: bool) -> list[tuple[str, bool]]:
    """Segments from the tokenizer's own template: each assistant reply is what rendering the conversation up
    to that reply adds to rendering it up to the generation prompt before it."""
    full = _apply(tokenizer, messages, add_generation_prompt)
    segs, pos = [], 0
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        before = _apply(tokenizer, messages[:i], True)
        upto = _apply(tokenizer, messages[:i + 1], False)
        if not (upto.startswith(before) and full.startswith(upto) and len(before) >= pos):
            raise ConfigError("The model's chat template rewrites earlier turns, so the reply tokens cannot be located; "
                              "choose a built-in template such as chatml.")
        end = len(upto.rstrip())
        segs += [(full[pos:len(before)], False), (full[len(before):end], True)]
        pos = end
    segs.append((full[pos:], False))
    return _merge(segs)


def end_of_turn(template: str, tokenizer) -> list[str]:
    """Strings that end an assistant reply in this template (generation stops there)."""
    eos = [tokenizer.eos_token] if tokenizer.eos_token else []
    if template == "chatml":
        return ["<|im_end|>", *eos]
    if template == "llama-3":
        return ["<|eot_id|>", *eos]
    if template == "alpaca":
        return [*eos, "### Instruction:"]
    if template == "plain":
        return [*eos, "\nUser:"]
    probe = [{"role": "user", "content": "x"}, {"role": "assistant", "content": "REPLY"}]
    upto = _apply(tokenizer, probe, False)
    tail = upto[upto.rfind("REPLY") + len("REPLY"):].strip()
    marker = tail.split("\n")[0].strip()
    return [s for s in dict.fromkeys([marker, *eos]) if s]


# ---- tokenising --------------------------------------------------------------------------------------
@dataclass
class Encoded:
    input_ids: list[int]
    labels: list[int]
    truncated: bool = False


def encode(messages: list[dict], template: str, tokenizer, max_length: int | None = None) -> Encoded:
    """Token ids and labels (-100 on every token that is not part of an assistant reply)."""
    r = render(messages, template, tokenizer)
    ids, labels = list(r.prefix_ids), [IGNORE] * len(r.prefix_ids)
    for text, loss in r.segments:
        piece = tokenizer(text, add_special_tokens=False)["input_ids"]
        ids += piece
        labels += piece if loss else [IGNORE] * len(piece)
    if labels:
        labels[0] = IGNORE  # nothing predicts the first token (this also keeps packed examples apart)
    truncated = max_length is not None and len(ids) > max_length
    if truncated:
        ids, labels = ids[:max_length], labels[:max_length]
    return Encoded(ids, labels, truncated)


def prompt_ids(messages: list[dict], template: str, tokenizer) -> list[int]:
    """The ids a model continues from to answer the last user turn (the generation prompt included)."""
    r = render(messages, template, tokenizer, add_generation_prompt=True)
    ids = list(r.prefix_ids)
    for text, _ in r.segments:
        ids += tokenizer(text, add_special_tokens=False)["input_ids"]
    return ids


def highlighted_tokens(messages: list[dict], template: str, tokenizer, limit: int = 2000) -> list[tuple[str, str | None]]:
    """(token text, 'loss' or None) per token, for showing which tokens are trained."""
    enc = encode(messages, template, tokenizer)
    out = []
    for tok, lab in list(zip(enc.input_ids, enc.labels))[:limit]:
        out.append((tokenizer.decode([tok]), "loss" if lab != IGNORE else None))
    return out


def ensure_pad_token(tokenizer) -> None:
    """Causal LM tokenizers often have no pad token; padding reuses EOS (labels mask padding anyway)."""
    if tokenizer.pad_token_id is None:
        for candidate in (tokenizer.eos_token, tokenizer.unk_token, tokenizer.bos_token):
            if candidate:
                tokenizer.pad_token = candidate
                return
        raise ConfigError("The tokenizer has no pad, end-of-text or unknown token to pad batches with; use another model.")


# ---- packing -----------------------------------------------------------------------------------------
def pack(examples: list[Encoded], max_length: int) -> list[dict]:
    """Concatenate examples (in order) into rows of at most `max_length` tokens. Position ids restart at 0 for
    every example, which makes the attention block-diagonal: packed examples never see each other."""
    rows, cur = [], {"input_ids": [], "labels": [], "position_ids": []}
    for ex in examples:
        n = len(ex.input_ids)
        if cur["input_ids"] and len(cur["input_ids"]) + n > max_length:
            rows.append(cur)
            cur = {"input_ids": [], "labels": [], "position_ids": []}
        cur["input_ids"] += ex.input_ids
        cur["labels"] += ex.labels
        cur["position_ids"] += list(range(n))
    if cur["input_ids"]:
        rows.append(cur)
    return rows


class ChatCollator:
    """Pads a batch. Unpacked rows get an attention mask; packed rows (with position ids) are padded with one more
    'example' of pad tokens whose positions restart at 0, and no attention mask, so the models' packed-sequence
    masking keeps every example to itself."""

    def __init__(self, pad_id: int, multiple: int = 8):
        self.pad_id, self.multiple = pad_id, multiple

    def __call__(self, features: list[dict]) -> dict:
        import torch

        longest = max(len(f["input_ids"]) for f in features)
        width = -(-longest // self.multiple) * self.multiple
        packed = "position_ids" in features[0]
        batch = {"input_ids": [], "labels": []}
        if packed:
            batch["position_ids"] = []
        else:
            batch["attention_mask"] = []
        for f in features:
            n = len(f["input_ids"])
            gap = width - n
            batch["input_ids"].append(list(f["input_ids"]) + [self.pad_id] * gap)
            batch["labels"].append(list(f["labels"]) + [IGNORE] * gap)
            if packed:
                batch["position_ids"].append(list(f["position_ids"]) + list(range(gap)))
            else:
                batch["attention_mask"].append([1] * n + [0] * gap)
        out = {k: torch.tensor(v, dtype=torch.long) for k, v in batch.items()}
        # No KV cache in training/scoring forwards: it is never reused, and with one the models skip the
        # packed-sequence masking that keeps packed examples apart.
        out["use_cache"] = False
        return out
