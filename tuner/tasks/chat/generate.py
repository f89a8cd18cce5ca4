"""Writing replies: greedy or sampled generation in left-padded batches, stopped at the template's end-of-turn
markers or at stop strings (used by the evaluation, file predictions and the Chat tab's streaming)."""

from __future__ import annotations

from . import format as cf


def stop_ids_and_strings(template: str, tokenizer) -> tuple[list[int], list[str]]:
    """End-of-turn markers split into single token ids (fast to stop on) and strings checked on decoded text."""
    ids, strings = [], []
    for s in cf.end_of_turn(template, tokenizer):
        enc = tokenizer(s, add_special_tokens=False)["input_ids"]
        if len(enc) == 1 and s in tokenizer.all_special_tokens + list(getattr(tokenizer, "added_tokens_encoder", {})):
            ids.append(enc[0])
        strings.append(s)
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in ids:
        ids.append(tokenizer.eos_token_id)
    return ids, strings


def cut_at_stop(text: str, stops: list[str]) -> str:
    cut = min((text.find(s) for s in stops if s and s in text), default=-1)
    return text[:cut] if cut >= 0 else text


class StopOnStrings:
    """A stopping criterion: a row is done once its generated text contains a stop string (or `cancel` is set)."""

    def __init__(self, tokenizer, stops: list[str], prompt_len: int, cancel=None):
        self.tokenizer, self.stops, self.prompt_len, self.cancel = tokenizer, [s for s in stops if s], prompt_len, cancel
        self.window = max((len(tokenizer(s, add_special_tokens=False)["input_ids"]) for s in self.stops), default=1) + 4

    def __call__(self, input_ids, scores, **kwargs):
        import torch

        if self.cancel is not None and self.cancel.is_set():
            return torch.ones(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        done = []
        for row in input_ids[:, self.prompt_len:]:
            tail = self.tokenizer.decode(row[-self.window:], skip_special_tokens=False)
            done.append(any(s in tail for s in self.stops))
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)


def generation_kwargs(tokenizer, template: str, prompt_len: int, max_new_tokens: int, temperature: float = 0.0,
                      top_p: float = 1.0, extra_stops: list[str] | None = None, cancel=None) -> tuple[dict, list[str]]:
    """Keyword arguments for `model.generate` and the stop strings to cut the decoded text at."""
    from transformers import StoppingCriteriaList

    ids, strings = stop_ids_and_strings(template, tokenizer)
    strings = strings + [s for s in (extra_stops or []) if s]
    kw = {"max_new_tokens": int(max_new_tokens), "eos_token_id": ids, "pad_token_id": tokenizer.pad_token_id,
          "stopping_criteria": StoppingCriteriaList([StopOnStrings(tokenizer, strings, prompt_len, cancel)])}
    if temperature and temperature > 0:
        kw.update(do_sample=True, temperature=float(temperature), top_p=float(top_p), top_k=0)
    else:
        kw.update(do_sample=False, temperature=None, top_p=None, top_k=None)
    return kw, strings


def generate_replies(model, tokenizer, conversations: list[list[dict]], template: str, max_new_tokens: int,
                     max_input: int, batch_size: int = 8, **sampling) -> list[str]:
    """Greedy (or sampled) replies to the last user turn of each conversation, in batches with left padding."""
    import torch

    cf.ensure_pad_token(tokenizer)
    device = next(model.parameters()).device
    prompts = [cf.prompt_ids(c, template, tokenizer)[-max_input:] for c in conversations]
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    out: dict[int, str] = {}
    was_training = model.training
    model.eval()
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        width = max(len(prompts[i]) for i in idx)
        ids = torch.tensor([[tokenizer.pad_token_id] * (width - len(prompts[i])) + prompts[i] for i in idx], device=device)
        mask = torch.tensor([[0] * (width - len(prompts[i])) + [1] * len(prompts[i]) for i in idx], device=device)
        kw, stops = generation_kwargs(tokenizer, template, width, max_new_tokens, **sampling)
        with torch.inference_mode():
            seqs = model.generate(input_ids=ids, attention_mask=mask, **kw)
        for i, row in zip(idx, seqs[:, width:].tolist()):
            cut = next((j for j, t in enumerate(row) if t in kw["eos_token_id"]), len(row))
            text = tokenizer.decode(row[:cut], skip_special_tokens=True)
            out[i] = cut_at_stop(text, stops).strip()
    model.train(was_training)
    return [out[i] for i in range(len(prompts))]
