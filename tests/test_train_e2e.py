"""End to end through the real child process: create_run -> JobManager.submit (accelerate launch) -> adapter.

A tiny BERT built in-process keeps each run to a few seconds of training; the child's start-up (accelerate
launch + imports) dominates, so the module trains once and shares that run across the checks.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from apphelpers import train_through_launcher
from tuner import jobs, runs
from tuner.config import RunConfig

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
LABELS = ["billing", "shipping", "technical"]
TEXTS = [
    "I was charged twice for my premium subscription",
    "The courier left my parcel at the wrong address",
    "The app crashes on Android when I open settings",
    "refund",
    "",
    "tracking number shows nothing, where is my order? " * 10,
]
RUN_TIMEOUT = 300


def tiny_config(tiny_model_dir, train_file, **train) -> RunConfig:
    return RunConfig.from_dict({
        "name": "tiny e2e",
        "data": {"train_file": str(train_file), "validation_fraction": 0.2},
        "model": {"name": str(tiny_model_dir), "max_length": 32},
        "adapter": {"r": 8, "alpha": 16},
        "train": {"epochs": 3, "batch_size": 8, "evals": 1, "learning_rate": 5e-3, "precision": "fp32", **train},
    })


def log_tail(run) -> str:
    try:
        return run.log_path.read_text(encoding="utf-8", errors="replace")[-4000:]
    except OSError:
        return "(no train.log)"


@pytest.fixture(scope="module")
def e2e_root(tmp_path_factory, sample_csv_factory):
    root = tmp_path_factory.mktemp("e2e")
    (root / "runs").mkdir()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TUNER_RUNS_DIR", str(root / "runs"))
        yield root, sample_csv_factory(root / "tickets.csv")


@pytest.fixture(scope="module")
def trained_run(e2e_root, tiny_model_dir):
    root, csv_path = e2e_root
    return train_through_launcher(tiny_config(tiny_model_dir, csv_path), RUN_TIMEOUT)


# ---- the shared run --------------------------------------------------------------------------------
def test_run_completes(trained_run):
    status = trained_run.status()
    assert status["state"] == "completed", f"{status}\n{log_tail(trained_run)}"
    assert status["message"].startswith("Finished")
    assert status["pid"] and status["launcher_pid"] and status["ended"] >= status["started"]
    assert not trained_run.stop_path.exists()
    assert trained_run in runs.list_runs()  # listing does not turn a finished run into 'interrupted'
    assert trained_run.state == "completed"
    report = trained_run.metrics()
    assert report["classical"]["name"].startswith("TF-IDF") and 0 <= report["classical"]["accuracy"] <= 1
    verdict = report["verdict"]
    assert verdict["level"] in ("good", "weak", "bad") and verdict["sentence"] in status["message"]
    assert status["verdict"] == verdict["level"] and verdict["sentence_zh"]


def test_events(trained_run):
    events = trained_run.events()
    kinds = [e["type"] for e in events]
    # Before the first step the run says what it is doing: the launcher starts, the child reads, tokenizes, fits
    # the classical baseline, loads the model; then the Trainer's start event.
    phases = [e["phase"] for i, e in enumerate(events[:kinds.index("start")])
              if i == 0 or events[i - 1].get("phase") != e["phase"]]  # tokenizing counts repeat their phase
    assert phases == ["queued", "starting", "reading", "tokenizing", "baseline", "loading", "training"], phases
    assert kinds[-1] == "status"
    after = [e["phase"] for e in events[kinds.index("start"):] if e["type"] == "phase" and not e.get("training_eval")]
    assert after == ["saving", "evaluating"], after
    start = events[kinds.index("start")]
    # 72 training rows / batch 8 = 9 steps per epoch x 3 epochs.
    assert start["total_steps"] == 27
    assert start["train_rows"] == 72 and start["validation_rows"] == 18
    assert start["device"] == "cpu" and start["precision"] == "fp32"
    assert 0 < start["trainable_params"] < start["total_params"]
    train = [e for e in events if e["type"] == "train"]
    assert train, "no training loss was logged"
    assert all(math.isfinite(e["loss"]) and e["loss"] > 0 for e in train)
    steps = [e["step"] for e in train]
    assert steps == sorted(steps) and steps[-1] <= 27
    evals = [e for e in events if e["type"] == "eval"]
    assert evals, "no evaluation was logged"
    for e in evals:
        assert math.isfinite(e["loss"]) and 0.0 <= e["accuracy"] <= 1.0 and "macro_f1" in e
    assert events[-1]["state"] == "completed"


def test_metrics_report(trained_run):
    report = trained_run.metrics()
    assert report is not None, log_tail(trained_run)
    assert "evaluation_error" not in report
    for key in ("accuracy", "macro_f1", "precision", "recall", "eval_loss"):
        assert math.isfinite(report[key]), key
    assert 0.0 <= report["accuracy"] <= 1.0
    assert report["labels"] == LABELS and report["n_examples"] == 18
    assert [row["support"] for row in report["per_label"]] == [6, 6, 6]
    matrix = report["confusion_matrix"]
    assert sum(map(sum, matrix)) == 18 and [sum(r) for r in matrix] == [6, 6, 6]
    assert report["accuracy"] == pytest.approx(sum(matrix[i][i] for i in range(3)) / 18)
    assert report["baseline"]["accuracy"] == pytest.approx(6 / 18)
    assert report["steps"] == 27 and report["stopped"] is False
    assert report["train_precision"] == "fp32"


def test_adapter_folder(trained_run):
    adapter = trained_run.adapter_dir
    assert (adapter / "adapter_model.safetensors").is_file()
    assert (adapter / "adapter_config.json").is_file()
    pickles = [p.name for p in adapter.rglob("*") if p.suffix in (".bin", ".pt", ".pth", ".pkl", ".ckpt")]
    assert pickles == []
    assert not (trained_run.path / "adapter.tmp").exists()
    meta = trained_run.meta()
    assert meta["labels"] == LABELS and meta["task"] == "classification"
    assert meta["text_columns"] == ["text"] and meta["label_column"] == "label"
    assert meta["max_length"] == 32
    config = json.loads((adapter / "adapter_config.json").read_text())
    assert config["peft_type"] == "LORA" and config["r"] == 8
    assert not any("pooler" in m for m in config["target_modules"])


def test_reloaded_adapter_matches_predictor(trained_run, tiny_model_dir):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from tuner.inference import Predictor

    base = AutoModelForSequenceClassification.from_pretrained(str(tiny_model_dir), num_labels=len(LABELS))
    model = PeftModel.from_pretrained(base, str(trained_run.adapter_dir)).eval()
    tok = AutoTokenizer.from_pretrained(str(trained_run.adapter_dir))
    with torch.inference_mode():
        enc = tok(TEXTS, truncation=True, max_length=32, padding=True, return_tensors="pt")
        probs = torch.softmax(model(**enc).logits, dim=-1)
    expected = [LABELS[i] for i in probs.argmax(-1).tolist()]

    predictor = Predictor(trained_run)
    got = predictor.predict(TEXTS)
    assert [next(iter(p)) for p in got] == expected
    for row, p in zip(probs.tolist(), got):
        assert [p[name] for name in LABELS] == pytest.approx(row, abs=1e-5)
    assert predictor.labels == LABELS
    assert predictor.predict_one("my card was billed twice") == predictor.predict(["my card was billed twice"])[0]


def test_predictor_on_files(trained_run, e2e_root, tmp_path):
    from tuner.inference import get_predictor

    _, csv_path = e2e_root
    predictor = get_predictor(trained_run)
    assert get_predictor(trained_run) is predictor  # loaded once, then cached
    out = tmp_path / "pred.csv"
    info = predictor.predict_file(csv_path, out)
    assert info["rows"] == 90 and sum(info["label_counts"].values()) == 90
    import pandas as pd

    df = pd.read_csv(out)
    assert set(df["predicted_label"]) <= set(LABELS)
    assert df["confidence"].between(1 / 3 - 1e-6, 1).all()
    report = predictor.evaluate_file(csv_path)
    assert report["n_examples"] == 90 and [r["support"] for r in report["per_label"]] == [30, 30, 30]


def test_eval_and_predict_leave_out_unusable_rows_with_a_count(trained_run, e2e_root, tmp_path):
    """The same forgiving rules as training: an empty text and a label the model never saw are left out of the
    evaluation and counted; prediction keeps the empty row's place with an empty prediction."""
    import pandas as pd

    from tuner.inference import get_predictor

    _, csv_path = e2e_root
    df = pd.read_csv(csv_path, dtype=str)
    extra = pd.DataFrame({"text": ["", "a brand new question"], "label": [df["label"][0], "warranty"]})
    path = tmp_path / "eval.csv"
    pd.concat([df, extra]).to_csv(path, index=False)
    predictor = get_predictor(trained_run)
    report = predictor.evaluate_file(path)
    assert report["n_examples"] == 90
    assert report["left_out"]["rows"] == 2 and report["left_out"]["of"] == 92
    assert "row 92 (the label 'warranty' never occurs in the model's training data)" in report["left_out"]["warning"]
    info = predictor.predict_file(path, tmp_path / "pred.csv")
    out = pd.read_csv(tmp_path / "pred.csv", dtype=str, keep_default_na=False)
    assert info["rows"] == 92 and info["left_out"]["rows"] == 1 and out["predicted_label"][90] == ""
    assert sum(info["label_counts"].values()) == 91


def test_predictor_refuses_runs_without_an_adapter(e2e_root, sample_csv):
    from tuner.errors import RunError
    from tuner.inference import Predictor

    run = runs.create_run(RunConfig.from_dict({"data": {"train_file": str(sample_csv)}}))
    with pytest.raises(RunError):
        Predictor(run)
    run.set_status(state="failed")
    with pytest.raises(RunError) as info:
        Predictor(run)
    assert "failed" in str(info.value)


# ---- stop ------------------------------------------------------------------------------------------
def test_stop_saves_the_adapter(e2e_root, tiny_model_dir):
    root, csv_path = e2e_root
    # 72 rows x 1000 epochs / batch 8 = 9,000 steps: far longer than the test waits.
    run = runs.create_run(tiny_config(tiny_model_dir, csv_path, epochs=1000, evals=0))
    manager = jobs.JobManager()
    manager.submit(run)
    try:
        deadline = time.time() + RUN_TIMEOUT
        while time.time() < deadline:
            stepped = any(e.get("type") in ("progress", "train") and e.get("step", 0) >= 1 for e in run.events())
            if run.state == "running" and stepped:
                break
            assert run.state in ("queued", "running"), f"{run.status()}\n{log_tail(run)}"
            time.sleep(0.2)
        else:
            pytest.fail(f"the run never logged a step\n{log_tail(run)}")
        assert manager.stop(run) == "stopping at the next step"
        code = manager.wait(run, timeout=120)
    finally:
        manager.kill(run)
    assert code == 0, log_tail(run)
    status = run.status()
    assert status["state"] == "stopped", f"{status}\n{log_tail(run)}"
    assert "Stopped by request" in status["message"]
    assert run.has_adapter() and (run.adapter_dir / "tuner_meta.json").is_file()
    report = run.metrics()
    assert report["stopped"] is True and 1 <= report["steps"] < 9000
    assert run.events()[-1]["state"] == "stopped"
    with pytest.raises(Exception):
        manager.stop(run)  # no longer training


def test_time_budget_ends_a_long_run_at_the_end_of_its_schedule(e2e_root, tiny_model_dir):
    root, csv_path = e2e_root
    # 9,000 planned steps against a 4-second budget: the child shortens its schedule instead of running on.
    cfg = tiny_config(tiny_model_dir, csv_path, epochs=1000, evals=2, max_minutes=4 / 60, logging_steps=5)
    run = train_through_launcher(cfg, RUN_TIMEOUT)
    assert run.status()["state"] == "completed", log_tail(run)
    events = run.events()
    budget = [e for e in events if e["type"] == "budget"]
    assert budget and budget[0]["planned_steps"] == 9000, log_tail(run)
    report = run.metrics()
    assert report["steps"] == budget[-1]["total_steps"] < 9000 and report["stopped"] is False
    assert report["train_seconds"] < 30  # the plan alone would take minutes; the budget is 4 s (+ the last evaluation)
    assert run.progress()["total_steps"] == report["steps"]
    lrs = [e["lr"] for e in events if e["type"] == "train" and e.get("lr") is not None]
    assert max(lrs) > 1e-3 and lrs[-1] < 0.2 * max(lrs)  # the decay ran to (near) its end, not cut off at the peak
    assert run.has_adapter() and "accuracy" in report
    assert report["verdict"]["reasons"][0].startswith(f"the time limit stopped training after {report['steps']:,} of 9,000")
    assert report["verdict"]["action"]["kind"] == "no_time_limit"


# ---- the command line ------------------------------------------------------------------------------
def cli(args, runs_root: Path, timeout=RUN_TIMEOUT):
    env = {**os.environ, "TUNER_RUNS_DIR": str(runs_root), "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "tuner", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)


def test_cli_train_then_predict(tiny_model_dir, tmp_path, sample_csv):
    runs_root = tmp_path / "cli-runs"
    out = cli(["train", "classification", "--name", "cli run",
               "--set", f"data.train_file={sample_csv}", "--set", f"model.name={tiny_model_dir}",
               "--set", "model.max_length=32", "--set", "train.epochs=1", "--set", "train.batch_size=16",
               "--set", "train.evals=0", "--set", "train.precision=fp32", "--set", "train.learning_rate=1e-3"],
              runs_root)
    folders = [p for p in runs_root.iterdir() if runs.RUN_ID.match(p.name)] if runs_root.is_dir() else []
    detail = f"stdout:\n{out.stdout[-2000:]}\nstderr:\n{out.stderr[-3000:]}"
    assert out.returncode == 0, detail
    assert len(folders) == 1, detail
    run = runs.Run(folders[0])
    assert run.state == "completed" and run.status()["name"] == "cli run"
    assert "completed:" in out.stderr
    assert "accuracy" in out.stdout and "baseline" in out.stdout
    assert run.config().train.epochs == 1.0 and run.config().model.max_length == 32

    pred = cli(["predict", run.id, "I was charged twice for my order", "the parcel never arrived"], runs_root,
               timeout=180)
    assert pred.returncode == 0, pred.stderr[-3000:]
    lines = pred.stdout.strip().splitlines()
    assert len(lines) == 2
    for line, text in zip(lines, ["I was charged twice for my order", "the parcel never arrived"]):
        label, prob, echoed = line.split("\t")
        assert label in LABELS
        assert 1 / 3 - 1e-4 <= float(prob) <= 1.0
        assert echoed == text


def test_cli_reports_errors_as_one_line(tmp_path):
    out = cli(["predict", "../etc", "hello"], tmp_path / "r", timeout=120)
    assert out.returncode == 2
    assert out.stderr.strip().startswith("error: ") and "Traceback" not in out.stderr
    out = cli(["train", "no-such-recipe"], tmp_path / "r", timeout=120)
    assert out.returncode == 2 and "No recipe 'no-such-recipe'" in out.stderr and "Traceback" not in out.stderr
