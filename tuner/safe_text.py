"""Text that people typed, shown back safely: run names without control characters, server paths without the
server's folders, Markdown without live HTML or links. Knows nothing of gradio."""

from __future__ import annotations

import html
import os
import re
from pathlib import Path

# ANSI/VT escape sequences (CSI, OSC, single-character escapes), then every other control character.
_ANSI = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[@-Z\\-_])|\x9b[0-?]*[ -/]*[@-~]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]")
_MD_SPECIAL = re.compile(r"([\\`\[\]|])")  # with < > & escaped as HTML: no tag, link, image, code span or cell break


def clean_name(text, limit: int = 200) -> str:
    """A run name (or any one-line label) as it may be stored and printed: ANSI escape sequences removed, newlines,
    tabs and other control or direction-changing characters turned into spaces, runs of spaces squeezed."""
    text = _ANSI.sub("", str(text or ""))
    text = _CONTROL.sub(" ", text)
    return re.sub(r" {2,}", " ", text).strip()[:limit]


def md_text(text) -> str:
    """User text inside Markdown: one line, HTML escaped (no live tags), brackets, backticks, pipes and backslashes
    backslash-escaped (no links, images, code spans or table cells), so `<img src=x>` and `[x](javascript:...)` read
    as the literal text."""
    text = html.escape(clean_name(text, limit=2000), quote=True)
    return _MD_SPECIAL.sub(r"\\\1", text)


def code_span(text) -> str:
    """User text inside a Markdown code span: one line, no backticks (they would end the span)."""
    return clean_name(text, limit=2000).replace("`", "'")


def fence(body: str, info: str = "") -> str:
    """A fenced code block that `body` cannot close early: the fence is longer than any backtick run inside."""
    longest = max((len(m) for m in re.findall(r"`+", body)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{info}\n{body}\n{ticks}"


def _under(path: Path, folder: Path) -> Path | None:
    try:
        return path.relative_to(folder)
    except ValueError:
        return None


def public_path(value) -> str:
    """A file or folder setting as it may be shown to a person: a path under the runs folder as `runs/<rest>`, a path
    under the app's own folder relative to it (`assets/support_tickets.csv`), any other absolute path as its last
    part only (a model folder's name, an upload's file name). Relative paths and Hub ids are returned as they are."""
    text = str(value or "")
    if not text or not (os.path.isabs(text) or text.startswith("~")):
        return text
    path = Path(os.path.expanduser(text)).resolve()
    from .runs import runs_root

    roots = [(runs_root(), "runs"), (Path(__file__).resolve().parent.parent, "")]
    for root, prefix in roots:
        rel = _under(path, root)
        if rel is not None and rel.parts:
            return "/".join(filter(None, (prefix, rel.as_posix())))
    return path.name


def public_config(cfg):
    """A copy of a RunConfig whose path settings are `public_path`s (for the Show command box and model cards)."""
    import dataclasses

    return dataclasses.replace(
        cfg,
        data=dataclasses.replace(cfg.data, train_file=public_path(cfg.data.train_file),
                                 validation_file=public_path(cfg.data.validation_file)),
        model=dataclasses.replace(cfg.model, name=public_path(cfg.model.name)),
        train=dataclasses.replace(cfg.train, accelerate_config=public_path(cfg.train.accelerate_config)))
