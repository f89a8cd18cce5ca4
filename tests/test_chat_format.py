"""Chat data: every shape, every template, the loss mask (exactly the assistant tokens), packing, tiny models."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from tuner import tiny_models
from tuner.errors import ConfigError, DataError, ModelError
from tuner.tasks import get_task
from tuner.tasks.chat import format as cf

CONV = [
    {"role": "system", "content": "You are a support bot."},
    {"role": "user", "content": "Where is my parcel?"},
    {"role": "assistant", "content": "It left the warehouse today."},
    {"role": "user", "content": "Thanks — and the invoice?"},
    {"role": "assistant", "content": "It is under Account > Orders."},
]
REPLIES = ["It left the warehouse today.", "It is under Account > Orders."]


@pytest.fixture(scope="module")
def toks():
    return {arch: tiny_models.make_tokenizer(arch) for arch in tiny_models.ARCHITECTURES}


# ---- shapes -------------------------------------------------------------------------------------------
def frame(records):
    from tuner.data import _records_frame

    return _records_frame(records)


SHAPE_CASES = {
    "messages": [{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}],
    "sharegpt": [{"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"}]}],
    "alpaca": [{"instruction": "hi", "input": "", "output": "hello"}],
    "pairs": [{"question": "hi", "answer": "hello", "id": "7"}],
    "text": [{"text": "hello world, a plain document"}],
}


@pytest.mark.parametrize("shape", list(SHAPE_CASES))
def test_each_shape_is_detected_and_normalised(shape):
    df = frame(SHAPE_CASES[shape] * 3)
    assert cf.detect_shape(df) == shape
    p = cf.propose(df)
    assert p["shape"] == shape
    convs = cf.to_conversations(df, shape, p["prompt_columns"], p["response_column"])
    assert len(convs) == 3
    if shape == "text":
        assert convs[0] == [{"role": "text", "content": "hello world, a plain document"}]
    else:
        assert convs[0] == [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]


def test_alpaca_joins_input_and_keeps_system():
    df = frame([{"instruction": "Translate", "input": "bonjour", "output": "hello", "system": "Be terse."}])
    shape, pcols, rcol, convs = get_task("chat").conversations(df, _cfg())
    assert shape == "alpaca" and pcols == ["instruction", "input"] and rcol == "output"
    assert convs[0] == [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "Translate\n\nbonjour"},
                        {"role": "assistant", "content": "hello"}]


def test_messages_stored_as_json_strings_in_a_csv(tmp_path):
    path = tmp_path / "chats.csv"
    pd.DataFrame({"messages": [json.dumps(SHAPE_CASES["messages"][0]["messages"])] * 2}).to_csv(path, index=False)
    table = get_task("chat").read(path)
    shape, _, _, convs = get_task("chat").conversations(table.df, _cfg())
    assert shape == "messages" and convs[1][1]["content"] == "hello"


def test_chosen_columns_decide_between_pairs_and_text():
    df = frame([{"prompt": "a", "completion": "b", "notes": "c"}] * 2)
    assert cf.shape_for_columns(df, "auto", ["notes"], "") == "text"
    assert cf.shape_for_columns(df, "auto", ["prompt"], "completion") == "pairs"
    assert cf.shape_for_columns(df, "pairs", ["notes"], "") == "pairs"  # an explicit shape wins


def _cfg(**chat):
    from tuner.config import RunConfig

    return RunConfig.from_dict({"task": "chat", "chat": chat})


# ---- validation: one sentence naming the line and the field --------------------------------------------
def jsonl(tmp_path, records, blank_after_first=False):
    lines = [json.dumps(r) for r in records]
    if blank_after_first:
        lines.insert(1, "")
    path = tmp_path / "data.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def good(i):
    return {"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}]}


def load_error(path) -> str:
    task = get_task("chat")
    with pytest.raises(DataError) as info:
        task.conversations(task.read(path).df, _cfg())
    msg = str(info.value)
    assert "\n" not in msg and "Traceback" not in msg
    return msg


def test_bad_role_is_left_out_naming_the_file_line_and_turn(tmp_path):
    records = [good(i) for i in range(40)]
    bad = {"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "q"},
                        {"role": "assistant", "content": "a"}, {"role": "bot", "content": "b"}]}
    records.insert(40, bad)  # record 41, on file line 42 because of one blank line
    task, lists = get_task("chat"), []
    convs = task.conversations(task.read(jsonl(tmp_path, records, blank_after_first=True)).df, _cfg(), skipped_out=lists)[3]
    assert len(convs) == 40
    assert lists[0].warnings() == ["Left out 1 of 41 rows of the training file that cannot be used: line 42 "
                                   "(messages[3] has role 'bot'); the full list can be downloaded."]


@pytest.mark.parametrize("turns, expected", [
    ([{"role": "user", "content": "q"}, {"role": "assistant", "content": "  "}], "line 3 (messages[1] (assistant) is empty)"),
    ([{"role": "user", "content": "q"}], "line 3 (the conversation has no assistant turn)"),
    ([{"role": "assistant", "content": "a"}, {"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}],
     "line 3 (messages[0] is an assistant turn before any user turn)"),
    ([{"role": "user", "text": "q"}, {"role": "assistant", "content": "a"}], "line 3 (messages[0] has no 'content' field)"),
    ([{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}, {"role": "system", "content": "s"}],
     "line 3 (messages[2] is a system turn after the start)"),
    ("not a list", "line 3 ('messages' must be a non-empty list of turns, e.g."),
])
def test_each_conversation_problem_is_one_sentence(tmp_path, turns, expected):
    records = [good(0), good(1), {"messages": turns}]  # one bad row of three: refused, naming it
    msg = load_error(jsonl(tmp_path, records))
    assert msg.startswith("1 of the 3 rows of the training file (33%) cannot be used") and expected in msg, msg


def test_sharegpt_bad_role_and_table_problems(tmp_path):
    df = frame([{"conversations": [{"from": "human", "value": "q"}, {"from": "robot", "value": "a"}]}])
    with pytest.raises(DataError, match=r"^None of the 1 rows .*: row 1 \(conversations\[1\] has role 'robot'\)"):
        cf.to_conversations(df, "sharegpt", ["conversations"], "")
    df = frame([{"q": "hi", "a": "yo"}, {"q": "hey", "a": ""}])
    with pytest.raises(DataError, match=r"^1 of the 2 rows .*: row 2 \(the response \('a'\) is empty\)"):
        cf.to_conversations(df, "pairs", ["q"], "a")
    with pytest.raises(DataError, match="has no column 'answer'"):
        cf.to_conversations(df, "pairs", ["q"], "answer")
    with pytest.raises(DataError, match="both prompt and response"):
        cf.to_conversations(df, "pairs", ["q"], "q")
    records = json.dumps([{"instruction": "x", "output": "y"}, {"instruction": "", "output": "y"}])
    (tmp_path / "a.json").write_text(records)
    assert "record 2 (the prompt (instruction) is empty)" in load_error(tmp_path / "a.json")


def test_plain_text_files_become_documents(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("First document,\nstill the first.\n\nSecond document.\n\n\nThird.\n", encoding="utf-8")
    table = get_task("chat").read(path)
    shape, _, _, convs = get_task("chat").conversations(table.df, _cfg())
    assert shape == "text" and [c[0]["content"] for c in convs] == ["First document,\nstill the first.", "Second document.", "Third."]


# ---- templates and the loss mask ------------------------------------------------------------------------
def trained_text(tok, enc) -> list[str]:
    """The decoded runs of consecutive tokens that carry loss."""
    runs, cur = [], []
    for t, lab in zip(enc.input_ids, enc.labels):
        if lab != cf.IGNORE:
            assert lab == t
            cur.append(t)
        elif cur:
            runs.append(tok.decode(cur))
            cur = []
    if cur:
        runs.append(tok.decode(cur))
    return runs


END = {"chatml": "<|im_end|>", "llama-3": "<|eot_id|>"}


@pytest.mark.parametrize("arch", tiny_models.ARCHITECTURES)
@pytest.mark.parametrize("template", cf.BUILTIN_TEMPLATES)
def test_exactly_the_assistant_tokens_carry_loss(toks, arch, template):
    tok = toks[arch]
    enc = cf.encode(CONV, template, tok)
    end = END.get(template, tok.eos_token)
    assert trained_text(tok, enc) == [r + end for r in REPLIES]  # every assistant turn, its end marker, nothing else
    # Every token is covered: the prompt tokens are all -100 and the full text decodes back.
    text = tok.decode(enc.input_ids)
    for m in CONV:
        assert m["content"] in text
    assert sum(lab != cf.IGNORE for lab in enc.labels) == sum(len(tok(r + end, add_special_tokens=False)["input_ids"]) for r in REPLIES)


@pytest.mark.parametrize("arch, builtin", [("llama", "llama-3"), ("qwen2", "chatml")])
def test_model_template_matches_the_builtin_one(toks, arch, builtin):
    """The tiny models' own Jinja templates are Llama-3 and ChatML: both paths must give identical ids and labels."""
    tok = toks[arch]
    assert cf.resolve_template("auto", tok) == "model"
    own, ref = cf.encode(CONV, "model", tok), cf.encode(CONV, builtin, tok)
    assert own.input_ids == ref.input_ids and own.labels == ref.labels
    assert cf.prompt_ids(CONV[:2], "model", tok) == cf.prompt_ids(CONV[:2], builtin, tok)
    jinja = tok.apply_chat_template(CONV, tokenize=False)
    assert tok.decode(own.input_ids) == jinja


def test_prompt_ids_end_with_the_generation_prompt(toks):
    tok = toks["qwen2"]
    ids = cf.prompt_ids(CONV[:2], "chatml", tok)
    assert tok.decode(ids).endswith("Where is my parcel?<|im_end|>\n<|im_start|>assistant\n")
    full = cf.encode(CONV[:3], "chatml", tok)
    assert full.input_ids[:len(ids)] == ids  # training and inference tokenise the prompt the same way
    assert all(lab == cf.IGNORE for lab in full.labels[:len(ids)])


def test_plain_text_is_trained_everywhere_but_the_first_token(toks):
    tok = toks["gpt2"]
    enc = cf.encode([{"role": "text", "content": "hello world"}], "chatml", tok)
    assert tok.decode(enc.input_ids) == "hello world<|endoftext|>"
    assert enc.labels[0] == cf.IGNORE and enc.labels[1:] == enc.input_ids[1:]


def test_auto_template_and_refusals(toks):
    assert cf.resolve_template("auto", toks["gpt2"]) == "chatml"  # no template of its own
    with pytest.raises(ConfigError, match="has no chat template"):
        cf.resolve_template("model", toks["gpt2"])
    with pytest.raises(ConfigError, match="choose one of"):
        cf.resolve_template("vicuna", toks["gpt2"])


def test_a_template_that_rewrites_history_is_refused(toks):
    tok = tiny_models.make_tokenizer("qwen2")
    # Like Qwen3's: earlier assistant turns lose their text once a later turn exists.
    tok.chat_template = ("{%- for m in messages %}{%- if m.role == 'assistant' and not loop.last %}<a>{%- else %}"
                         "<{{ m.role }}>{{ m.content }}{%- endif %}{%- endfor %}"
                         "{%- if add_generation_prompt %}<assistant>{%- endif %}")
    with pytest.raises(ConfigError, match="rewrites earlier turns"):
        cf.encode(CONV, "model", tok)


def test_truncation_and_the_pad_token(toks):
    tok = tiny_models.make_tokenizer("gpt2")
    assert tok.pad_token is None
    cf.ensure_pad_token(tok)
    assert tok.pad_token == "<|endoftext|>"
    enc = cf.encode(CONV, "chatml", tok, max_length=40)
    assert enc.truncated and len(enc.input_ids) == len(enc.labels) == 40
    assert not cf.encode(CONV, "chatml", tok, max_length=4000).truncated


def test_highlighted_tokens(toks):
    pieces = cf.highlighted_tokens(CONV[:3], "chatml", toks["qwen2"])
    assert "".join(t for t, _ in pieces).startswith("<|im_start|>system\nYou are a support bot.")
    assert "".join(t for t, lab in pieces if lab) == REPLIES[0] + "<|im_end|>"


def test_turn_stats():
    convs = [CONV, CONV[:3], CONV[1:3], [{"role": "text", "content": "x"}]]
    assert cf.turn_stats(convs) == {"1 turn": 2, "2 turns": 1, "text": 1}


# ---- packing --------------------------------------------------------------------------------------------
def test_pack_keeps_labels_and_restarts_positions(toks):
    tok = toks["llama"]
    convs = [[{"role": "user", "content": f"question {i}"}, {"role": "assistant", "content": "answer " * (i % 4 + 1)}]
             for i in range(12)]
    encs = [cf.encode(c, "llama-3", tok) for c in convs]
    rows = cf.pack(encs, 160)
    assert len(rows) < len(encs)
    assert all(len(r["input_ids"]) <= 160 for r in rows)
    assert sum(len(r["input_ids"]) for r in rows) == sum(len(e.input_ids) for e in encs)
    assert [t for r in rows for t in r["labels"]] == [t for e in encs for t in e.labels]
    starts = [i for r in rows for i, p in enumerate(r["position_ids"]) if p == 0]
    assert len(starts) == len(encs)


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_packed_examples_do_not_see_each_other(toks, arch):
    """The logits of an example inside a packed, padded row equal its logits alone."""
    import torch

    tok = toks[arch]
    cf.ensure_pad_token(tok)
    model = tiny_models.make_model(arch)
    a = cf.encode(CONV[1:3], "chatml", tok)
    b = cf.encode(CONV[3:5], "chatml", tok)
    collate = cf.ChatCollator(tok.pad_token_id)
    packed = collate(cf.pack([a, b], 4096))
    assert "attention_mask" not in packed and packed["input_ids"].shape[1] % 8 == 0
    with torch.no_grad():
        together = model(input_ids=packed["input_ids"], position_ids=packed["position_ids"], use_cache=packed["use_cache"]).logits[0]
        alone_b = model(input_ids=torch.tensor([b.input_ids])).logits[0]
        alone_a = model(input_ids=torch.tensor([a.input_ids])).logits[0]
    n_a, n_b = len(a.input_ids), len(b.input_ids)
    torch.testing.assert_close(together[:n_a], alone_a, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(together[n_a:n_a + n_b], alone_b, atol=1e-4, rtol=1e-4)
    unpacked = collate([{"input_ids": a.input_ids, "labels": a.labels}, {"input_ids": b.input_ids, "labels": b.labels}])
    assert unpacked["attention_mask"].sum().item() == n_a + n_b
    assert (unpacked["labels"][unpacked["attention_mask"] == 0] == cf.IGNORE).all()


# ---- tiny models ----------------------------------------------------------------------------------------
def test_tiny_models_are_deterministic_and_resolvable(tmp_path, monkeypatch):
    import hashlib

    from tuner import models

    monkeypatch.setenv("TUNER_CACHE_DIR", str(tmp_path / "a"))
    first = tiny_models.build("qwen2")
    assert models.resolve("tiny:qwen2") == str(first)
    assert tiny_models.build("qwen2") == first  # cached
    monkeypatch.setenv("TUNER_CACHE_DIR", str(tmp_path / "b"))
    second = tiny_models.build("qwen2")
    digest = [hashlib.sha256((p / "model.safetensors").read_bytes()).hexdigest() for p in (first, second)]
    assert first != second and digest[0] == digest[1]
    assert not list(first.glob("*.bin")) and (first / "tokenizer.json").is_file()
    with pytest.raises(ModelError, match="There is no tiny 'bert' model"):
        models.resolve("tiny:bert")


@pytest.mark.parametrize("arch", tiny_models.ARCHITECTURES)
def test_tiny_tokenizers_round_trip_any_text(toks, arch):
    tok = toks[arch]
    text = "Ünïcode ✓ 日本 — tabs\tand\nnewlines <|im_start|>"
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert tok.decode(ids) == text
    assert max(ids) < tiny_models.VOCAB_SIZE
