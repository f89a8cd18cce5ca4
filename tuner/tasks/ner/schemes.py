"""Entity tag schemes: detect BIO / IOB1 / BIOES / IO, normalise to BIO, find and repair broken sequences,
and convert between per-token tags and spans (token or character offsets).

Everything inside Tuner is BIO (IOB2): an entity is one B-TYPE followed by I-TYPE tags. Other schemes are
converted on reading:

    IOB1    I-X after O (or after another type) starts an entity; B-X only separates two adjacent X entities
    BIOES   B/I/E/S (also spelled BILOU: L = E, U = S): E-X -> I-X, S-X -> B-X
    IO      plain types (PER) or I-X only: every run of one type is one entity

A BIO tag sequence is *inconsistent* where an I-X does not continue an X entity ("I-ORG follows O"). Such
tags are kept (the metric, like seqeval/conlleval, reads them as the start of an entity) unless a repair is
requested, which rewrites them as B-X.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

PREFIX_ALIASES = {"B": "B", "I": "I", "E": "E", "S": "S", "L": "E", "U": "S", "M": "I"}
_PREFIXED = re.compile(r"^([BIESLUM])-(.+)$")
# A word of running text: abbreviations (U.S.), 'do' + "n't", clitics ('s), words/numbers with inner
# hyphens, dots, apostrophes or slashes (1996-08-22, O'Neill, 3.5), else any single symbol. Close to the
# Penn/CoNLL tokenisation the tagging data sets use.
WORD_RE = re.compile(
    r"(?:[A-Za-z]\.){2,}"
    r"|\w+(?=n['’]t\b)"
    r"|n['’]t\b"
    r"|['’](?i:s|re|ve|ll|d|m)\b"
    r"|\w+(?:(?:[-./&]|['’](?!(?i:s|re|ve|ll|d|m)\b))\w+)*"
    r"|[^\w\s]"
)


class TagError(ValueError):
    """A single tag that cannot be read; the caller adds the line or row."""


def split_tag(tag: str) -> tuple[str, str]:
    """'B-PER' -> ('B', 'PER'); 'O' -> ('O', ''); a plain type 'PER' -> ('I', 'PER') (IO scheme).

    BILOU/BMES prefixes are mapped to BIOES ones. Raises TagError for tags with no type ('B-', '')."""
    if not isinstance(tag, str):
        kind = "a number (a tag id)" if isinstance(tag, (int, float)) else f"a {type(tag).__name__}"
        raise TagError(f"tag {tag!r} is {kind}; export the tag names, such as B-PER, instead")
    tag = tag.strip()
    if tag == "O":
        return "O", ""
    if not tag:
        raise TagError("a tag is empty")
    m = _PREFIXED.match(tag)
    if m:
        return PREFIX_ALIASES[m.group(1)], m.group(2)
    if re.match(r"^[BIESLUM]-$", tag):
        raise TagError(f"tag '{tag}' has no entity type")
    if any(ch.isspace() for ch in tag):
        raise TagError(f"tag '{tag}' contains a space")
    if tag.lstrip("-").isdigit():
        raise TagError(f"tag '{tag}' is a number (a tag id); export the tag names, such as B-PER, instead of their ids")
    return "I", tag


def detect_scheme(sequences) -> str:
    """The scheme that explains these tag sequences best (see the module docstring)."""
    prefixes = set()
    b_starts = i_starts = 0
    for seq in sequences:
        prev_p, prev_t = "O", ""
        for tag in seq:
            p, t = split_tag(tag)
            prefixes.add(p)
            if p in ("E", "S"):
                return "BIOES"
            new_chunk = prev_p == "O" or prev_t != t
            if p == "B" and new_chunk:
                b_starts += 1
            elif p == "I" and new_chunk:
                i_starts += 1
            prev_p, prev_t = p, t
    if "B" not in prefixes:
        return "IO"
    if b_starts == 0 and i_starts > 0:
        return "IOB1"  # B- appears only between two adjacent entities of one type
    return "BIO"


@dataclass
class Problem:
    index: int      # token position in the sentence
    message: str    # "I-ORG follows O"


@dataclass
class Normalised:
    tags: list[str]
    problems: list[Problem] = field(default_factory=list)


def to_bio(tags: list[str], scheme: str, repair: bool = False) -> Normalised:
    """Convert one sentence's tags from `scheme` to BIO; list the tags that break the scheme.

    A broken I-X (or E-X) that does not continue an X entity stays an I-X unless `repair`, which makes it a
    B-X; either way the metric reads it as the start of an entity."""
    out: list[str] = []
    problems: list[Problem] = []
    prev_p, prev_t, prev_closed = "O", "", False
    for i, tag in enumerate(tags):
        p, t = split_tag(tag)
        if p == "O":
            out.append("O")
            prev_p, prev_t, prev_closed = "O", "", False
            continue
        if scheme in ("IO", "IOB1"):
            if p == "B" and scheme == "IO":
                p = "I"
            p = "B" if p == "B" or prev_p == "O" or prev_t != t else "I"
            closes = False
        else:  # BIO, BIOES
            closes = p in ("E", "S")
            p = {"S": "B", "E": "I"}.get(p, p)
            if p == "I" and (prev_p == "O" or prev_t != t or prev_closed):
                before = "the start of the sentence" if i == 0 else ("O" if prev_p == "O" else str(tags[i - 1]).strip())
                problems.append(Problem(i, f"{str(tag).strip()} follows {before}"))
                # BIO cannot continue an entity that already ended (after E-X or S-X): that one is always a B-X.
                if repair or (prev_closed and prev_t == t):
                    p = "B"
        out.append(f"{p}-{t}")
        prev_p, prev_t, prev_closed = p, t, closes
    return Normalised(out, problems)


def label_list(types) -> list[str]:
    """Model labels for these entity types: O, then B-/I- for each type in sorted order."""
    out = ["O"]
    for t in sorted(set(types)):
        out += [f"B-{t}", f"I-{t}"]
    return out


# ---- spans -----------------------------------------------------------------------------------------------
def bio_to_spans(tags: list[str]) -> list[tuple[str, int, int]]:
    """Entities of a BIO sentence as (type, first token, last token + 1), read like seqeval/conlleval:
    an I-X that does not continue an X entity starts one."""
    spans = []
    cur_t, cur_s = None, 0
    for i, tag in enumerate(tags):
        p, t = ("O", "") if tag == "O" else (tag[0], tag[2:])
        if cur_t is not None and (p in ("O", "B") or t != cur_t):
            spans.append((cur_t, cur_s, i))
            cur_t = None
        if p in ("B", "I") and cur_t is None:
            cur_t, cur_s = t, i
    if cur_t is not None:
        spans.append((cur_t, cur_s, len(tags)))
    return spans


def spans_to_bio(n_tokens: int, spans) -> list[str]:
    """BIO tags for token spans (type, start, end exclusive); spans must not overlap."""
    tags = ["O"] * n_tokens
    for t, s, e in spans:
        tags[s] = f"B-{t}"
        for k in range(s + 1, e):
            tags[k] = f"I-{t}"
    return tags


def word_offsets(text: str, cuts=()) -> list[tuple[int, int]]:
    """(start, end) character offsets of the words of `text` (WORD_RE); no word crosses a position in `cuts`
    (span boundaries), so character spans map onto whole words exactly."""
    bounds = sorted({0, len(text), *[c for c in cuts if 0 < c < len(text)]})
    out = []
    for a, b in zip(bounds, bounds[1:]):
        out += [(a + m.start(), a + m.end()) for m in WORD_RE.finditer(text[a:b])]
    return out


def char_spans_to_tokens(text: str, spans: list[tuple[int, int, str]]) -> tuple[list[str], list[tuple[int, int]], list[str]]:
    """(tokens, offsets, BIO tags) for a text and its character spans (start, end exclusive, label).

    Spans are assumed checked (inside the text, non-overlapping); a span that covers no word is dropped."""
    offsets = word_offsets(text, [x for s, e, _ in spans for x in (s, e)])
    tokens = [text[s:e] for s, e in offsets]
    tags = ["O"] * len(tokens)
    for s, e, label in sorted(spans):
        inside = [k for k, (a, b) in enumerate(offsets) if a >= s and b <= e]
        for n, k in enumerate(inside):
            tags[k] = ("B-" if n == 0 else "I-") + label
    return tokens, offsets, tags


def tokens_to_char_spans(offsets: list[tuple[int, int]], tags: list[str]) -> list[dict]:
    """Character spans {start, end, label} for BIO tags over words at `offsets`."""
    return [{"start": offsets[s][0], "end": offsets[e - 1][1], "label": t} for t, s, e in bio_to_spans(tags)]


def join_tokens(tokens: list[str]) -> tuple[str, list[tuple[int, int]]]:
    """A text for pre-split tokens (single spaces) and each token's character offsets in it."""
    offsets, pos = [], 0
    for tok in tokens:
        offsets.append((pos, pos + len(tok)))
        pos += len(tok) + 1
    return " ".join(tokens), offsets


# ---- constrained decoding ---------------------------------------------------------------------------------
def allowed_transitions(labels: list[str]):
    """(start_ok[j], ok[i, j]) boolean arrays: BIO forbids I-X after O, after the sentence start, or after
    another type."""
    import numpy as np

    n = len(labels)
    parts = [("O", "") if lab == "O" else (lab[0], lab[2:]) for lab in labels]
    start_ok = np.array([p != "I" for p, _ in parts])
    ok = np.ones((n, n), dtype=bool)
    for j, (pj, tj) in enumerate(parts):
        if pj != "I":
            continue
        for i, (pi, ti) in enumerate(parts):
            ok[i, j] = pi != "O" and ti == tj
    return start_ok, ok


def viterbi(log_probs, start_ok, ok) -> list[int]:
    """Best label sequence under the BIO constraints for one sentence's (words x labels) log-probabilities."""
    import numpy as np

    n = len(log_probs)
    if n == 0:
        return []
    neg = -1e9
    trans = np.where(ok, 0.0, neg)
    score = np.where(start_ok, log_probs[0], neg)
    back = np.zeros((n, log_probs.shape[1]), dtype=np.int64)
    for k in range(1, n):
        cand = score[:, None] + trans           # previous label x next label
        back[k] = cand.argmax(axis=0)
        score = cand.max(axis=0) + log_probs[k]
    path = [int(score.argmax())]
    for k in range(n - 1, 0, -1):
        path.append(int(back[k, path[-1]]))
    return path[::-1]
