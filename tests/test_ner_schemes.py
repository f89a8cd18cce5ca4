"""tuner.tasks.ner.schemes: tag parsing, scheme detection and normalisation, repair, spans <-> tokens, Viterbi."""

from __future__ import annotations

import random

import numpy as np
import pytest

from tuner.tasks.ner import schemes as ts


@pytest.mark.parametrize("tag, expected", [
    ("O", ("O", "")), ("B-PER", ("B", "PER")), ("I-ORG", ("I", "ORG")), ("E-LOC", ("E", "LOC")),
    ("S-MISC", ("S", "MISC")), ("L-LOC", ("E", "LOC")), ("U-PER", ("S", "PER")), ("PER", ("I", "PER")),
    ("B-WORK-OF-ART", ("B", "WORK-OF-ART")), (" B-PER ", ("B", "PER")),
])
def test_split_tag(tag, expected):
    assert ts.split_tag(tag) == expected


@pytest.mark.parametrize("tag, words", [("B-", "no entity type"), ("", "empty"), ("3", "number"), (7, "number"),
                                        ("B PER", "space")])
def test_split_tag_refuses(tag, words):
    with pytest.raises(ts.TagError, match=words):
        ts.split_tag(tag)


@pytest.mark.parametrize("sequences, scheme", [
    ([["B-PER", "I-PER", "O", "B-LOC"], ["O", "B-ORG"]], "BIO"),
    ([["I-PER", "I-PER", "O", "I-LOC"], ["I-PER", "B-PER", "O"]], "IOB1"),
    ([["B-PER", "E-PER", "O", "S-LOC"]], "BIOES"),
    ([["B-PER", "L-PER", "O", "U-LOC"]], "BIOES"),                       # BILOU spelling
    ([["PER", "PER", "O", "LOC"]], "IO"),
    ([["I-PER", "I-PER", "O", "I-LOC"]], "IO"),                          # no B- at all: IO (same as IOB1)
    ([["B-PER", "I-PER", "O", "I-LOC"], ["B-ORG", "O"]], "BIO"),         # BIO with one broken tag stays BIO
])
def test_detect_scheme(sequences, scheme):
    assert ts.detect_scheme(sequences) == scheme


@pytest.mark.parametrize("tags, scheme, expected", [
    # IOB1: I- after O starts an entity; B- only separates two adjacent entities of one type
    ("I-PER I-PER B-PER O I-LOC I-ORG", "IOB1", "B-PER I-PER B-PER O B-LOC B-ORG"),
    # BIOES / BILOU: E -> I, S -> B
    ("B-PER E-PER O S-LOC B-ORG I-ORG E-ORG", "BIOES", "B-PER I-PER O B-LOC B-ORG I-ORG I-ORG"),
    ("U-LOC U-LOC B-PER L-PER", "BIOES", "B-LOC B-LOC B-PER I-PER"),
    # IO: every run of one type is one entity
    ("PER PER O LOC ORG ORG", "IO", "B-PER I-PER O B-LOC B-ORG I-ORG"),
    ("I-PER I-PER O I-LOC", "IO", "B-PER I-PER O B-LOC"),
    # BIO passes through unchanged
    ("B-PER I-PER O B-LOC B-LOC", "BIO", "B-PER I-PER O B-LOC B-LOC"),
])
def test_to_bio(tags, scheme, expected):
    out = ts.to_bio(tags.split(), scheme)
    assert out.tags == expected.split()
    assert out.problems == []


def test_broken_bio_is_reported_and_repaired_on_request():
    tags = "I-ORG O B-PER I-LOC O I-ORG I-ORG".split()
    kept = ts.to_bio(tags, "BIO")
    assert kept.tags == tags  # kept as they are ...
    assert [(p.index, p.message) for p in kept.problems] == [
        (0, "I-ORG follows the start of the sentence"), (3, "I-LOC follows B-PER"), (5, "I-ORG follows O")]
    fixed = ts.to_bio(tags, "BIO", repair=True)  # ... or rewritten as B-
    assert fixed.tags == "B-ORG O B-PER B-LOC O B-ORG I-ORG".split()
    assert len(fixed.problems) == 3
    # the metric reads the kept and the repaired tags as the same entities
    assert ts.bio_to_spans(kept.tags) == ts.bio_to_spans(fixed.tags)


def test_broken_bioes_after_an_ended_entity_always_starts_a_new_one():
    out = ts.to_bio("B-PER E-PER I-PER O E-LOC".split(), "BIOES")
    assert out.tags == "B-PER I-PER B-PER O I-LOC".split()
    assert [p.message for p in out.problems] == ["I-PER follows E-PER", "E-LOC follows O"]


def test_label_list():
    assert ts.label_list(["PER", "LOC", "PER"]) == ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]


def test_bio_spans_round_trip_on_random_sequences():
    rng = random.Random(0)
    for _ in range(300):
        n = rng.randint(0, 12)
        spans, i = [], 0
        while i < n:
            if rng.random() < 0.4:
                e = min(n, i + rng.randint(1, 3))
                spans.append((rng.choice(["PER", "LOC", "ORG"]), i, e))
                i = e
            else:
                i += 1
        tags = ts.spans_to_bio(n, spans)
        assert ts.bio_to_spans(tags) == spans


def test_bio_to_spans_reads_stray_i_as_a_start():
    assert ts.bio_to_spans("O I-PER I-PER B-PER I-LOC O".split()) == [("PER", 1, 3), ("PER", 3, 4), ("LOC", 4, 5)]


@pytest.mark.parametrize("text, spans", [
    ("Angela Merkel met Tim Cook in Berlin.", [(0, 13, "PER"), (18, 26, "PER"), (30, 36, "LOC")]),
    ("The iPhone12 launch (Cupertino, Calif.) drew crowds.", [(4, 10, "PROD"), (21, 30, "LOC")]),
    ("Zoë Ørsted-Müller visited São Paulo's museum", [(0, 17, "PER"), (26, 35, "LOC")]),
    ("U.S.-based IBM", [(0, 4, "LOC"), (11, 14, "ORG")]),
    ("no entities at all", []),
])
def test_char_spans_round_trip(text, spans):
    tokens, offsets, tags = ts.char_spans_to_tokens(text, spans)
    assert [text[a:b] for a, b in offsets] == tokens
    assert all(tok.strip() == tok and tok for tok in tokens)
    back = ts.tokens_to_char_spans(offsets, tags)
    assert [(s["start"], s["end"], s["label"]) for s in back] == spans


def test_word_offsets_follow_conll_tokenisation():
    text = "John's U.S. trip on 1996-08-22 didn't cost $3.5m. O'Neill said"
    words = [text[a:b] for a, b in ts.word_offsets(text)]
    assert words == ["John", "'s", "U.S.", "trip", "on", "1996-08-22", "did", "n't", "cost", "$", "3.5m", ".",
                     "O'Neill", "said"]


def test_join_tokens():
    text, offsets = ts.join_tokens(["EU", "rejects", "German", "call"])
    assert text == "EU rejects German call"
    assert [text[a:b] for a, b in offsets] == ["EU", "rejects", "German", "call"]


def test_viterbi_never_emits_an_i_that_continues_nothing():
    labels = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    start_ok, ok = ts.allowed_transitions(labels)
    assert not start_ok[2] and start_ok[1] and not ok[0, 2] and not ok[3, 2] and ok[1, 2] and ok[2, 2]
    # Argmax alone would say I-PER, I-PER, O, I-LOC: two stray I- tags.
    probs = np.array([[0.1, 0.3, 0.4, 0.1, 0.1],
                      [0.1, 0.1, 0.6, 0.1, 0.1],
                      [0.8, 0.05, 0.05, 0.05, 0.05],
                      [0.1, 0.05, 0.05, 0.35, 0.45]])
    path = [labels[j] for j in ts.viterbi(np.log(probs), start_ok, ok)]
    assert path == ["B-PER", "I-PER", "O", "B-LOC"]
    assert ts.viterbi(np.zeros((0, 5)), start_ok, ok) == []
