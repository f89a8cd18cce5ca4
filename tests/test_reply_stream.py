"""The chat streamer hands out the whole reply so far after every generated token (tuner/reply_stream.py)."""

from __future__ import annotations

import threading

import pytest


def _feed(streamer, prompt: list[int], tokens: list[int]) -> None:
    import torch

    streamer.put(torch.tensor([prompt]))
    for t in tokens:
        streamer.put(torch.tensor([t]))
    streamer.end()


def test_text_after_every_token_not_only_at_spaces():
    from tuner import models
    from tuner.reply_stream import ReplyStreamer

    tok = models.load_tokenizer(models.resolve("default"))
    reply = tok("unbelievably playful", add_special_tokens=False)["input_ids"]
    assert len(reply) >= 4  # sub-word pieces: the first word arrives in parts
    s = ReplyStreamer(tok, timeout=5)
    _feed(s, tok("hello there")["input_ids"], reply)
    texts = list(s)
    # one text per token (no repeats), each the decoded reply so far; none of the prompt
    assert texts == [tok.decode(reply[:i], skip_special_tokens=True) for i in range(1, len(reply) + 1)]
    assert " " not in texts[0] and texts[-1] == "unbelievably playful"


class _Bytes:
    """A tokenizer whose tokens are bytes: a multi-byte character is complete only after its last byte."""

    def decode(self, ids, skip_special_tokens=True):
        return bytes(ids).decode("utf-8", errors="replace")


def test_a_partial_character_waits_for_its_last_byte():
    from tuner.reply_stream import ReplyStreamer

    s = ReplyStreamer(_Bytes(), timeout=5)
    _feed(s, [65], list("é!".encode()))  # é is two bytes
    assert list(s) == ["é", "é!"]


def test_iteration_ends_with_the_generation_and_times_out_without_it():
    import queue

    from tuner.reply_stream import ReplyStreamer

    s = ReplyStreamer(_Bytes(), timeout=5)
    worker = threading.Thread(target=_feed, args=(s, [65], list(b"ok")))
    worker.start()
    assert list(s) == ["o", "ok"]
    worker.join()
    idle = ReplyStreamer(_Bytes(), timeout=0.05)
    with pytest.raises(queue.Empty):
        next(idle)
