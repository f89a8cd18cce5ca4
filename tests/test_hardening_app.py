"""Issue #7 through the real page (cases 3, 5, 10, 13, 25, 26, 28, 30; the map is in test_hardening.py).

Launches `python app.py` with login on for two users (TUNER_AUTH), trains one tiny run as alice, then attacks it
as bob and as a crafted client, and loads Try it with 20 concurrent clients while a second run trains.
"""

from __future__ import annotations

import csv
import json
import os
import statistics
import time
from pathlib import Path

import pytest

gradio_client = pytest.importorskip("gradio_client")
import httpx  # noqa: E402
from gradio_client import Client, handle_file  # noqa: E402

from apphelpers import load_classify, running_app, wait_finished  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow
ALICE, BOB = ("alice", "alice-pw-7f3k"), ("bob", "bob-pw-9q2m")



def train_args(model_dir, name="run", epochs=4, recipe="classification", targets=()):
    return (recipe, str(model_dir), list(targets), name, 4, 8, 0.0, 5e-3, epochs, 8, 32, 1, 1, 0)


@pytest.fixture(scope="module")
def app(tmp_path_factory, tiny_model_dir, sample_csv_factory):
    runs_dir = tmp_path_factory.mktemp("hard-app-runs")
    data_dir = tmp_path_factory.mktemp("hard-app-data")
    sample = sample_csv_factory(data_dir / "tickets.csv")
    env = {"TUNER_RUNS_DIR": str(runs_dir), "TUNER_MODEL_DIRS": str(tiny_model_dir.parent),
           "TUNER_AUTH": f"{ALICE[0]}:{ALICE[1]},{BOB[0]}:{BOB[1]}"}
    with running_app(runs_dir / "app.log", env) as (url, proc):
        alice = Client(url, auth=ALICE, verbose=False)
        *_, error = alice.predict(handle_file(str(sample)), None, "classification", api_name="/upload")
        assert error == ""
        run_id = alice.predict(*train_args(tiny_model_dir, "alice run"), api_name="/train")[0]
        html = wait_finished(alice, run_id, timeout=900)
        assert "<b>completed</b>" in html, html + (runs_dir / "app.log").read_text()[-3000:]
        yield {"url": url, "runs_dir": runs_dir, "proc": proc, "run_id": run_id, "alice": alice, "sample": sample,
               "data_dir": data_dir, "model": tiny_model_dir}


def session(app, user) -> httpx.Client:
    s = httpx.Client(base_url=app["url"], timeout=60, follow_redirects=False)
    r = s.post("login", data={"username": user[0], "password": user[1]})
    assert r.status_code in (200, 302, 303), r.text
    return s


def raw_call(s: httpx.Client, api: str, data: list) -> str:
    """POST /gradio_api/call/<api> and read the event stream: what a hand-made client sees."""
    r = s.post(f"gradio_api/call/{api}", json={"data": data})
    if r.status_code != 200:
        return f"HTTP {r.status_code}: {r.text}"
    event_id = r.json()["event_id"]
    return s.get(f"gradio_api/call/{api}/{event_id}", timeout=120).text


def assert_one_sentence(msg: str, *forbidden):
    assert "Traceback" not in msg and 'File "' not in msg, msg
    for bad in forbidden:
        assert str(bad) not in msg, (bad, msg)


# ---- 28: login ----------------------------------------------------------------------------------------------
def test_login_is_required(app):
    with pytest.raises(Exception):
        Client(app["url"], verbose=False).predict(app["run_id"], "hello", api_name="/classify")
    with pytest.raises(Exception):
        Client(app["url"], auth=(ALICE[0], "wrong"), verbose=False)
    anon = httpx.Client(base_url=app["url"], timeout=30)
    out = raw_call(anon, "classify", [app["run_id"], "hello"])
    assert "billing" not in out and "confidences" not in out


# ---- 25: ownership ------------------------------------------------------------------------------------------
def test_users_cannot_reach_each_others_runs(app, tmp_path):
    run_id, alice = app["run_id"], app["alice"]
    bob = Client(app["url"], auth=BOB, verbose=False)
    table, pick = bob.predict(api_name="/runs")
    assert run_id not in json.dumps(table) and run_id not in json.dumps(pick)
    table, pick = alice.predict(api_name="/runs")
    assert run_id in json.dumps(table)
    calls = [((run_id, "refund my card"), "/classify"), ((run_id,), "/evaluation"), ((run_id,), "/stop"),
             ((run_id,), "/resume"), ((run_id, handle_file(str(app["sample"]))), "/predict_file")]
    for args, api in calls:
        with pytest.raises(Exception, match=r"does not exist") as err:
            bob.predict(*args, api_name=api)
        assert_one_sentence(str(err.value), app["runs_dir"])
    html = bob.predict(run_id, api_name="/progress")[0]
    assert "<b>idle</b>" in html and "completed" not in html
    # Alice still can, and her run is untouched.
    assert alice.predict(run_id, "refund my card", api_name="/classify")["label"] in ("billing", "shipping", "technical")
    assert json.loads((app["runs_dir"] / run_id / "status.json").read_text())["state"] == "completed"


def test_direct_file_urls_are_refused(app):
    s = session(app, ALICE)
    run_dir = app["runs_dir"] / app["run_id"]
    secret_files = [run_dir / "config.yaml", run_dir / "adapter" / "adapter_model.safetensors", ROOT / "app.py",
                    ROOT / ".env", ROOT / "tuner" / "auth.py", Path("/etc/passwd"), app["runs_dir"] / "app.log"]
    for path in secret_files:
        for prefix in ("gradio_api/file=", "file=", "gradio_api/file/"):
            r = s.get(prefix + str(path))
            assert r.status_code in (400, 403, 404, 405), (prefix, path, r.status_code)
            if path.is_file():
                assert path.read_bytes()[:64] not in r.content or not path.read_bytes()[:64]
    r = s.get("gradio_api/file=../../../../etc/passwd")
    assert r.status_code in (400, 403, 404) and b"root:" not in r.content


# ---- 3: crafted file paths ------------------------------------------------------------------------------------
def test_crafted_file_paths_outside_the_upload_cache_are_refused(app):
    s = session(app, ALICE)
    uploads = app["runs_dir"] / "_uploads"
    before = sorted(uploads.rglob("*")) if uploads.exists() else []
    targets = ["/etc/passwd", str(app["runs_dir"] / app["run_id"] / "data" / "train.csv"), str(ROOT / "app.py"),
               "../../../etc/passwd"]
    for target in targets:
        payload = {"path": target, "meta": {"_type": "gradio.FileData"}, "orig_name": "x.csv"}
        out = raw_call(s, "upload", [payload, None, "classification"])
        assert "event: error" in out or "HTTP 4" in out, (target, out[:500])
        assert "root:x" not in out and "**" not in out, out[:500]
        out = raw_call(s, "predict_file", [app["run_id"], payload])
        assert "event: error" in out or "HTTP 4" in out, (target, out[:500])
    after = sorted(uploads.rglob("*")) if uploads.exists() else []
    assert after == before  # nothing was copied in


# ---- 5, 13: bad uploads and values outside the choices ---------------------------------------------------------
def test_bad_uploads_are_one_sentence_and_create_no_run(app, tmp_path):
    alice = app["alice"]
    before = {p.name for p in app["runs_dir"].iterdir()}
    xlsx = tmp_path / "sheet.csv"
    xlsx.write_bytes(b"PK\x03\x04" + os.urandom(2000))
    blank = tmp_path / "blank.csv"
    blank.write_text("text,label\n , \n,\n\n")
    binary = tmp_path / "noise.tsv"
    binary.write_bytes(bytes(range(256)) * 40)
    for path, expected in ((xlsx, "Excel"), (blank, "0 usable rows"), (binary, "binary")):
        *_, error = alice.predict(handle_file(str(path)), None, "classification", api_name="/upload")
        assert expected in error, error
        assert_one_sentence(error, tmp_path, app["runs_dir"])
    assert {p.name for p in app["runs_dir"].iterdir()} == before


def test_values_outside_the_choices_are_refused(app):
    alice, model = app["alice"], app["model"]
    with pytest.raises(Exception, match=r"not in the list of choices|choose one of"):
        alice.predict(handle_file(str(app["sample"])), None, "evil-task", api_name="/upload")
    alice.predict(handle_file(str(app["sample"])), None, "classification", api_name="/upload")
    before = {p.name for p in app["runs_dir"].iterdir()}
    with pytest.raises(Exception, match=r"not in the list of choices|Unknown recipe"):
        alice.predict(*train_args(model, recipe="../../etc/passwd"), api_name="/train")
    with pytest.raises(Exception, match=r"adapter\.target_modules.*no_such_layer|not in the list of choices"):
        alice.predict(*train_args(model, targets=["no_such_layer"]), api_name="/train")
    assert {p.name for p in app["runs_dir"].iterdir()} == before


# ---- 10: hostile text ---------------------------------------------------------------------------------------------
def test_hostile_text_is_inert_and_prediction_csvs_are_neutralised(app, tmp_path):
    alice = app["alice"]
    hostile = ['<img src=x onerror="alert(1)">', "<script>alert(document.cookie)</script>", "=cmd|' /C calc'!A0",
               "+SUM(1,2)", "@HYPERLINK(\"http://evil\")"]
    path = tmp_path / "hostile.csv"
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["text", "label"])
        for i in range(12):
            w.writerow([f"{hostile[i % len(hostile)]} ticket {i}", ["a", "b"][i % 2]])
    text_cols, label_col, summary, preview, counts, _left_out, error = alice.predict(
        handle_file(str(path)), None, "classification", api_name="/upload")
    assert error == "" and "<script" not in summary and "<img" not in summary
    cells = [row[0] for row in preview["data"]]
    assert cells[0] == f"{hostile[0]} ticket 0"  # kept as the literal text ...
    config = httpx.Client(base_url=app["url"], timeout=30)
    config.post("login", data={"username": ALICE[0], "password": ALICE[1]})
    comps = config.get("config").json()["components"]
    table = next(c for c in comps if c.get("props", {}).get("label") == "Preview (first rows)")
    kinds = table["props"].get("datatype")
    assert kinds in (None, "str") or not any(k in ("html", "markdown") for k in (kinds if isinstance(kinds, list) else [kinds]))
    # ... and a predictions CSV we write never starts a cell with a formula character.
    out_path, msg = alice.predict(app["run_id"], handle_file(str(path)), api_name="/predict_file")
    rows = list(csv.reader(open(out_path, encoding="utf-8")))
    assert len(rows) == 13 and "Predicted 12 rows" in msg
    for row in rows:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@")), row
    assert any(cell.startswith("'=cmd") for row in rows for cell in row)


# ---- 30: monitoring and CORS --------------------------------------------------------------------------------------
def test_monitoring_off_and_cors_strict(app):
    s = session(app, ALICE)
    for path in ("monitoring", "gradio_api/monitoring", "monitoring/dashboard"):
        assert s.get(path).status_code in (401, 403, 404, 405), path
    r = s.get("config", headers={"Origin": "https://evil.example"})
    assert r.headers.get("access-control-allow-origin") not in ("*", "https://evil.example")
    r = s.options("gradio_api/call/classify", headers={"Origin": "https://evil.example",
                                                       "Access-Control-Request-Method": "POST"})
    assert r.headers.get("access-control-allow-origin") not in ("*", "https://evil.example")


# ---- 26: 20 concurrent clients on Try it while a run trains --------------------------------------------------------
def test_twenty_clients_try_it_during_training(app):
    alice = app["alice"]
    alice.predict(handle_file(str(app["sample"])), None, "classification", api_name="/upload")
    busy = alice.predict(*train_args(app["model"], "busy run", epochs=1000), api_name="/train")[0]
    try:
        deadline = time.time() + 180
        while "<b>running</b>" not in alice.predict(busy, api_name="/progress")[0]:
            assert time.time() < deadline, "the second run never started"
            time.sleep(1)
        latencies, errors, _ = load_classify(app["url"], app["run_id"], clients=20, requests_each=3, auth=ALICE,
                                             sentences=["I was charged twice", "my parcel never arrived",
                                                        "the app crashes on start"])
        still = alice.predict(busy, api_name="/progress")[0]
    finally:
        alice.predict(busy, api_name="/stop")
    assert errors == [], errors[:5]
    assert len(latencies) == 60 and "<b>running</b>" in still  # the training ran during the whole load
    q = statistics.quantiles(latencies, n=20)
    print(f"\n/classify with 20 clients x 3 during training: p50 {statistics.median(latencies):.0f} ms, "
          f"p95 {q[18]:.0f} ms, errors {len(errors)}, requests {len(latencies)}")
    assert app["proc"].poll() is None
