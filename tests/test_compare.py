"""Runs compared side by side: settings that differ, a metrics table, and the chosen metric per run for a chart."""

from __future__ import annotations

import json

import pytest

from tuner import runs
from tuner.config import RunConfig
from tuner.errors import RunError
from tuner.ui.runs_tab import COMPARE_METRICS, compare_runs, run_settings


def finished(sample_csv, name, metrics, **train):
    cfg = RunConfig.from_dict({"name": name, "data": {"train_file": str(sample_csv)}, "train": train})
    run = runs.create_run(cfg)
    run.set_status(state="completed")
    run.metrics_path.write_text(json.dumps(metrics))
    return run


def test_compare_shows_only_differing_settings_and_metrics(runs_dir, sample_csv):
    a = finished(sample_csv, "lr 1e-3", {"accuracy": 0.81, "macro_f1": 0.8, "eval_loss": 0.5}, learning_rate=1e-3)
    b = finished(sample_csv, "lr 5e-4 e2", {"accuracy": 0.9, "macro_f1": 0.88}, learning_rate=5e-4, epochs=2)
    c = finished(sample_csv, "no report", {})
    diff, table, chart = compare_runs([a, b, c], "accuracy")
    settings = dict(zip(diff["setting"], diff.to_dict("records")))
    assert set(settings) == {"name", "train.learning_rate", "train.epochs"}
    assert settings["train.learning_rate"][a.id] == "0.001" and settings["train.learning_rate"][b.id] == "0.0005"
    assert settings["train.epochs"][b.id] == "2.0"
    assert "data.train_file" not in settings, "the same upload in each run is not a difference"
    assert list(table["run"]) == [a.id, b.id, c.id]
    assert list(table["accuracy"])[:2] == [0.81, 0.9] and "perplexity" not in table.columns  # empty columns dropped
    assert list(chart.columns) == ["run", "accuracy"] and list(chart["accuracy"]) == [0.81, 0.9]  # no value, no bar
    _, _, loss_chart = compare_runs([a, b], "eval_loss")
    assert list(loss_chart["eval_loss"]) == [0.5]


def test_settings_show_upload_names_not_server_paths(runs_dir, sample_csv):
    run = finished(sample_csv, "x", {})
    flat = run_settings(run)
    assert flat["data.train_file"] == sample_csv.name and str(runs_dir) not in json.dumps(flat, default=str)


def test_compare_needs_two_runs_and_a_known_metric(runs_dir, sample_csv):
    a = finished(sample_csv, "a", {"accuracy": 0.5})
    with pytest.raises(RunError, match="at least two runs"):
        compare_runs([a], "accuracy")
    with pytest.raises(RunError, match="Unknown metric"):
        compare_runs([a, a], "speed")
    assert "accuracy" in COMPARE_METRICS
