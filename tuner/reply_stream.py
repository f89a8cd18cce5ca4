"""The chat reply as it is generated: the whole reply so far after every new token.

transformers' TextIteratorStreamer hands out text only up to the last space, so a reply shows nothing until its
first word is complete, and a model that writes long space-free runs (sub-word pieces, code, a barely trained
adapter) shows nothing for seconds. This streamer decodes all the tokens generated so far after each one and
hands out that text, holding back only a trailing partial character (U+FFFD, half of a multi-byte character
that the next token completes). The consumer replaces what it showed with each text, so a decode that changes
earlier characters when a token is added (tokenizer space clean-up) is simply shown corrected.
"""

from __future__ import annotations

import queue

from transformers.generation.streamers import BaseStreamer

_END = object()


class ReplyStreamer(BaseStreamer):
    """Pass as `streamer=` to `generate` (in another thread); iterate for the reply so far. `timeout`: longest
    wait for the next text, in seconds (queue.Empty after it)."""

    def __init__(self, tokenizer, timeout: float | None = None):
        self.tokenizer, self.timeout = tokenizer, timeout
        self.ids: list[int] = []
        self.prompt_seen = False
        self.shown = ""
        self.texts: queue.Queue = queue.Queue()

    def put(self, value) -> None:
        ids = value.reshape(-1).tolist()
        if not self.prompt_seen:  # generate's first call carries the prompt
            self.prompt_seen = True
            return
        self.ids.extend(ids)
        self._offer(self.tokenizer.decode(self.ids, skip_special_tokens=True).rstrip("\ufffd"))

    def end(self) -> None:
        self._offer(self.tokenizer.decode(self.ids, skip_special_tokens=True))
        self.texts.put(_END)

    def _offer(self, text: str) -> None:
        if text != self.shown:
            self.shown = text
            self.texts.put(text)

    def __iter__(self):
        return self

    def __next__(self) -> str:
        item = self.texts.get(timeout=self.timeout)
        if item is _END:
            raise StopIteration
        return item
