"""Real files with a few broken rows: left out with one counted warning, refused only when the rest is not what the
person meant (tuner.skipped), by the same rules in every reader; and the Data tab's defects an adversarial probe
found (a long header, control characters, nested values, unseen validation labels, the server's file name)."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import pandas as pd
import pytest

from tuner import data
from tuner.config import RunConfig
from tuner.errors import DataError
from tuner.tasks import get_task

TASK = get_task("classification")
INTENTS = ["cancel_order", "track_order", "refund", "change_address", "payment_issue"]


def intent_lines(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    words = ["please", "my", "order", "help", "now", "the", "parcel", "money", "account", "today", "again"]
    return [f"{' '.join(rng.choice(words) for _ in range(6))} {i},{INTENTS[i % len(INTENTS)]}" for i in range(n)]


def broken_file(path: Path, n: int = 2000, broken_at=(1290, 1500, 1800)) -> Path:
    """An intent CSV with 3 records broken over two lines (text, no label / a label, no text) and blank lines."""
    lines = intent_lines(n)
    for k, at in enumerate(sorted(broken_at, reverse=True)):
        text, label = lines[at].rsplit(",", 1)
        lines[at:at + 1] = [text, f",{label}"]
    lines.insert(10, "")
    lines.insert(500, "   ")
    path.write_text("text,category\n" + "\n".join(lines) + "\n\n\n", encoding="utf-8")
    return path


def one_sentence(msg: str) -> None:
    assert "\n" not in msg and "Traceback" not in msg and "/tmp" not in msg, msg


# ---- forgive, count, show --------------------------------------------------------------------------------------
def test_three_broken_records_are_left_out_with_one_counted_warning(tmp_path):
    table = data.read_table(broken_file(tmp_path / "intents.csv"))
    texts, labels, skipped = TASK.extract(table.df, ["text"], "category")
    assert len(texts) == 2000 - 3 and len(skipped) == 6  # each broken record is two unusable rows
    assert all(lab in INTENTS for lab in labels)
    [warning] = skipped.warnings()
    one_sentence(warning)
    # Rows as a spreadsheet counts them below the header (blank lines are not rows); the first three are named.
    assert warning.startswith("Left out 6 of 2,003 rows of the training file that cannot be used: row 1,291 "
                              "(the label ('category') is empty); row 1,292 (the text (text) is empty); row 1,502 "), warning
    assert "and 3 more" in warning and "blank" not in warning
    listed = Path(data_csv := tmp_path / "left.csv")
    from tuner.skipped import write_lists

    write_lists([skipped], data_csv)
    rows = list(csv.DictReader(listed.open()))
    assert len(rows) == 6 and rows[0] == {"file": "training file", "where": "row 1,291", "reason": "the label ('category') is empty"}


def test_more_than_a_tenth_unusable_refuses_the_file_saying_how_many_and_which(tmp_path):
    lines = intent_lines(100)
    for i in range(0, 100, 8):  # 13 of 100 rows lose their label
        lines[i] = lines[i].rsplit(",", 1)[0] + ","
    path = tmp_path / "bad.csv"
    path.write_text("text,category\n" + "\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DataError) as info:
        TASK.extract(data.read_table(path).df, ["text"], "category")
    msg = str(info.value)
    one_sentence(msg)
    assert msg.startswith("13 of the 100 rows of the training file (13%) cannot be used, more than the 10%"), msg
    assert "row 1 (the label ('category') is empty); row 9 " in msg and "and 10 more" in msg
    assert info.value.zh.startswith("训练文件的 100 行中有 13 行（13%）无法使用") and "第 1 行（标签（“category”）为空）" in info.value.zh
    assert info.value.skipped.rows[-1][0] == "row 97"  # the full list travels with the refusal (the page offers it)


def test_strict_checking_refuses_a_single_unusable_row(tmp_path):
    table = data.read_table(broken_file(tmp_path / "intents.csv", n=300, broken_at=(100,)))
    assert len(TASK.extract(table.df, ["text"], "category")[0]) == 299
    with pytest.raises(DataError, match=r"^2 rows of the training file cannot be used and strict checking is on: row 101 "):
        TASK.extract(table.df, ["text"], "category", strict=True)
    cfg = RunConfig.from_dict({"data": {"train_file": str(tmp_path / "intents.csv"), "strict": True}})
    with pytest.raises(DataError, match="strict checking is on"):
        TASK.load_splits(cfg)


def test_records_with_extra_fields_are_left_out_and_rows_keep_their_numbers(tmp_path):
    lines = intent_lines(60)
    lines[20] = "an unquoted, comma in the text,refund"
    path = tmp_path / "commas.csv"
    path.write_text("text,category\n" + "\n".join(lines) + "\n", encoding="utf-8")
    df = data.read_table(path).df
    texts, labels, skipped = TASK.extract(df, ["text"], "category")
    assert len(texts) == 59
    assert skipped.rows[0][0] == "row 21" and "3 fields where the header has 2" in skipped.rows[0][1].en
    assert data.row_name(df, 20) == "row 22"  # the row after the left-out one keeps its spreadsheet number


def test_json_lines_with_a_broken_line_and_a_non_object(tmp_path):
    recs = [json.dumps({"text": f"text number {i}", "label": INTENTS[i % 2]}) for i in range(40)]
    recs[5] = '{"text": "broken", label: "x"}'
    recs[9] = "[1, 2]"
    path = tmp_path / "d.jsonl"
    path.write_text("\n".join(recs) + "\n", encoding="utf-8")
    df = data.read_table(path).df
    texts, _, skipped = TASK.extract(df, ["text"], "label")
    assert len(texts) == 38
    assert [w for w, _ in skipped.rows] == ["line 6", "line 10"]
    assert data.row_name(df, 5) == "line 7"


def test_validation_rows_with_unseen_labels_are_left_out(tmp_path, sample_csv):
    rows = [("refund please", "billing"), ("where is it", "shipping")] * 10 + [("I want a new plan", "sales")]
    val = tmp_path / "val.csv"
    pd.DataFrame(rows, columns=["text", "label"]).to_csv(val, index=False)
    splits = TASK.load_splits(RunConfig.from_dict({"data": {"train_file": str(sample_csv), "validation_file": str(val)}}))
    assert len(splits.validation["text"]) == 20
    assert any("row 21 (the label 'sales' never occurs in the training file)" in w for w in splits.warnings)
    assert splits.skipped and splits.skipped[0].source == "validation file"


def test_chat_and_entity_readers_follow_the_same_rules(tmp_path):
    chat = get_task("chat")
    rows = [{"prompt": f"question {i}", "response": f"answer {i}"} for i in range(30)] + [{"prompt": "q", "response": ""}]
    path = tmp_path / "pairs.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    lists: list = []
    cfg = RunConfig.from_dict({"task": "chat", "chat": {"shape": "pairs"}})
    convs = chat.conversations(chat.read(path).df, cfg, skipped_out=lists)[3]
    assert len(convs) == 30 and lists[0].rows[0][0] == "line 31"
    ner = get_task("ner")
    good = "EU B-ORG\nrejects O\n\n" * 20
    conll = tmp_path / "d.conll"
    conll.write_text(good + "Peter B-PER extra\n\n", encoding="utf-8")
    with pytest.raises(DataError):  # a whole-file shape problem (columns differ) is still refused
        ner.extract(ner.read(conll).df, ["tokens"], "tags")


# ---- the Data tab's defects ------------------------------------------------------------------------------------
def test_a_header_over_64_kb_is_read_whole(tmp_path):
    cols = [f"c{i}" for i in range(12_000)]  # > 64 KB of header
    path = tmp_path / "wide.csv"
    path.write_text(",".join(cols) + "\n" + ",".join("x" for _ in cols) + "\n", encoding="utf-8")
    df = data.read_table(path).df
    assert list(df.columns) == cols


def test_text_with_control_characters_is_read_with_them_removed(tmp_path):
    lines = [f"\x1b[31mred\x1b[0m text {i}\x0b,{INTENTS[i % 2]}" for i in range(200)]
    path = tmp_path / "ctl.csv"
    path.write_text("text,label\n" + "\n".join(lines) + "\n", encoding="utf-8")
    table = data.read_table(path)
    assert table.df["text"][0] == "red text 0"
    assert any("control characters" in w for w in table.warnings)


def test_binary_files_are_still_refused(tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes(bytes(range(256)) * 50)
    with pytest.raises(DataError, match="binary"):
        data.read_table(path)


def test_nested_objects_become_columns_and_list_columns_are_not_trained_on_as_text(tmp_path):
    recs = [{"text": f"t {i}", "label": INTENTS[i % 2], "meta": {"source": "web", "lang": "en"}, "tags": ["a", "b"]}
            for i in range(20)]
    path = tmp_path / "n.json"
    path.write_text(json.dumps(recs), encoding="utf-8")
    df = data.read_table(path).df
    assert {"meta.source", "meta.lang"} <= set(df.columns) and df["meta.source"][0] == "web"
    with pytest.raises(DataError, match=r"^Column 'tags' of the training file holds lists or objects, not text"):
        TASK.extract(df, ["tags"], "label")


def test_errors_name_the_persons_file_not_the_servers_copy(tmp_path, runs_dir):
    src = tmp_path / "My Reviews (2024).csv"
    src.write_bytes(b"PK\x03\x04" + b"\x00" * 100)  # an Excel file renamed .csv
    stored = data.store_upload(src, "train")
    assert stored.name == "train.csv"
    with pytest.raises(DataError) as info:
        data.read_table(stored)
    assert "'My Reviews (2024).csv'" in str(info.value) and "train.csv" not in str(info.value)


def test_data_tab_shows_what_it_could_read_when_it_refuses(tmp_path, runs_dir):
    pytest.importorskip("gradio")
    from tuner.ui.data_tab import inspect_files

    lines = intent_lines(40)
    for i in range(0, 40, 3):
        lines[i] = lines[i].rsplit(",", 1)[0] + ","
    path = tmp_path / "refused.csv"
    path.write_text("text,category\n" + "\n".join(lines) + "\n", encoding="utf-8")
    state, columns, info, summary, preview, counts, listed, problem = inspect_files(str(path), None, "classification", None, None, True)
    assert problem.startswith("14 of the 40 rows") and info is None
    assert columns == ["text", "category"] and len(preview) == 8  # the person can still see the file
    assert state["error"] == problem and state["label_column"] == "category"
    assert listed and Path(listed).read_text().count("\n") == 15  # header + 14 rows

    from tuner.ui.train_tab import build_config

    with pytest.raises(DataError, match=r"^Fix the training data on the Data tab first: 14 of the 40 rows"):
        build_config(state, "classification", "default", [], [])


def test_data_tab_checks_the_validation_file_by_the_same_rules(tmp_path, runs_dir, sample_csv):
    pytest.importorskip("gradio")
    from tuner.ui.data_tab import inspect_files

    val = tmp_path / "val.csv"
    pd.DataFrame([("refund please", "billing")] * 30 + [("new plan", "sales")], columns=["text", "label"]).to_csv(val, index=False)
    state, _, info, summary, *_, listed, problem = inspect_files(str(sample_csv), str(val), "classification", None, None, True)
    assert problem == "" and "separate file, 30 rows" in summary
    assert "row 31 (the label 'sales' never occurs in the training file)" in summary  # quotes not &#x27;
    bad = tmp_path / "val_bad.csv"
    pd.DataFrame([("x", "sales")] * 5 + [("y", "billing")] * 5, columns=["text", "label"]).to_csv(bad, index=False)
    *_, problem = inspect_files(str(sample_csv), str(bad), "classification", None, None, True)
    assert problem.startswith("5 of the 10 rows of the validation file (50%) cannot be used"), problem
