"""The entity-tagging reader: CoNLL (space/tab, extra columns, -DOCSTART-, headers), JSONL tokens + tags, JSONL
text + character spans, joined-string tables; scheme detection; problems named by line; statistics; splits."""

from __future__ import annotations

import json
import re

import pytest

from tuner.config import RunConfig
from tuner.errors import DataError
from tuner.tasks import get_task

TASK = get_task("ner")


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8", newline="")
    return path


def one_sentence(err) -> str:
    msg = str(err)
    assert msg.strip() and "Traceback" not in msg and "\n" not in msg and "/tmp" not in msg
    assert msg.endswith("."), msg
    assert not re.search(r"[.!?]\s+[A-Z]", msg), f"more than one sentence: {msg}"
    return msg


def sentences(path, label_column="", scheme="auto", repair=False, source="training file"):
    table = TASK.read(path)
    p = TASK.propose(table.df)
    return table, TASK.extract(table.df, p["text_columns"], label_column or p["label_column"], source=source,
                               scheme=scheme, repair=repair)


def error(path, **kw) -> str:
    with pytest.raises(DataError) as info:
        sentences(path, **kw)
    return one_sentence(info.value)


CONLL = ("-DOCSTART- O \n\nEU B-ORG \nrejects O \nGerman B-MISC \ncall O \n\nPeter B-PER \nBlackburn I-PER \n\n"
         "-DOCSTART- O\n\nBRUSSELS B-LOC\n1996-08-22 O\n")


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_conll_space_separated_with_docstart_and_trailing_spaces(tmp_path, newline):
    path = write(tmp_path, "train.txt", CONLL.replace("\n", newline))
    table, s = sentences(path)
    assert table.format == "conll" and list(table.df.columns) == ["tokens", "tags"]
    assert s.tokens == [["EU", "rejects", "German", "call"], ["Peter", "Blackburn"], ["BRUSSELS", "1996-08-22"]]
    assert s.tags == [["B-ORG", "O", "B-MISC", "O"], ["B-PER", "I-PER"], ["B-LOC", "O"]]
    assert s.scheme == "BIO" and s.problems == 0
    assert table.df.attrs["ner_lines"] == [3, 8, 13]


def test_conll_tab_separated_tokens_may_hold_spaces(tmp_path):
    path = write(tmp_path, "data.conll", "New York\tB-LOC\nis\tO\nbig\tO\n\nAl\tB-PER\n")
    _, s = sentences(path)
    assert s.tokens == [["New York", "is", "big"], ["Al"]]


def test_conll_extra_columns_tag_column_is_chosen(tmp_path):
    text = "EU NNP B-NP B-ORG\nrejects VBZ B-VP O\nGerman JJ B-NP B-MISC\ncall NN I-NP O\n\nPeter NNP B-NP B-PER\n"
    path = write(tmp_path, "four.txt", text)
    table = TASK.read(path)
    assert list(table.df.columns) == ["tokens", "column_2", "column_3", "column_4"]
    assert TASK.propose(table.df) == {"text_columns": ["tokens"], "label_column": "column_4"}  # NER is last
    _, s = sentences(path)
    assert s.types() == {"ORG": 1, "MISC": 1, "PER": 1}
    _, chunks = sentences(path, label_column="column_3")  # the chunk column, when that is what is wanted
    assert chunks.types() == {"NP": 3, "VP": 1}


def test_conll_header_line_names_the_columns(tmp_path):
    path = write(tmp_path, "h.tsv", "token\tpos\tner\nParis\tNNP\tB-LOC\nis\tVBZ\tO\n")
    table = TASK.read(path)
    assert list(table.df.columns) == ["token", "pos", "ner"] and table.header
    assert TASK.propose(table.df) == {"text_columns": ["token"], "label_column": "ner"}


@pytest.mark.parametrize("text, scheme, tags", [
    ("Peter I-PER\nBlackburn I-PER\nmet O\nJohn I-PER\nMary B-PER\n", "IOB1",
     ["B-PER", "I-PER", "O", "B-PER", "B-PER"]),
    ("Peter B-PER\nBlackburn E-PER\nin O\nParis S-LOC\n", "BIOES", ["B-PER", "I-PER", "O", "B-LOC"]),
    ("Peter B-PER\nBlackburn L-PER\nin O\nParis U-LOC\n", "BIOES", ["B-PER", "I-PER", "O", "B-LOC"]),
    ("Peter PER\nBlackburn PER\nin O\nParis LOC\n", "IO", ["B-PER", "I-PER", "O", "B-LOC"]),
])
def test_schemes_are_detected_and_normalised(tmp_path, text, scheme, tags):
    _, s = sentences(write(tmp_path, "s.conll", text))
    assert s.scheme == scheme and s.tags == [tags]


def test_inconsistent_tags_are_counted_named_and_repaired_on_request(tmp_path):
    text = "EU B-ORG\nsaid O\n\nThe O\nCommission I-ORG\nsaid O\nBonn I-LOC\n"
    path = write(tmp_path, "bad.conll", text)
    cfg = RunConfig.from_dict({"task": "ner"})
    info = TASK.inspect(TASK.read(path).df, cfg)
    assert info["inconsistent_tags"] == 2
    warning = next(w for w in info["warnings"] if "break the BIO scheme" in w)
    assert warning.startswith("2 tag(s)") and "line 5 of the training file: I-ORG follows O" in warning
    assert "repair_tags" in warning
    _, kept = sentences(path)
    assert kept.tags[1] == ["O", "I-ORG", "O", "I-LOC"]
    _, fixed = sentences(path, repair=True)
    assert fixed.tags[1] == ["O", "B-ORG", "O", "B-LOC"] and fixed.repaired
    cfg = RunConfig.from_dict({"task": "ner", "data": {"repair_tags": True}})
    assert any(w.startswith("Repaired 2 tag(s)") for w in TASK.inspect(TASK.read(path).df, cfg)["warnings"])


def test_forced_scheme_overrides_detection(tmp_path):
    path = write(tmp_path, "s.conll", "Peter I-PER\nBlackburn I-PER\n")
    _, s = sentences(path, scheme="BIO")
    assert s.scheme == "BIO" and s.problems == 1


@pytest.mark.parametrize("text, words", [
    ("EU B-ORG\nrejects\n", r"^Line 2 has only one column \('rejects'\)"),
    ("EU NNP B-ORG\nrejects O\n", r"^Line 2 has 2 columns but line 1 has 3"),
    ("EU B-ORG\nrejects O\n\nPeter B-\n", r"^1 of the 2 sentences of the training file \(50%\) cannot be used.*: line 4 \(tag 'B-' has no entity type\)"),
    ("EU 3\nrejects 0\n", r"^None of the 1 sentences of the training file can be used: line 1 \(tag '3' is a number"),
    ("EU O\nrejects O\n", r"no entities \(every tag is O\)"),
    ("\n\n-DOCSTART- O\n\n", r"^The file has no token lines"),
])
def test_conll_problems_name_the_line(tmp_path, text, words):
    msg = error(write(tmp_path, "bad.conll", text))
    assert re.search(words, msg), msg


def test_jsonl_tokens_and_tags(tmp_path):
    rows = [{"tokens": ["EU", "rejects", "German", "call"], "ner_tags": ["B-ORG", "O", "B-MISC", "O"], "id": 1},
            {"tokens": ["Peter", "Blackburn"], "ner_tags": ["B-PER", "I-PER"], "id": 2}]
    path = write(tmp_path, "d.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n")
    table, s = sentences(path)
    assert TASK.propose(table.df) == {"text_columns": ["tokens"], "label_column": "ner_tags"}
    assert s.tokens[1] == ["Peter", "Blackburn"] and s.tags[0] == ["B-ORG", "O", "B-MISC", "O"]


@pytest.mark.parametrize("rows, words", [
    ([{"tokens": ["a", "b"], "tags": ["O", "B-PER"]}, {"tokens": ["a", "b"], "tags": ["O"]}],
     r"^1 of the 2 rows of the training file \(50%\).*: line 3 \(2 tokens but 1 tags\)"),
    ([{"tokens": ["a", "b"], "tags": [0, 1]}], r"^None of the 1 rows .*: line 1 \(token 1\) \(tag 0 is a number"),
    ([{"tokens": ["a", ""], "tags": ["O", "B-PER"]}], r"^None of the 1 rows .*: line 1 \(token 2\) \(a token is empty\)"),
])
def test_jsonl_problems_name_the_file_line(tmp_path, rows, words):
    lines = [json.dumps(r) for r in rows]
    path = write(tmp_path, "bad.jsonl", lines[0] + "\n\n" + "\n".join(lines[1:]) + "\n")  # a blank line 2
    msg = error(path)
    assert re.search(words, msg), msg


def test_a_few_broken_sentences_are_left_out_with_a_counted_warning(tmp_path):
    good = "EU B-ORG\nrejects O\n\n" * 30
    path = write(tmp_path, "d.conll", good + "Peter B-\n\n" + "call O\nBonn B-LOC\n")
    table, s = sentences(path)
    assert len(s.tokens) == 31  # 30 good + the last one; the broken sentence is out
    assert s.skipped.warnings() == ["Left out 1 of 32 sentences of the training file that cannot be used: line 91 "
                                    "(tag 'B-' has no entity type); the full list can be downloaded."]
    with pytest.raises(DataError, match="strict checking is on"):  # strict: refused instead
        TASK.extract(table.df, ["tokens"], "tags", strict=True)


def test_jsonl_text_and_character_spans(tmp_path):
    rows = [
        {"text": "Angela Merkel met Tim Cook in Berlin.",
         "spans": [{"start": 0, "end": 13, "label": "PER"}, {"start": 18, "end": 26, "label": "PER"},
                   {"start": 30, "end": 36, "label": "LOC"}]},
        {"text": "Apple's iPhone12 sold well in Japan", "spans": [[0, 5, "ORG"], [30, 35, "LOC"]]},  # list form
        {"text": "Nothing to see here.", "spans": []},
    ]
    path = write(tmp_path, "spans.jsonl", "\n".join(json.dumps(r) for r in rows))
    table, s = sentences(path)
    assert TASK.propose(table.df) == {"text_columns": ["text"], "label_column": "spans"}
    assert s.tokens[0] == ["Angela", "Merkel", "met", "Tim", "Cook", "in", "Berlin", "."]
    assert s.tags[0] == ["B-PER", "I-PER", "O", "B-PER", "I-PER", "O", "B-LOC", "O"]
    assert s.tokens[1][:2] == ["Apple", "'s"] and s.tags[1][0] == "B-ORG" and s.tags[1][-1] == "B-LOC"
    assert s.tags[2] == ["O"] * 5
    assert s.types() == {"PER": 2, "LOC": 2, "ORG": 1}


@pytest.mark.parametrize("spans, words", [
    ([{"start": 0, "end": 6, "label": "PER"}, {"start": 3, "end": 9, "label": "LOC"}], r"overlap"),
    ([{"start": 0, "end": 99, "label": "PER"}], r"span 1 \(0-99\) lies outside the text"),
    ([{"start": "0", "end": 5, "label": "PER"}], r"whole-number start and end"),
    ([{"start": 0, "end": 5}], r"span 1 needs a label"),
    ([{"start": 6, "end": 7, "label": "PER"}], r"covers only spaces"),
    ([{"start": 0, "end": 6, "label": "PER"}, "PER"], r"span 2 must be an object with start, end and label"),
])
def test_span_problems_name_the_line_and_span(tmp_path, spans, words):
    path = write(tmp_path, "s.jsonl", json.dumps({"text": "Angela Merkel", "spans": spans}) + "\n")
    msg = error(path)
    assert msg.startswith("None of the 1 rows of the training file can be used: line 1 (") and re.search(words, msg), msg


def test_table_with_joined_strings(tmp_path):
    path = write(tmp_path, "t.csv", "words,labels\nEU rejects German call,B-ORG O B-MISC O\nPeter Blackburn,B-PER I-PER\n")
    table, s = sentences(path)
    assert TASK.propose(table.df) == {"text_columns": ["words"], "label_column": "labels"}
    assert s.tokens[1] == ["Peter", "Blackburn"] and s.tags[1] == ["B-PER", "I-PER"]


def test_column_choices_are_checked(tmp_path):
    table = TASK.read(write(tmp_path, "d.conll", CONLL))
    with pytest.raises(DataError, match="no column 'words'"):
        TASK.extract(table.df, ["words"], "tags")
    with pytest.raises(DataError, match="both tokens and tags"):
        TASK.extract(table.df, ["tags"], "tags")
    with pytest.raises(DataError, match="No tags column chosen"):
        TASK.extract(table.df, ["tokens"], "")


def test_inspect_reports_entities_per_type_and_sentence_lengths(tmp_path):
    cfg = RunConfig.from_dict({"task": "ner"})
    info = TASK.inspect(TASK.read(write(tmp_path, "d.conll", CONLL)).df, cfg)
    assert info["rows"] == 3 and info["label_counts"] == {"ORG": 1, "MISC": 1, "PER": 1, "LOC": 1}
    assert info["text_columns"] == ["tokens"] and info["label_column"] == "tags" and info["scheme"] == "BIO"
    assert info["length_tokens_approx"] == {"min": 2, "median": 2, "p95": 3, "max": 4, "mean": 2.7}
    assert info["tokens"] == 8 and info["entities"] == 4
    assert any(w.startswith("Only 3 sentences") for w in info["warnings"])
    assert any("fewer than 5 examples" in w for w in info["warnings"])


def _tagged(n, types=("PER", "LOC")):
    out = []
    for i in range(n):
        t = types[i % len(types)]
        out.append(f"Name{i} B-{t}\nsaid O\nhello O\n")
    return "\n".join(out)


def test_load_splits_holds_out_a_share_and_keeps_label_names(tmp_path):
    path = write(tmp_path, "train.conll", _tagged(40))
    cfg = RunConfig.from_dict({"task": "ner", "data": {"train_file": str(path), "validation_fraction": 0.25}})
    splits = TASK.load_splits(cfg)
    assert len(splits.train["tokens"]) == 30 and len(splits.validation["tokens"]) == 10
    meta = splits.meta
    assert meta["labels"] == ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"] and meta["types"] == ["LOC", "PER"]
    assert meta["scheme"] == "BIO" and meta["case_feature"] is True
    assert all(len(t) == len(g) for t, g in zip(splits.train["tokens"], splits.train["tags"]))
    assert {meta["labels"][i] for seq in splits.train["tags"] for i in seq} <= set(meta["labels"])


def test_validation_file_with_an_unseen_type_is_refused(tmp_path):
    train = write(tmp_path, "train.conll", _tagged(10))
    val = write(tmp_path, "val.conll", "Acme B-ORG\nsaid O\n")
    cfg = RunConfig.from_dict({"task": "ner", "data": {"train_file": str(train), "validation_file": str(val)}})
    with pytest.raises(DataError) as info:
        TASK.load_splits(cfg)
    assert "entity type 'ORG'" in one_sentence(info.value) and "never occurs in the training file" in str(info.value)


def test_real_conll2003(shared_datasets):
    folder = shared_datasets / "conll2003"
    table = TASK.read(folder / "train.txt")
    cfg = RunConfig.from_dict({"task": "ner"})
    info = TASK.inspect(table.df, cfg)
    # The published CoNLL-2003 English training statistics.
    assert info["rows"] == 14041 and info["tokens"] == 203621
    assert info["label_counts"] == {"LOC": 7140, "PER": 6600, "ORG": 6321, "MISC": 3438}
    assert info["scheme"] == "BIO" and info["inconsistent_tags"] == 0
    test_table = TASK.read(folder / "test.txt")
    assert len(test_table.df) == 3453
