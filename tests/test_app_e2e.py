"""End to end through the real page: launch `python app.py`, then drive upload -> train -> evaluate -> try it
with `gradio_client`, exactly as a browser's API calls would (the training is a real child process)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402

from apphelpers import running_app, wait_finished  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def app(tmp_path_factory, tiny_model_dir):
    runs_dir = tmp_path_factory.mktemp("app-runs")
    env = {"TUNER_RUNS_DIR": str(runs_dir), "TUNER_MODEL_DIRS": str(tiny_model_dir.parent)}
    with running_app(runs_dir / "app.log", env, timeout=120) as (url, proc):
        yield {"url": url, "runs_dir": runs_dir, "proc": proc}


def test_upload_train_evaluate_try(app, sample_csv, tiny_model_dir, tmp_path):
    client = Client(app["url"], verbose=False)
    text_cols, label_col, summary, preview, counts, _left_out, error = client.predict(
        handle_file(str(sample_csv)), None, "classification", api_name="/upload")
    assert error == ""
    assert "**90 rows**" in summary and label_col["value"] == "label" and text_cols["value"] == ["text"]
    assert preview["headers"], "preview has columns"

    # Before Start: the time estimate (a speed probe of this model on this data) and the memory check.
    memory, timing = client.predict(
        "classification", str(tiny_model_dir), [], "e2e run", 4, 8, 0.0, 5e-3, 4, 8, 32, 1, 1, 0, api_name="/estimate")
    assert timing.startswith("Estimated training time on this machine: about ") and "steps of" in timing, timing
    assert memory.startswith("Estimated memory"), memory
    run_id, command, config_yaml = client.predict(
        "classification", str(tiny_model_dir), [], "e2e run", 4, 8, 0.0, 5e-3, 4, 8, 32, 1, 1, 0, api_name="/train")
    assert run_id and "python -m tuner train recipes/classification.yaml" in command
    assert "train.learning_rate=0.005" in command and "learning_rate: 0.005" in config_yaml
    html = wait_finished(client, run_id, timeout=300, poll=1.5)
    assert "<b>completed</b>" in html, html

    # The run folder holds a PEFT adapter in safetensors and the report.
    run_dir = app["runs_dir"] / run_id
    assert (run_dir / "adapter" / "adapter_model.safetensors").is_file()
    adapter_files = {p.suffix for p in (run_dir / "adapter").iterdir()}
    assert not adapter_files & {".bin", ".pt", ".pkl", ".pth"}, adapter_files

    summary_md, headline, per_label, confusion = client.predict(run_id, api_name="/evaluation")
    metrics = {row[0]: row for row in headline["data"]}
    assert {"accuracy", "macro_f1", "precision", "recall"} <= set(metrics)
    assert headline["headers"][2] == "classical baseline" and headline["headers"][3].startswith("majority class")
    assert summary_md.startswith("### ") and any(w in summary_md for w in ("Worth using", "No better", "Not"))
    assert 0.0 <= metrics["accuracy"][1] <= 1.0 and 0.0 <= metrics["accuracy"][2] <= 1.0
    assert len(per_label["data"]) == 3

    probs = client.predict(run_id, "I was charged twice on my invoice", api_name="/classify")
    confidences = {c["label"]: c["confidence"] for c in probs["confidences"]}
    assert set(confidences) == {"billing", "shipping", "technical"}
    assert abs(sum(confidences.values()) - 1.0) < 1e-3

    to_predict = tmp_path / "unlabelled.csv"
    with open(to_predict, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["text"])
        w.writerows([["my parcel never arrived"], ["the app crashes on start"], ["refund the double charge"]])
    out_path, msg = client.predict(run_id, handle_file(str(to_predict)), api_name="/predict_file")
    rows = list(csv.DictReader(open(out_path, encoding="utf-8")))
    assert len(rows) == 3 and all(r["predicted_label"] in confidences for r in rows)
    assert "Predicted 3 rows" in msg


def test_bad_inputs_get_one_sentence(app, tmp_path):
    client = Client(app["url"], verbose=False)
    empty = tmp_path / "empty.csv"
    empty.write_text("text,label\n")
    *_, error = client.predict(handle_file(str(empty)), None, "classification", api_name="/upload")
    assert "0 usable rows" in error and "Traceback" not in error and str(tmp_path) not in error

    one_class = tmp_path / "one.csv"
    one_class.write_text("text,label\n" + "".join(f"text number {i},same\n" for i in range(20)))
    *_, error = client.predict(handle_file(str(one_class)), None, "classification", api_name="/upload")
    assert "at least two different labels" in error

    # Out-of-range values sent straight to the API are refused server-side, naming the setting.
    good = tmp_path / "good.csv"
    good.write_text("text,label\n" + "".join(f"great thing {i},pos\nawful thing {i},neg\n" for i in range(10)))
    client.predict(handle_file(str(good)), None, "classification", api_name="/upload")
    with pytest.raises(Exception, match=r"learning_rate|less than minimum"):
        client.predict("classification", "default", [], "", 16, 32, 0.05, -1, 3, 16, 128, 42, 4, 0, api_name="/train")
    with pytest.raises(Exception, match=r"batch_size|less than minimum"):
        client.predict("classification", "default", [], "", 16, 32, 0.05, 1e-3, 3, 0, 128, 42, 4, 0, api_name="/train")
    # A model "id" that is a path or URL is refused before anything starts; no run folder is made.
    before = set(app["runs_dir"].iterdir())
    for bad in ("../../etc", "/etc", "https://example.com/model", "x" * 300):
        with pytest.raises(Exception, match=r"'\.\.'|outside the allowed|not a URL|longer than 200"):
            client.predict("classification", bad, [], "", 16, 32, 0.05, 1e-3, 3, 16, 128, 42, 4, 0, api_name="/train")
    # A Hub id without a network is one sentence at Start, not a failed run.
    with pytest.raises(Exception, match=r"Hugging Face Hub \(no network here"):
        client.predict("classification", "someorg/some-model", [], "", 16, 32, 0.05, 1e-3, 3, 16, 128, 42, 4, 0, api_name="/train")
    assert set(app["runs_dir"].iterdir()) == before
    assert app["proc"].poll() is None, "the app keeps running"


def test_a_file_with_three_broken_records_trains_and_says_what_it_left_out(app, tiny_model_dir, tmp_path):
    from test_forgiving import broken_file

    client = Client(app["url"], verbose=False)
    path = broken_file(tmp_path / "intents.csv", n=400, broken_at=(100, 200, 300))
    text_cols, label_col, summary, preview, counts, left_out, error = client.predict(
        handle_file(str(path)), None, "classification", api_name="/upload")
    assert error == "" and "**397 rows**" in summary, (error, summary)
    assert "Left out 6 of 403 rows of the training file that cannot be used: row 101 (the label ('category') is empty)" in summary
    assert Path(left_out["value"]).read_text().count("\n") == 7  # the downloadable list: header + 6 rows
    run_id, *_ = client.predict("classification", str(tiny_model_dir), [], "broken rows", 4, 8, 0.0, 5e-3, 1, 8, 32, 1,
                                1, 0, api_name="/train")
    html = wait_finished(client, run_id, timeout=300, poll=1.5)
    assert "<b>completed</b>" in html, html
    assert (app["runs_dir"] / run_id / "skipped_rows.csv").read_text().count("\n") == 7
    # A refused file: the sentence arrives with its quotes as typed, not HTML-escaped, and names the person's file.
    excel = tmp_path / "Quarterly export.csv"
    excel.write_bytes(b"PK\x03\x04" + b"\x00" * 64)
    *_, error = client.predict(handle_file(str(excel)), None, "classification", api_name="/upload")
    assert "Could not read 'Quarterly export.csv' as text" in error and "&#x27;" not in error, error


def test_a_time_limited_run_says_so_and_trains_again_without_the_limit(app, sample_csv, tiny_model_dir):
    client = Client(app["url"], verbose=False)
    client.predict(handle_file(str(sample_csv)), None, "classification", api_name="/upload")
    # 1,000 epochs against a 3-second limit (max_minutes 0.05): the run ends early, and says why.
    run_id, *_ = client.predict("classification", str(tiny_model_dir), [], "limited", 4, 8, 0.0, 5e-3, 1000, 8, 32, 1,
                                2, 0, 0.05, 0, 0, api_name="/train")
    html = wait_finished(client, run_id, timeout=300, poll=1.5)
    assert "<b>completed</b>" in html, html
    report = json.loads((app["runs_dir"] / run_id / "metrics.json").read_text())
    assert report["verdict"]["reasons"][0].startswith("the time limit stopped training after"), report["verdict"]
    assert "the time limit stopped training" in html
    again = client.predict(run_id, api_name="/train_again")
    assert again and again != run_id
    cfg = (app["runs_dir"] / again / "config.yaml").read_text()
    assert "max_minutes: 0.0" in cfg and "epochs: 1000.0" in cfg
    client.predict(again, api_name="/stop")
    wait_finished(client, again, timeout=300, poll=1.5)
