"""Long work does not block short requests (issue #23, "One user blocks everyone"), through the real page served
in-process and driven by gradio_client: a sentence is answered while file predictions run on the same model, a small
upload while a slow one is read, and batched Classify answers each request its own result, in order, with a bad
request's error in its own place only. The slow parts are made slow on purpose (a patched forward or upload copy),
so each check is deterministic; bench/concurrency.py measures the real figures."""

from __future__ import annotations

import csv
import threading
import time

import pytest

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402

from apphelpers import free_port  # noqa: E402
from test_inference_speed import _make_run  # noqa: E402

SLOW_S = 2.5  # how long a patched long job takes
LABELS = ["billing", "shipping", "technical"]


@pytest.fixture(scope="module")
def app(tmp_path_factory, tiny_model_dir):
    """The page (tuner.ui.build_app, queued as app.py does) on a free port, with one finished classifier run."""
    root = tmp_path_factory.mktemp("conc")
    runs_root = root / "runs"
    runs_root.mkdir()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TUNER_RUNS_DIR", str(runs_root))
        mp.setenv("TUNER_MODEL_DIRS", str(tiny_model_dir.parent))
        mp.setenv("TUNER_HOST", "127.0.0.1")  # login off, one local user: every run shared, Classify batched
        for name in ("TUNER_AUTH", "TUNER_DEMO_RUNS", "SPACE_ID", "GRADIO_SERVER_NAME"):
            mp.delenv(name, raising=False)
        meta = {"task": "classification", "labels": LABELS, "text_columns": ["text"], "label_column": "label",
                "max_length": 64}
        made = _make_run(runs_root, "classification", str(tiny_model_dir), meta)
        from tuner.runs import get_run

        run = get_run(made.path.rename(runs_root / "20260101-000000-c1a55e").name)  # a server-made id's shape

        from tuner.ui import build_app, launch_kwargs, quiet_queue

        demo = build_app()
        quiet_queue(demo.queue(default_concurrency_limit=1))  # as app.py
        port = free_port()
        demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                    **launch_kwargs())
        try:
            yield {"url": f"http://127.0.0.1:{port}/", "run": run, "root": root, "demo": demo}
        finally:
            demo.close()


@pytest.fixture(scope="module")
def clients(app) -> list[Client]:
    """Eight gradio_client clients (each its own session), connected in parallel."""
    out: list = [None] * 8

    def connect(i):
        out[i] = Client(app["url"], verbose=False)

    threads = [threading.Thread(target=connect, args=(i,)) for i in range(len(out))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert all(out), "a client did not connect"
    return out


def _in_thread(fn, *args):
    """Start fn(*args) in a thread; the returned dict gets 'result' or 'error', and 'done' (perf_counter)."""
    box: dict = {}

    def go():
        try:
            box["result"] = fn(*args)
        except Exception as exc:
            box["error"] = exc
        box["done"] = time.perf_counter()

    box["thread"] = threading.Thread(target=go, daemon=True)
    box["thread"].start()
    return box


def _wait_until(cond, timeout: float, what: str) -> None:
    deadline = time.time() + timeout
    while not cond():
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_a_sentence_is_answered_while_file_predictions_run(app, clients, tmp_path, monkeypatch):
    """Two file predictions (the file group's limit) whose forwards hold the model for SLOW_S seconds; a single
    Classify from a third client on the same run still answers at once. Fails when Classify shares the files'
    concurrency group, or waits for the files' model lock."""
    from tuner.inference import SHORT_ROWS, get_predictor

    predictor = get_predictor(app["run"])
    real, started = predictor.task.predict, []

    def slow_for_files(model, tokenizer, texts, *a, **kw):
        if len(texts) >= SHORT_ROWS:  # a file's rows (the long lane) take SLOW_S seconds
            started.append(time.perf_counter())
            time.sleep(SLOW_S)
        return real(model, tokenizer, texts, *a, **kw)

    monkeypatch.setattr(predictor.task, "predict", slow_for_files)
    rows = tmp_path / "rows.csv"
    with open(rows, "w", newline="") as fh:
        csv.writer(fh).writerows([["text"], *[[f"my parcel number {i} never arrived"] for i in range(SHORT_ROWS)]])
    run_id = app["run"].id
    files = [_in_thread(lambda c=c: c.predict(run_id, handle_file(str(rows)), api_name="/predict_file"))
             for c in clients[:2]]
    _wait_until(lambda: started or any("done" in box for box in files), 30, "a file prediction's forward")
    assert not any("done" in box for box in files), [box.get("error") or box.get("result") for box in files]
    t0 = time.perf_counter()
    answer = clients[2].predict(run_id, "I was charged twice for my subscription", api_name="/classify")
    took = time.perf_counter() - t0
    assert answer["label"] in LABELS, answer
    for box in files:
        box["thread"].join(60)
        assert "error" not in box, box.get("error")
        assert "Predicted 64 rows" in box["result"][1]
    assert took < SLOW_S, f"Classify took {took:.1f} s behind the file predictions"
    assert t0 + took < min(box["done"] for box in files), "Classify finished after a file prediction"


def test_a_small_upload_is_not_blocked_behind_a_slow_one(clients, sample_csv_factory, tmp_path, monkeypatch):
    """An upload whose copy takes SLOW_S seconds, then a small one from another client: the small one is read
    and summarised first. Fails when uploads run one at a time."""
    from tuner import data

    real, entered = data.store_upload, threading.Event()

    def slow_store(path, *a, **kw):
        if "slow" in str(path).rsplit("/", 1)[-1]:
            entered.set()
            time.sleep(SLOW_S)
        return real(path, *a, **kw)

    monkeypatch.setattr(data, "store_upload", slow_store)
    slow = sample_csv_factory(tmp_path / "slow.csv")
    small = sample_csv_factory(tmp_path / "small.csv", per_label=5)
    a, b = clients[:2]
    big = _in_thread(lambda: a.predict(handle_file(str(slow)), None, "classification", api_name="/upload"))
    assert entered.wait(30), "the slow upload never started"
    t0 = time.perf_counter()
    *_, error = b.predict(handle_file(str(small)), None, "classification", api_name="/upload")
    took = time.perf_counter() - t0
    big["thread"].join(60)
    assert error == "" and "error" not in big and big["result"][-1] == "", (error, big.get("error"))
    assert took < SLOW_S, f"the small upload took {took:.1f} s behind the slow one"
    assert t0 + took < big["done"], "the small upload finished after the slow one"


def test_batched_classify_answers_each_request_in_order_and_isolates_a_bad_one(app, clients, monkeypatch):
    """The first Classify calls (as many as the group runs at once) hold the model until five more requests from other
    clients are queued; those are then answered by one batched call. Each client gets the answer to its own sentence; the client that sent an empty
    text gets one sentence saying so, the others their labels. Alone, an empty text is an error as before."""
    from tuner.inference import Predictor, get_predictor
    from tuner.ui.try_tab import TEXT_LIMIT

    predictor = get_predictor(app["run"])
    texts = ["refund the double charge on my card", "", "the courier left my parcel at the wrong address",
             "the app crashes when I open settings", "why was I billed after cancelling"]
    expected = {t: predictor.predict_one(t) for t in texts if t}
    assert len({tuple(v.values()) for v in expected.values()}) == len(expected), "the texts must differ in answers"

    real_each, batches, gate = Predictor.predict_each, [], threading.Event()

    def gated(self, sentences, *a, **kw):
        batches.append(list(sentences))
        if len(batches) <= TEXT_LIMIT:
            gate.wait(30)
        return real_each(self, sentences, *a, **kw)

    monkeypatch.setattr(Predictor, "predict_each", gated)
    run_id = app["run"].id
    assert len(clients) >= len(texts) + TEXT_LIMIT
    firsts = []
    for c in clients[len(texts):len(texts) + TEXT_LIMIT]:  # fill the group's slots, one gated call each
        firsts.append(_in_thread(lambda c=c: c.predict(run_id, "my parcel never came", api_name="/classify")))
        _wait_until(lambda: len(batches) == len(firsts), 30, "a first batch")
    boxes = [_in_thread(lambda c=c, t=t: c.predict(run_id, t, api_name="/classify")) for c, t in zip(clients, texts)]
    queue = app["demo"]._queue.event_queue_per_concurrency_id["try-text"]
    _wait_until(lambda: len(queue.queue) == len(texts), 30, "the other requests to queue")
    gate.set()
    for box in [*firsts, *boxes]:
        box["thread"].join(60)
    assert all("error" not in box and box["result"]["label"] in LABELS for box in firsts)
    assert len(batches) == TEXT_LIMIT + 1 and sorted(batches[-1]) == sorted(texts), batches  # one call for all five
    for text, box in zip(texts, boxes):
        assert "error" not in box, (text, box.get("error"))
        got = box["result"]
        if not text:
            assert got["label"] == "⛔ Type some text to classify." and not got.get("confidences"), got
            continue
        confidences = {c["label"]: c["confidence"] for c in got["confidences"]}
        assert got["label"] == next(iter(expected[text])), (text, got)
        assert confidences == pytest.approx(expected[text], abs=1e-4), (text, got)

    with pytest.raises(Exception, match=r"Type some text to classify\.") as err:  # alone in its batch: raised
        clients[0].predict(run_id, "   ", api_name="/classify")
    assert "Traceback" not in str(err.value)
