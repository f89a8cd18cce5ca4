"""tuner.data.read_table and the classification task's extract/inspect/load_splits on awkward uploads."""

from __future__ import annotations

import csv
import json
import re
import zipfile

import pandas as pd
import pytest

from tuner import data
from tuner.config import RunConfig
from tuner.errors import DataError
from tuner.tasks import get_task

TASK = get_task("classification")

ROWS = [
    ("I was charged twice for my order", "billing"),
    ("My parcel never arrived at the door", "shipping"),
    ("The app crashes when I open settings", "technical"),
    ("Please refund the duplicate payment", "billing"),
    ("The courier left the box at the wrong house", "shipping"),
    ("Login fails with error 500 every time", "technical"),
]


def write(tmp_path, name: str, content) -> str:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8", newline="")
    return path


def csv_text(rows=ROWS, header=("text", "label"), sep=",", newline="\n") -> str:
    lines = [sep.join(header)] if header else []
    lines += [sep.join(r) for r in rows]
    return newline.join(lines) + newline


def assert_clean(err: DataError, tmp_path=None) -> None:
    """A DataError is one user-facing sentence: no traceback, no file-system path, no line breaks."""
    msg = str(err)
    assert msg.strip(), "empty message"
    assert "Traceback" not in msg
    assert "/tmp" not in msg
    if tmp_path is not None:
        assert str(tmp_path) not in msg
    assert "\n" not in msg
    assert msg.endswith("."), msg
    assert not re.search(r"[.!?]\s+[A-Z]", msg), f"more than one sentence: {msg}"


def read_error(path, tmp_path) -> str:
    with pytest.raises(DataError) as info:
        data.read_table(path)
    assert_clean(info.value, tmp_path)
    return str(info.value)


def texts_labels(table):
    proposal = TASK.propose(table.df)
    return TASK.extract(table.df, proposal["text_columns"], proposal["label_column"])[:2]


# ---- delimited text --------------------------------------------------------------------------------
def test_csv_with_header(tmp_path):
    table = data.read_table(write(tmp_path, "a.csv", csv_text()))
    assert table.header is True
    assert list(table.df.columns) == ["text", "label"]
    assert len(table.df) == len(ROWS)
    assert table.df.iloc[2].tolist() == list(ROWS[2])
    assert table.warnings == []


def test_csv_without_header_gets_numbered_columns(tmp_path):
    table = data.read_table(write(tmp_path, "a.csv", csv_text(header=None)))
    assert table.header is False
    assert list(table.df.columns) == ["column_1", "column_2"]
    assert len(table.df) == len(ROWS), "the first data row must not be eaten as a header"
    assert table.df.iloc[0].tolist() == list(ROWS[0])
    proposal = TASK.propose(table.df)
    assert proposal == {"text_columns": ["column_1"], "label_column": "column_2"}


def test_tsv(tmp_path):
    table = data.read_table(write(tmp_path, "a.tsv", csv_text(sep="\t")))
    assert table.format == "tsv"
    assert list(table.df.columns) == ["text", "label"]
    assert table.df["label"].tolist() == [r[1] for r in ROWS]


def test_tsv_with_stray_quotes_is_read_literally(tmp_path):
    rows = [('"Divorce Barbie" comes with all of Ken\'s stuff', "spam"), ('he said "ok', "ham"), ("fine", "ham")]
    table = data.read_table(write(tmp_path, "a.tsv", csv_text(rows, header=("SMS", "Label"), sep="\t")))
    assert len(table.df) == 3
    assert table.df["SMS"].tolist() == [r[0] for r in rows]


def test_utf8_bom_is_stripped_from_the_header(tmp_path):
    table = data.read_table(write(tmp_path, "a.csv", b"\xef\xbb\xbf" + csv_text().encode()))
    assert list(table.df.columns) == ["text", "label"]
    assert table.warnings == []


def test_crlf_line_ends(tmp_path):
    table = data.read_table(write(tmp_path, "a.csv", csv_text(newline="\r\n")))
    assert len(table.df) == len(ROWS)
    assert not any("\r" in v for v in table.df.to_numpy().ravel())
    assert table.df["label"].tolist() == [r[1] for r in ROWS]


def test_quoted_multiline_fields(tmp_path):
    path = tmp_path / "a.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\r\n")
        w.writerow(["text", "label"])
        w.writerow(["First line,\nsecond line with a \"quote\"", "billing"])
        w.writerow(["one line", "shipping"])
    table = data.read_table(path)
    assert len(table.df) == 2
    assert table.df["text"][0] == 'First line,\nsecond line with a "quote"'
    assert table.df["label"].tolist() == ["billing", "shipping"]


def test_semicolon_delimiter_with_commas_in_text(tmp_path):
    rows = [("I paid twice, please refund", "billing"), ("Where is my parcel, it is late", "shipping"),
            ("App crashes, please fix it", "technical")]
    table = data.read_table(write(tmp_path, "a.csv", csv_text(rows, sep=";")))
    assert list(table.df.columns) == ["text", "label"]
    assert table.df["text"].tolist() == [r[0] for r in rows]


# ---- JSON, JSON Lines, Parquet ---------------------------------------------------------------------
def test_json_array(tmp_path):
    records = [{"text": t, "label": lab} for t, lab in ROWS]
    table = data.read_table(write(tmp_path, "a.json", json.dumps(records)))
    assert table.format == "json"
    assert texts_labels(table) == ([r[0] for r in ROWS], [r[1] for r in ROWS])


def test_json_object_wrapping_one_list(tmp_path):
    doc = {"version": 2, "data": [{"text": "hi there", "label": 1}, {"text": "bye now", "label": 2}]}
    table = data.read_table(write(tmp_path, "a.json", json.dumps(doc)))
    assert table.df["text"].tolist() == ["hi there", "bye now"]
    assert table.df["label"].tolist() == ["1", "2"], "scalars become strings (no '1.0')"


def test_json_object_with_two_lists_is_refused(tmp_path):
    msg = read_error(write(tmp_path, "a.json", json.dumps({"a": [{"x": 1}], "b": [{"x": 2}]})), tmp_path)
    assert "list of records" in msg


def test_jsonl(tmp_path):
    lines = "\n".join(json.dumps({"text": t, "label": lab}) for t, lab in ROWS) + "\n"
    table = data.read_table(write(tmp_path, "a.jsonl", lines))
    assert table.format == "jsonl"
    assert len(table.df) == len(ROWS)
    assert texts_labels(table)[1] == [r[1] for r in ROWS]


def test_jsonl_detected_without_extension(tmp_path):
    lines = "\n".join(json.dumps({"text": t, "label": lab}) for t, lab in ROWS)
    table = data.read_table(write(tmp_path, "upload.txt", lines))
    assert table.format == "jsonl"
    assert len(table.df) == len(ROWS)


def test_malformed_jsonl_names_the_line(tmp_path):
    content = '{"text": "fine", "label": "a"}\n\n{"text": "broken", label: "b"}\n{"text": "ok", "label": "c"}\n'
    # One broken line of three is too many to leave out: refused, naming the line.
    table = data.read_table(write(tmp_path, "a.jsonl", content))
    with pytest.raises(DataError) as info:
        texts_labels(table)
    assert_clean(info.value, tmp_path)
    assert "line 3 (not valid JSON" in str(info.value)


def test_parquet(tmp_path):
    df = pd.DataFrame({"text": [r[0] for r in ROWS], "label": [r[1] for r in ROWS], "score": [1, 2, 3, 4, 5, 6]})
    path = tmp_path / "a.parquet"
    df.to_parquet(path)
    table = data.read_table(path)
    assert table.format == "parquet"
    assert texts_labels(table) == ([r[0] for r in ROWS], [r[1] for r in ROWS])
    # Like every other reader, Parquet gives strings (so '1' not 1 or '1.0').
    assert table.df["score"].tolist() == ["1", "2", "3", "4", "5", "6"]


def test_parquet_detected_by_magic_bytes(tmp_path):
    df = pd.DataFrame({"text": ["a b", "c d"], "label": ["x", "y"]})
    path = tmp_path / "renamed.csv"
    df.to_parquet(path)
    assert data.read_table(path).format == "parquet"


# ---- empty and broken files ------------------------------------------------------------------------
def test_empty_file(tmp_path):
    assert "0 usable rows" in read_error(write(tmp_path, "a.csv", b""), tmp_path)


def test_whitespace_only_file(tmp_path):
    assert "0 usable rows" in read_error(write(tmp_path, "a.csv", "  \n\n \n"), tmp_path)


def test_header_only(tmp_path):
    assert "0 usable rows" in read_error(write(tmp_path, "a.csv", "text,label\n"), tmp_path)


def test_all_blank_rows(tmp_path):
    assert "0 usable rows" in read_error(write(tmp_path, "a.csv", "text,label\n,\n  ,  \n\n,\n"), tmp_path)


def test_blank_rows_between_data_are_dropped(tmp_path):
    table = data.read_table(write(tmp_path, "a.csv", "text,label\nhello there,a\n,\n\nbye now,b\n"))
    assert table.df.values.tolist() == [["hello there", "a"], ["bye now", "b"]]


def test_excel_file_renamed_csv_is_refused(tmp_path):
    path = tmp_path / "report.csv"
    with zipfile.ZipFile(path, "w") as zf:  # an .xlsx is a zip of XML parts
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("xl/workbook.xml", "<workbook/>")
    msg = read_error(path, tmp_path)
    assert "could not read" in msg.lower()
    assert "Excel" in msg


def test_binary_file_is_refused(tmp_path):
    import numpy as np

    raw = np.arange(5000, dtype=np.int32).tobytes()  # e.g. a saved array renamed .csv: full of NUL bytes
    msg = read_error(write(tmp_path, "a.csv", raw), tmp_path)
    assert "could not read" in msg.lower()


def test_a_few_nul_bytes_are_removed_with_a_warning(tmp_path):
    content = csv_text(ROWS * 10).encode().replace(b"I was charged", b"I was\x00 charged", 1) + b"\x00"
    table = data.read_table(write(tmp_path, "a.csv", content))
    assert len(table.df) == 60
    assert table.df["text"][0] == "I was charged twice for my order"
    assert table.df["label"].tolist() == [r[1] for r in ROWS * 10]
    assert any("NUL" in w for w in table.warnings)


def test_latin1_bytes_are_decoded_with_a_warning(tmp_path):
    content = "text,label\ncafé au lait was cold,food\nnaïve question about the façade,building\n".encode("latin-1")
    table = data.read_table(write(tmp_path, "a.csv", content))
    assert table.df["text"].tolist() == ["café au lait was cold", "naïve question about the façade"]
    assert len(table.warnings) == 1 and "not UTF-8" in table.warnings[0]


def test_utf16_with_bom(tmp_path):
    content = "text,label\ncafé crème,a\nnaïve,b\n".encode("utf-16")
    assert content[:2] in (b"\xff\xfe", b"\xfe\xff")
    table = data.read_table(write(tmp_path, "a.csv", content))
    assert list(table.df.columns) == ["text", "label"]
    assert table.df["text"].tolist() == ["café crème", "naïve"]
    assert table.warnings == []


def test_missing_file(tmp_path):
    msg = read_error(tmp_path / "nope.csv", tmp_path)
    assert "nope.csv" in msg


@pytest.mark.parametrize("bad_line", [2, 3])
def test_row_with_extra_fields_names_the_line(tmp_path, bad_line):
    lines = ["text,label", "fine text,a", "other text,b", "ok text,c"]
    lines[bad_line - 1] = "bad text,b,extra,fields"
    # One broken record of three is more than the 10% left out with a warning: refused, naming the row.
    table = data.read_table(write(tmp_path, "a.csv", "\n".join(lines) + "\n"))
    with pytest.raises(DataError) as info:
        texts_labels(table)
    assert_clean(info.value, tmp_path)
    assert f"row {bad_line - 1} (4 fields where the header has 2" in str(info.value)


def test_duplicate_header_is_refused(tmp_path):
    msg = read_error(write(tmp_path, "a.csv", "text,text,label\na,b,c\nd,e,f\n"), tmp_path)
    assert "'text'" in msg


# ---- limits ----------------------------------------------------------------------------------------
def test_upload_size_limit_is_checked_before_parsing(tmp_path, monkeypatch):
    monkeypatch.setenv("TUNER_MAX_UPLOAD_MB", "1")
    path = write(tmp_path, "big.csv", b"text,label\n" + b"x" * (3 * 2**20 // 2) + b",a\n")

    def boom(*a, **k):
        raise AssertionError("the file was parsed although it is over the limit")

    monkeypatch.setattr(data, "decode_bytes", boom)
    monkeypatch.setattr(data, "_read_delimited", boom)
    msg = read_error(path, tmp_path)
    assert "1 MB" in msg and "limit" in msg
    assert "1.5 MB" in msg


def test_upload_size_limit_admits_smaller_files(tmp_path, monkeypatch):
    monkeypatch.setenv("TUNER_MAX_UPLOAD_MB", "1")
    assert len(data.read_table(write(tmp_path, "a.csv", csv_text())).df) == len(ROWS)


@pytest.mark.parametrize("ext", ["csv", "jsonl"])
def test_row_cap_keeps_the_first_rows_with_a_warning(tmp_path, monkeypatch, ext):
    monkeypatch.setenv("TUNER_MAX_ROWS", "10")
    rows = [(f"ticket number {i} text", "a" if i % 2 else "b") for i in range(30)]
    if ext == "csv":
        content = csv_text(rows)
    else:
        content = "\n".join(json.dumps({"text": t, "label": lab}) for t, lab in rows)
    table = data.read_table(write(tmp_path, f"a.{ext}", content))
    assert len(table.df) == 10
    assert table.df["text"].tolist() == [r[0] for r in rows[:10]]
    assert any("10" in w and "rows" in w for w in table.warnings)


# ---- classification: extract and inspect -----------------------------------------------------------
def frame(rows, columns=("text", "label")):
    return pd.DataFrame([list(r) for r in rows], columns=list(columns))


def test_missing_column_is_named():
    with pytest.raises(DataError) as info:
        TASK.extract(frame(ROWS), ["text"], "category")
    assert_clean(info.value)
    assert "'category'" in str(info.value)
    assert "text, label" in str(info.value)


def test_inspect_with_configured_missing_column():
    cfg = RunConfig.from_dict({"data": {"text_columns": ["body"], "label_column": "label"}})
    with pytest.raises(DataError) as info:
        TASK.inspect(frame(ROWS), cfg)
    assert_clean(info.value)
    assert "'body'" in str(info.value)


def test_one_class_only_is_refused():
    rows = [(f"text number {i}", "spam") for i in range(10)]
    with pytest.raises(DataError) as info:
        TASK.inspect(frame(rows), RunConfig())
    assert_clean(info.value)
    assert "'spam'" in str(info.value) and "two different labels" in str(info.value)


def test_empty_label_names_the_row(tmp_path):
    rows = list(ROWS)
    rows[3] = ("Please refund the duplicate payment", "")
    table = data.read_table(write(tmp_path, "a.csv", csv_text(rows)))
    with pytest.raises(DataError) as info:
        texts_labels(table)
    assert_clean(info.value, tmp_path)
    assert "row 4 (the label ('label') is empty)" in str(info.value)


def test_empty_text_names_the_row():
    rows = list(ROWS)
    rows[1] = ("   ", "shipping")
    with pytest.raises(DataError) as info:
        TASK.extract(frame(rows), ["text"], "label")
    assert_clean(info.value)
    assert "row 2 (the text (text) is empty)" in str(info.value)


def test_mixed_number_and_word_labels_are_refused():
    rows = [("first text", "1"), ("second text", "2"), ("third text", "positive"), ("fourth", "1")]
    with pytest.raises(DataError) as info:
        TASK.extract(frame(rows), ["text"], "label")
    msg = str(info.value)
    assert_clean(info.value)
    assert "mixes numbers and words" in msg
    assert "'positive' in row 3" in msg and "'1' in row 1" in msg


def test_numeric_labels_are_accepted_and_sorted_naturally(tmp_path):
    rows = [(f"example text {i}", lab) for i, lab in enumerate(["10", "2", "1"] * 6)]
    path = write(tmp_path, "a.csv", csv_text(rows))
    texts, labels, _ = TASK.extract(data.read_table(path).df, ["text"], "label")
    assert sorted(set(labels)) == ["1", "10", "2"]
    cfg = RunConfig.from_dict({"data": {"train_file": str(path)}})
    splits = TASK.load_splits(cfg)
    assert splits.meta["labels"] == ["1", "2", "10"]


def test_title_and_body_are_joined():
    df = pd.DataFrame({"title": ["Refund", "Late"], "body": ["charged twice", "parcel lost"], "category": ["b", "s"]})
    texts, labels, _ = TASK.extract(df, ["title", "body"], "category")
    assert texts == ["Refund\ncharged twice", "Late\nparcel lost"]
    assert labels == ["b", "s"]


def test_inspect_summary(sample_csv):
    df = data.read_table(sample_csv).df
    info = TASK.inspect(df, RunConfig())
    assert info["rows"] == 90
    assert info["text_columns"] == ["text"] and info["label_column"] == "label"
    assert info["label_counts"] == {"billing": 30, "shipping": 30, "technical": 30}
    assert info["length_chars"]["min"] <= info["length_chars"]["median"] <= info["length_chars"]["max"]
    assert any("Only 90 rows" in w for w in info["warnings"])


def test_inspect_warns_about_duplicates_and_conflicts():
    rows = [("same text", "a"), ("same text", "a"), ("same text", "b")] + [(f"text {i}", "ab"[i % 2]) for i in range(10)]
    warnings = TASK.inspect(frame(rows), RunConfig())["warnings"]
    assert any(w.startswith("1 duplicate rows") for w in warnings), warnings
    assert any(w.startswith("1 texts appear with different labels") for w in warnings), warnings


def test_validation_file_with_unseen_label(tmp_path, sample_csv):
    val = write(tmp_path, "val.csv", csv_text([("refund please", "billing"), ("where is it", "shipping"),
                                               ("I want a new plan", "sales")]))
    cfg = RunConfig.from_dict({"data": {"train_file": str(sample_csv), "validation_file": str(val)}})
    with pytest.raises(DataError) as info:
        TASK.load_splits(cfg)
    assert_clean(info.value, tmp_path)
    assert "of the validation file" in str(info.value)
    assert "row 3 (the label 'sales' never occurs in the training file)" in str(info.value)


def test_validation_file_is_used_as_given(tmp_path, sample_csv):
    vrows = [("refund please", "billing"), ("where is my parcel", "shipping")]
    val = write(tmp_path, "val.csv", csv_text(vrows))
    splits = TASK.load_splits(RunConfig.from_dict({"data": {"train_file": str(sample_csv), "validation_file": str(val)}}))
    assert len(splits.train["text"]) == 90
    assert splits.validation["text"] == ["refund please", "where is my parcel"]
    names = splits.meta["labels"]
    assert [names[i] for i in splits.validation["label"]] == ["billing", "shipping"]


def test_load_splits_holds_out_a_stratified_share(sample_csv):
    cfg = RunConfig.from_dict({"data": {"train_file": str(sample_csv), "validation_fraction": 0.2}})
    splits = TASK.load_splits(cfg)
    assert len(splits.train["text"]) == 72 and len(splits.validation["text"]) == 18
    assert sorted(splits.validation["label"]) == [0] * 6 + [1] * 6 + [2] * 6
    assert not set(splits.train["text"]) & set(splits.validation["text"])
    assert splits.meta == {"task": "classification", "labels": ["billing", "shipping", "technical"],
                           "text_columns": ["text"], "label_column": "label"}


# ---- stratified split ------------------------------------------------------------------------------
def test_stratified_split_keeps_every_label_in_both_splits():
    labels = ["a"] * 50 + ["b"] * 7 + ["c"] * 2 + ["d"] * 3
    train, val = data.stratified_split(labels, 0.1, seed=1)
    assert sorted(train + val) == list(range(len(labels)))
    assert not set(train) & set(val)
    assert {labels[i] for i in train} == {"a", "b", "c", "d"}
    assert {labels[i] for i in val} == {"a", "b", "c", "d"}
    assert sum(labels[i] == "a" for i in val) == 5


def test_stratified_split_single_row_label_stays_in_train():
    labels = ["a"] * 10 + ["b"]
    train, val = data.stratified_split(labels, 0.2, seed=0)
    assert 10 in train and 10 not in val


def test_stratified_split_is_deterministic_per_seed():
    labels = [str(i % 3) for i in range(300)]
    assert data.stratified_split(labels, 0.2, 7) == data.stratified_split(labels, 0.2, 7)
    assert data.stratified_split(labels, 0.2, 7) != data.stratified_split(labels, 0.2, 8)


# ---- real shared datasets --------------------------------------------------------------------------
def test_sst2_dev(shared_datasets):
    path = shared_datasets / "sst2" / "dev.tsv"
    if not path.is_file():
        pytest.skip("sst2/dev.tsv is not present in ../shared/datasets")
    table = data.read_table(path)
    assert list(table.df.columns) == ["label", "content"]
    assert len(table.df) == 872
    assert TASK.propose(table.df) == {"text_columns": ["content"], "label_column": "label"}
    info = TASK.inspect(table.df, RunConfig())
    assert info["label_counts"] == {"1": 444, "0": 428}


def test_sst2_train_crlf(shared_datasets):
    path = shared_datasets / "sst2" / "train.tsv"
    if not path.is_file():
        pytest.skip("sst2/train.tsv is not present in ../shared/datasets")
    assert b"\r\n" in path.read_bytes()[:4096], "expected the CRLF file described in the README"
    table = data.read_table(path)
    assert list(table.df.columns) == ["label", "sentence"]
    assert len(table.df) == 67_349
    assert not table.df["sentence"].str.contains("\r").any()
    assert set(table.df["label"]) == {"0", "1"}
    assert TASK.propose(table.df) == {"text_columns": ["sentence"], "label_column": "label"}


def test_sms_spam(shared_datasets):
    path = shared_datasets / "sms_spam" / "SMSSpamCollection"
    if not path.is_file():
        pytest.skip("sms_spam/SMSSpamCollection is not present in ../shared/datasets")
    table = data.read_table(path)
    assert table.format == "tsv"
    assert list(table.df.columns) == ["Label", "SMS"]
    assert len(table.df) == 5_574
    assert TASK.propose(table.df) == {"text_columns": ["SMS"], "label_column": "Label"}
    info = TASK.inspect(table.df, RunConfig())
    assert info["label_counts"] == {"ham": 4_827, "spam": 747}
    # Messages that begin with a double quote are text, not CSV quoting.
    assert table.df["SMS"].str.startswith('"').any()


def test_assert_clean_catches_bad_messages():
    for bad in ("Two sentences. Here is the second.", "Path /tmp/x/y.csv failed.", "Traceback (most recent call last):",
                "no full stop", "line one.\nline two."):
        with pytest.raises(AssertionError):
            assert_clean(DataError(bad))
    assert_clean(DataError("Row 3 of the training file: the label ('y') is empty; fill it in (e.g. 'spam')."))


def test_bitext_multiline_csv(shared_datasets):
    path = shared_datasets / "bitext_support" / "Bitext_Sample_Customer_Support_Training_Dataset.csv"
    if not path.is_file():
        pytest.skip("the bitext_support CSV is not present in ../shared/datasets")
    table = data.read_table(path)
    assert len(table.df) == 4_514
    assert {"instruction", "intent", "category", "response"} <= set(table.df.columns)
    assert table.df["response"].str.contains("\n").mean() > 0.5
    assert table.df["intent"].nunique() == 27
    texts, labels, _ = TASK.extract(table.df, ["instruction"], "intent")
    assert len(texts) == 4_514 and "cancel_order" in labels


def test_validation_share_is_capped_for_large_sets():
    cfg = RunConfig().data
    assert data.held_out_share(cfg, 500) == pytest.approx(0.1)  # small sets: the fraction
    labels = ["pos"] * 40_000 + ["neg"] * 27_349
    train, val = data.stratified_split(labels, data.held_out_share(cfg, len(labels)), seed=0)
    assert abs(len(val) - 2000) <= 2 and len(train) + len(val) == len(labels)
    assert sum(labels[i] == "neg" for i in val) == pytest.approx(2000 * 27_349 / 67_349, abs=2)  # still stratified
    cfg.validation_max_rows = 0  # no cap
    assert data.held_out_share(cfg, 67_349) == pytest.approx(0.1)
