"""Entity tagging end to end: a tiny run through the real child process (accelerate launch), the saved adapter
and report, prediction and evaluation through the Predictor and the CLI, and the Try-it tagger demo and the
Data tab driven through `gradio_client` against a real `python app.py`."""

from __future__ import annotations

import json
import math
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from apphelpers import running_app, train_through_launcher
from tuner.config import RunConfig

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
RUN_TIMEOUT = 300
TYPES = ["LOC", "ORG", "PER"]
PEOPLE = [["Angela", "Merkel"], ["Tim", "Cook"], ["Maria"], ["John", "Smith"], ["Yuki", "Tanaka"]]
PLACES = [["Berlin"], ["Paris"], ["New", "York"], ["Osaka"], ["Lyon"]]
ORGS = [["Siemens"], ["Acme", "Corp"], ["the", "United", "Nations"], ["IBM"]]
TEMPLATES = [
    ["{PER}", "visited", "{LOC}", "on", "Monday", "."],
    ["{PER}", "joined", "{ORG}", "in", "{LOC}", "."],
    ["Shares", "of", "{ORG}", "rose", "after", "{PER}", "spoke", "."],
    ["the", "weather", "in", "{LOC}", "was", "mild", "."],
]


def synthetic_conll(n: int, seed: int, scheme: str = "BIO") -> str:
    """n tagged sentences in CoNLL form (token tag per line), tags in BIO or BIOES."""
    rng = random.Random(seed)
    pools = {"PER": PEOPLE, "LOC": PLACES, "ORG": ORGS}
    lines = ["-DOCSTART- O", ""]
    for i in range(n):
        for slot in TEMPLATES[i % len(TEMPLATES)]:
            if slot.startswith("{"):
                t = slot[1:-1]
                words = rng.choice(pools[t])
                for k, w in enumerate(words):
                    if scheme == "BIOES":
                        tag = ("S-" if len(words) == 1 else "B-" if k == 0 else "E-" if k == len(words) - 1 else "I-") + t
                    else:
                        tag = ("B-" if k == 0 else "I-") + t
                    lines.append(f"{w} {tag}")
            else:
                lines.append(f"{slot} O")
        lines.append("")
    return "\n".join(lines) + "\n"


def log_tail(run) -> str:
    try:
        return run.log_path.read_text(encoding="utf-8", errors="replace")[-4000:]
    except OSError:
        return "(no train.log)"


@pytest.fixture(scope="module")
def ner_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("ner-e2e")
    (root / "runs").mkdir()
    (root / "train.conll").write_text(synthetic_conll(64, 0, "BIOES"), encoding="utf-8")
    (root / "valid.conll").write_text(synthetic_conll(16, 1, "BIO"), encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TUNER_RUNS_DIR", str(root / "runs"))
        yield root


@pytest.fixture(scope="module")
def ner_run(ner_root, tiny_model_dir):
    cfg = RunConfig.from_dict({
        "task": "ner", "name": "tiny ner",
        "data": {"train_file": str(ner_root / "train.conll"), "validation_file": str(ner_root / "valid.conll")},
        "model": {"name": str(tiny_model_dir), "max_length": 32},
        "adapter": {"r": 8, "alpha": 16},
        # 64 sentences / batch 8 = 8 steps per epoch x 3 epochs = 24 steps
        "train": {"epochs": 3, "batch_size": 8, "evals": 1, "learning_rate": 5e-3, "precision": "fp32"},
    })
    return train_through_launcher(cfg, RUN_TIMEOUT)


def test_run_completes_with_an_entity_report(ner_run):
    assert ner_run.status()["state"] == "completed", f"{ner_run.status()}\n{log_tail(ner_run)}"
    events = ner_run.events()
    start = next(e for e in events if e["type"] == "start")
    assert start["total_steps"] == 24 and start["train_rows"] == 64 and start["validation_rows"] == 16
    evals = [e for e in events if e["type"] == "eval"]
    assert evals and all(0.0 <= e["f1"] <= 1.0 and 0.0 <= e["accuracy"] <= 1.0 for e in evals)
    report = ner_run.metrics()
    assert report and "evaluation_error" not in report, log_tail(ner_run)
    for key in ("f1", "micro_f1", "macro_f1", "precision", "recall", "accuracy"):
        assert 0.0 <= report[key] <= 1.0 and math.isfinite(report[key]), key
    assert report["f1"] == report["micro_f1"]
    assert [row["label"] for row in report["per_label"]] == TYPES
    # 16 validation sentences = 4 rounds of TEMPLATES: 3 PER + 3 LOC + 2 ORG per round
    assert [row["support"] for row in report["per_label"]] == [12, 8, 12] and report["n_entities"] == 32
    matrix = report["confusion_matrix"]
    assert report["labels"] == TYPES + ["O"] and len(matrix) == 4 and all(len(r) == 4 for r in matrix)
    assert sum(map(sum, matrix)) == report["n_tokens"]
    assert report["baseline"]["name"].startswith("dictionary") and report["baseline"]["f1"] > 0.5
    assert report["n_examples"] == 16 and report["steps"] == 24


def test_adapter_keeps_the_label_names(ner_run):
    adapter = ner_run.adapter_dir
    assert (adapter / "adapter_model.safetensors").is_file()
    assert not [p for p in adapter.rglob("*") if p.suffix in (".bin", ".pt", ".pth", ".pkl", ".ckpt")]
    meta = ner_run.meta()
    assert meta["task"] == "ner" and meta["types"] == TYPES and meta["scheme"] == "BIOES"
    assert meta["labels"] == ["O", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-PER", "I-PER"]
    assert meta["case_feature"] is True and meta["text_columns"] == ["tokens"] and meta["label_column"] == "tags"
    config = json.loads((adapter / "adapter_config.json").read_text())
    assert config["task_type"] == "TOKEN_CLS" and "classifier" in (config["modules_to_save"] or [])


def test_predictor_tags_text_files_and_scores_like_training(ner_run, ner_root, tmp_path):
    from tuner.inference import get_predictor

    predictor = get_predictor(ner_run)
    text = "Angela Merkel visited Paris on Monday ."
    result = predictor.predict([text])[0]
    assert result["tokens"] == text.split() and len(result["tags"]) == 7
    for e in result["entities"]:
        assert text[e["start"]:e["end"]] == e["text"] and e["label"] in TYPES and 0.0 <= e["score"] <= 1.0
    # The CLI's `eval` path scores the validation file exactly as the training report did.
    report = predictor.evaluate_file(ner_root / "valid.conll")
    assert report["f1"] == pytest.approx(ner_run.metrics()["f1"]) and report["n_examples"] == 16
    assert report["baseline"]["name"].startswith("dictionary")  # rebuilt from the run's own training file
    # A plain text file: one text per line -> JSON Lines with character spans.
    texts = tmp_path / "texts.txt"
    texts.write_text("John Smith joined IBM in Osaka .\n\nthe weather in Lyon was mild .\n", encoding="utf-8")
    out = tmp_path / "tags.jsonl"
    info = predictor.predict_file(texts, out)
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert info["rows"] == 2 and len(rows) == 2 and rows[1]["text"] == "the weather in Lyon was mild ."
    assert sum(info["label_counts"].values()) == sum(len(r["entities"]) for r in rows)
    # A CoNLL file: its tokens are kept as given (tags in it are ignored).
    out2 = tmp_path / "conll.jsonl"
    assert predictor.predict_file(ner_root / "valid.conll", out2)["rows"] == 16
    first = json.loads(out2.read_text(encoding="utf-8").splitlines()[0])
    assert first["text"] == " ".join(first["tokens"]) and len(first["tags"]) == len(first["tokens"])


def cli(args, runs_root: Path, timeout=180):
    env = {**os.environ, "TUNER_RUNS_DIR": str(runs_root), "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "tuner", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)


def test_cli_predict_prints_the_spans(ner_run, ner_root):
    text = "Tim Cook visited Berlin on Monday ."
    out = cli(["predict", ner_run.id, text, "--all"], ner_root / "runs")
    assert out.returncode == 0, out.stderr[-3000:]
    printed, _, dumped = out.stdout.partition("\n{\n")  # the spans, then (--all) the full result as JSON
    lines = printed.splitlines()
    assert lines[0] == text
    span_lines = lines[1:]
    assert span_lines and all(ln.startswith("  ") for ln in span_lines), out.stdout
    payload = json.loads("{\n" + dumped)
    assert len(span_lines) == max(1, len(payload["entities"]))
    for ln, e in zip(span_lines, payload["entities"]):
        m = re.fullmatch(r"  (\d+)-(\d+)\t(\w+)\t([01]\.\d{4})\t(.+)", ln)
        assert m, ln
        assert text[int(m[1]):int(m[2])] == m[5] == e["text"] and m[3] == e["label"]


# ---- the page -----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ner_app(ner_root, ner_run, tiny_model_dir):
    pytest.importorskip("gradio_client")
    env = {"TUNER_RUNS_DIR": str(ner_root / "runs"), "TUNER_MODEL_DIRS": str(tiny_model_dir.parent)}
    with running_app(ner_root / "app.log", env, timeout=120) as (url, _proc):
        yield url


def test_tagger_demo_through_gradio_client(ner_app, ner_run, tmp_path):
    from gradio_client import Client, handle_file

    client = Client(ner_app, verbose=False)
    note = client.predict(ner_run.id, api_name="/try_demo")  # (the two layout columns are not sent)
    assert note == "Entity tagger · types: LOC, ORG, PER"

    text = "Angela Merkel joined Siemens in Osaka ."
    marked, table = client.predict(ner_run.id, text, api_name="/tag")
    pieces = marked if isinstance(marked, list) else marked["value"]
    assert "".join(p["token"] for p in pieces) == text  # the highlighted pieces cover the text exactly
    categories = [p["class_or_confidence"] for p in pieces if p["class_or_confidence"]]
    rows = table["data"]
    assert len(categories) == len(rows)
    for cat, (ent, typ, conf, start, end) in zip(categories, rows):
        assert cat == f"{typ} {conf:.2f}" and typ in TYPES and text[int(start):int(end)] == ent

    texts = tmp_path / "batch.txt"
    texts.write_text("Maria visited Lyon on Monday .\nShares of IBM rose after Tim Cook spoke .\n", encoding="utf-8")
    out_path, msg = client.predict(ner_run.id, handle_file(str(texts)), api_name="/tag_file")
    rows = [json.loads(line) for line in Path(out_path).read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 2 and rows[0]["text"] == "Maria visited Lyon on Monday ." and "Tagged 2 rows" in msg
    assert out_path.endswith(".jsonl")

    with pytest.raises(Exception, match="entity tagger"):  # the classifier endpoint refuses a tagger run
        client.predict(ner_run.id, "hello", api_name="/classify")


def test_evaluate_tab_shows_the_entity_report(ner_app, ner_run):
    from gradio_client import Client

    client = Client(ner_app, verbose=False)
    summary, headline, per_label, confusion = client.predict(ner_run.id, api_name="/evaluation")
    metrics = {row[0]: row for row in headline["data"]}
    assert {"precision", "recall", "macro_f1", "accuracy"} <= set(metrics)
    assert metrics["precision"][1] == pytest.approx(round(ner_run.metrics()["precision"], 4))
    assert [row[0] for row in per_label["data"]] == TYPES


def test_data_tab_reads_conll_for_the_ner_task(ner_app, ner_root):
    from gradio_client import Client, handle_file

    client = Client(ner_app, verbose=False)
    text_cols, label_col, summary, preview, counts, _left_out, error = client.predict(
        handle_file(str(ner_root / "train.conll")), None, "ner", api_name="/upload")
    assert error == "", error
    assert "**64 rows**" in summary and "format conll" in summary
    assert text_cols["value"] == ["tokens"] and label_col["value"] == "tags"
    bars = dict(re.findall(r'data-label="([^"]*)" data-value="([^"]*)"', counts))  # tuner/ui/charts.py bars
    assert bars == {"LOC": "48", "PER": "48", "ORG": "32"}  # entities
