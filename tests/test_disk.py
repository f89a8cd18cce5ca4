"""The disk cannot be filled, and a full disk loses nothing (issue #23).

Gradio refuses an oversized upload before storing it; per-user quotas on queued runs and stored bytes; runs share
one stored upload; a run whose training process died shows so when listed, read or resumed; listing survives
damaged status files and a full disk; the training child names a full disk in one sentence.
"""

from __future__ import annotations

import errno
import io
import json
import os
import subprocess
import sys
import time
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from tuner import jobs, runs
from tuner.config import RunConfig
from tuner.errors import RunError


def cfg_for(train_file) -> RunConfig:
    return RunConfig.from_dict({"data": {"train_file": str(train_file)}})


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def enospc(*_args, **_kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.fixture(autouse=True)
def fresh_caches(monkeypatch):
    """Each test sees the files as a fresh process would (no status or size cached from another test)."""
    monkeypatch.setattr(runs, "_CACHE", {})
    monkeypatch.setattr(runs, "_UNSAVED", {})
    monkeypatch.setattr(runs, "_INDEXED", {})
    monkeypatch.setattr(runs, "_DISK", {})
    monkeypatch.setattr(runs, "_DISK_LOADED", set())
    monkeypatch.setattr(runs, "_DISK_DIRTY", set())
    for name in ("TUNER_MAX_QUEUED_RUNS", "TUNER_MAX_USER_GB", "TUNER_AUTH"):
        monkeypatch.delenv(name, raising=False)


def uploaded(runs_dir: Path, size: int = 4000, name: str = "up") -> Path:
    """A file as tuner.data.store_upload leaves it: under <runs>/_uploads/<token>/train.csv."""
    folder = runs_dir / "_uploads" / name
    folder.mkdir(parents=True)
    path = folder / "train.csv"
    path.write_text("text,label\n" + "hello there,a\n" * (size // 14))
    return path


class FakeProc:
    pid = 0

    def poll(self):
        return None  # still training


def fake_manager(monkeypatch) -> jobs.JobManager:
    """A JobManager that queues and 'starts' runs without a training process (one slot)."""
    mgr = jobs.JobManager(max_concurrent=1)
    monkeypatch.setattr(mgr, "_start", lambda run: mgr._procs.__setitem__(run.id, FakeProc()))
    monkeypatch.setattr(mgr, "_ensure_watcher", lambda: None)
    monkeypatch.setattr(jobs, "_MANAGER", mgr)
    return mgr


# ---- 1: Gradio refuses an oversized upload before it is stored ------------------------------------------------
def test_oversize_upload_is_refused_by_gradio_and_not_stored(tmp_path, monkeypatch):
    import gradio as gr
    import httpx

    from tuner.ui import launch_kwargs

    monkeypatch.setenv("TUNER_MAX_UPLOAD_MB", "0.05")  # 52 KB
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))  # where Gradio stores uploads
    kwargs = launch_kwargs()
    assert kwargs["max_file_size"] == int(0.05 * 2**20)
    with gr.Blocks() as demo:
        gr.File(label="Training data")
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, **kwargs)
    try:
        url = demo.local_url.rstrip("/")
        config = httpx.get(f"{url}/config", timeout=30).json()
        assert config["max_file_size"] == kwargs["max_file_size"]  # the page checks it before sending a file
        big = b"text,label\n" + b"0123456789abcdef,x\n" * 20_000  # 380 KB
        refused = httpx.post(f"{url}/gradio_api/upload", files={"files": ("big.csv", big)}, timeout=30)
        assert refused.status_code == 413 and "maximum allowed size" in refused.text, refused.text
        stored = [p for p in (tmp_path / "gradio").rglob("*") if p.is_file()]
        assert stored == [], stored  # not the file, not a partial temporary file
        small = httpx.post(f"{url}/gradio_api/upload", files={"files": ("small.csv", b"text,label\nhi,a\n")}, timeout=30)
        assert small.status_code == 200 and Path(small.json()[0]).is_file()  # the limit is not a blanket refusal
    finally:
        demo.close()


# ---- 2: quotas -----------------------------------------------------------------------------------------------
def test_queued_runs_per_user_are_limited_with_one_sentence(runs_dir, sample_csv, monkeypatch):
    from tuner.ui.i18n import translate_error

    monkeypatch.setenv("TUNER_MAX_QUEUED_RUNS", "2")
    mgr = fake_manager(monkeypatch)
    a, b, c = (runs.create_run(cfg_for(sample_csv), owner="alice") for _ in range(3))
    ghost = runs.create_run(cfg_for(sample_csv), owner="alice")
    ghost.set_status(state="running", pid=dead_pid())  # a dead run does not hold a slot
    assert mgr.submit(a) == 0 and mgr.submit(b) == 1
    with pytest.raises(RunError) as err:
        mgr.submit(c)
    sentence = str(err.value)
    assert "You already have 2 runs queued or training" in sentence and "TUNER_MAX_QUEUED_RUNS=2" in sentence
    assert "stop one" in sentence and "\n" not in sentence
    assert translate_error(sentence, "zh") != sentence  # the page says it in Chinese too
    assert c.state == "created" and ghost.state == "interrupted"
    before = set(runs.run_ids())
    with pytest.raises(RunError, match="TUNER_MAX_QUEUED_RUNS"):
        runs.create_run(cfg_for(sample_csv), owner="alice")  # refused before a folder is made
    assert set(runs.run_ids()) == before
    bob = runs.create_run(cfg_for(sample_csv), owner="bob")  # another user's quota is their own
    assert mgr.submit(bob) == 2
    mgr.stop(b)  # a freed slot can be used again
    assert mgr.submit(c) == 2


def test_stored_bytes_per_user_are_limited_and_freed_by_deleting(runs_dir, tmp_path, monkeypatch):
    from tuner import cli
    from tuner.ui.i18n import translate_error

    monkeypatch.setenv("TUNER_MAX_USER_GB", str(120_000 / 2**30))  # 117 KB
    data = tmp_path / "data.csv"  # a file outside Tuner's folders: copied into each run
    data.write_text("text,label\n" + "some words here,a\n" * 2222)  # 39 KB
    first = runs.create_run(cfg_for(data), owner="alice")
    second = runs.create_run(cfg_for(data), owner="alice")
    assert runs.user_bytes("alice") >= 2 * data.stat().st_size
    with pytest.raises(RunError) as err:
        runs.create_run(cfg_for(data), owner="alice")
    sentence = str(err.value)
    assert "this one needs 39 KB more, over the 117 KB each user may store (TUNER_MAX_USER_GB)" in sentence, sentence
    assert "delete runs" in sentence and "Runs tab" in sentence and "tuner delete" in sentence
    assert translate_error(sentence, "zh") != sentence
    runs.create_run(cfg_for(data), owner="bob")  # bob stores his own
    (second.path / "checkpoints").mkdir()
    (second.path / "checkpoints" / "big.bin").write_bytes(b"\0" * 40_000)  # alice is now over her quota
    second.set_status(ended=time.time())  # (sizes are measured again when a run ends)
    with pytest.raises(RunError, match="each user may store"):
        fake_manager(monkeypatch).submit(first)  # nothing is queued while over the quota
    out = io.StringIO()
    with redirect_stdout(out):
        assert cli.main(["delete", second.id]) == 0
    assert f"Deleted run {second.id}" in out.getvalue() and not second.path.exists()
    runs.create_run(cfg_for(data), owner="alice")  # space freed: accepted again


def test_runs_of_one_upload_share_its_bytes_and_sizes_are_not_walked_again(runs_dir, monkeypatch):
    upload = uploaded(runs_dir, size=50_000)
    made = [runs.create_run(cfg_for(upload)) for _ in range(5)]
    for run in made:
        copy = run.data_dir / "train.csv"
        assert copy.read_bytes() == upload.read_bytes() and os.path.samefile(copy, upload)  # a link, not a copy
    assert upload.stat().st_nlink == 6
    used = runs.user_bytes("")
    assert 50_000 <= used < 2 * 50_000  # the upload counts once
    # Sizes are kept: a second look (and a fresh process's, from <runs>/.disk-index.json) walks no folder.
    with monkeypatch.context() as mp:
        mp.setattr(runs.os, "walk", lambda *a, **k: pytest.fail("a run folder was walked again"))
        assert runs.user_bytes("") == used
        mp.setattr(runs, "_DISK", {})
        mp.setattr(runs, "_DISK_LOADED", set())
        assert runs.user_bytes("") == used
    # A run's data stays when the upload is cleaned away, and deleting one run leaves the others' data.
    upload.unlink()
    runs.delete_run(made[0])
    assert all((r.data_dir / "train.csv").stat().st_size >= 50_000 for r in made[1:])


def test_a_file_given_to_the_cli_is_copied_not_linked(runs_dir, sample_csv):
    run = runs.create_run(cfg_for(sample_csv))
    assert not os.path.samefile(run.data_dir / "train.csv", sample_csv)  # its owner may edit it later


def test_delete_refuses_active_runs_and_foreign_folders(runs_dir, sample_csv, tmp_path):
    run = runs.create_run(cfg_for(sample_csv))
    run.set_status(state="queued", manager_pid=os.getpid())
    with pytest.raises(RunError, match="stop it first"):
        runs.delete_run(run)
    other = tmp_path / "elsewhere" / "20240101-000000-abcdef"
    other.mkdir(parents=True)
    (other / "config.yaml").write_text("task: classification\n")
    with pytest.raises(RunError, match="not a run of the runs folder"):
        runs.delete_run(runs.Run(other))
    assert other.is_dir() and run.path.is_dir()


# ---- 4: a dead training process -------------------------------------------------------------------------------
def test_dead_child_is_interrupted_on_list_on_read_and_on_resume(runs_dir, sample_csv, monkeypatch):
    listed = runs.create_run(cfg_for(sample_csv))
    listed.set_status(state="running", pid=dead_pid(), launcher_pid=dead_pid())
    assert {r.id: r.state for r in runs.list_runs()}[listed.id] == "interrupted"

    watched = runs.create_run(cfg_for(sample_csv))
    watched.set_status(state="running", pid=dead_pid())
    assert watched.progress()["state"] == "interrupted"  # the Train tab's poll / the CLI's follow

    resumed = runs.create_run(cfg_for(sample_csv))
    resumed.set_status(state="running", pid=dead_pid())
    (resumed.log_path).write_text("...\nOSError: [Errno 28] No space left on device: 'checkpoint-40/optimizer.pt'\n")
    mgr = fake_manager(monkeypatch)
    runs.check_resumable(resumed)  # no listing first
    status = resumed.status()
    assert status["state"] == "interrupted" and status["message"] == runs.DISK_FULL
    assert "The disk is full" in status["message"] and "free space and press Resume" in status["message"]
    assert mgr.submit(resumed, resume=True) == 0 and resumed.state == "queued"

    again = runs.create_run(cfg_for(sample_csv))
    again.set_status(state="running", pid=dead_pid())
    assert mgr.submit(again, resume=True) == 1  # the manager checks it itself too


def test_cli_resume_recovers_a_dead_run_itself(runs_dir, sample_csv, monkeypatch):
    from tuner import cli

    run = runs.create_run(cfg_for(sample_csv))
    run.set_status(state="running", pid=dead_pid())
    fake_manager(monkeypatch)
    monkeypatch.setattr(cli, "follow", lambda run, mgr: {})
    cli.main(["resume", run.id])
    assert run.state == "queued" and run.status()["resume"] is True


def test_a_killed_child_is_reaped_with_its_reason_even_on_a_full_disk(runs_dir, sample_csv, monkeypatch):
    run = runs.create_run(cfg_for(sample_csv))
    mgr = jobs.JobManager()
    code = "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"  # what the out-of-memory killer does
    proc = subprocess.Popen([sys.executable, "-c", code, str(run.config_path)])
    proc.wait()
    run.set_status(state="running", launcher_pid=proc.pid)
    mgr._procs[run.id] = proc
    with monkeypatch.context() as mp:
        mp.setattr(runs, "write_json_atomic", enospc)  # the disk is full
        mgr._reap()  # never raises
        status = run.status()  # kept in memory until it can be written
        assert status["state"] == "interrupted" and "killed" in status["message"] and "resume" in status["message"]
    assert json.loads(run.status_path.read_text())["state"] == "running"  # nothing was written
    run.set_status(note="space again")  # the next write carries it
    assert json.loads(run.status_path.read_text())["state"] == "interrupted"


# ---- 4: listing survives damaged files and a full disk ---------------------------------------------------------
def test_listing_survives_a_corrupt_status_and_a_full_disk(runs_dir, sample_csv, monkeypatch, capsys):
    from tuner import cli
    from tuner.ui.runs_tab import refresh, runs_table

    good = runs.create_run(cfg_for(sample_csv), name="good")
    good.set_status(state="completed")
    broken = runs.create_run(cfg_for(sample_csv), name="broken")
    broken.set_status(state="completed")
    dead = runs.create_run(cfg_for(sample_csv), name="dead")
    dead.set_status(state="running", pid=dead_pid())
    monkeypatch.setattr(runs, "_CACHE", {})  # a fresh process
    broken.status_path.write_text('{"state": "compl')  # half written
    monkeypatch.setattr(runs, "write_json_atomic", enospc)  # and every write fails: the disk is full

    states = {r.id: r.state for r in runs.list_runs()}
    assert states == {good.id: "completed", broken.id: "unreadable", dead.id: "interrupted"}
    table = runs_table()
    shown = dict(zip(table["run"], table["state"]))
    assert shown[broken.id] == "unreadable" and shown[dead.id] == "interrupted"
    assert "could not be read" in table.set_index("run").loc[broken.id, "message"]
    refresh(None)  # the Runs tab: table and dropdown
    assert cli.main(["runs"]) == 0
    out = capsys.readouterr().out
    assert broken.id in out and "unreadable" in out and "interrupted" in out


def test_a_status_seen_before_it_was_damaged_shows_its_last_good_state(runs_dir, sample_csv):
    run = runs.create_run(cfg_for(sample_csv))
    run.set_status(state="completed", message="Finished.")
    runs.list_runs()  # read (and indexed) while good
    run.status_path.write_text('{"state": "runn')
    assert run.state == "completed"


def test_status_is_written_in_place_when_not_even_a_small_file_fits(runs_dir, sample_csv, monkeypatch):
    run = runs.create_run(cfg_for(sample_csv))
    real = Path.write_text

    def full(self, *args, **kwargs):
        if self.name.startswith(".status.json"):  # the temporary file of write_json_atomic
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", full)
    run.set_status(state="failed", message="The disk is full.")
    assert json.loads(run.status_path.read_text())["state"] == "failed"
    assert not list(run.path.glob(".status.json*"))  # no partial temporary file left behind
    with pytest.raises(OSError):  # more than the file's own blocks hold: the error is raised
        run.set_status(padding="x" * 100_000)


# ---- 4: the training child names a full disk ----------------------------------------------------------------
def test_training_child_on_a_full_disk_records_the_clear_message(runs_dir, sample_csv, monkeypatch):
    from tuner import train

    run = runs.create_run(cfg_for(sample_csv))
    real_write, real_open = Path.write_text, open

    def fail(cfg, run, callbacks=(), clock=None):
        try:
            raise OSError(errno.ENOSPC, "No space left on device", str(run.path / "checkpoint-8" / "optimizer.pt"))
        except OSError as inner:  # safetensors wraps the OS error in its own
            raise RuntimeError("Error while serializing: IoError(No space left on device (os error 28))") from inner

    def full_write(self, text, *args, **kwargs):  # no room for a new file (the status's temporary copy)...
        if self.name.startswith(".status.json") and "failed" in text:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(self, text, *args, **kwargs)

    def full_open(file, mode="r", *args, **kwargs):  # ...nor for another line of events.jsonl
        if str(file).endswith("events.jsonl") and "a" in mode:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_open(file, mode, *args, **kwargs)

    with monkeypatch.context() as mp:
        mp.setattr(train, "train", fail)
        mp.setattr(train, "is_main_process", lambda: True)
        mp.setattr(Path, "write_text", full_write)
        mp.setattr("builtins.open", full_open)
        assert train.main([str(run.config_path)]) == 1  # no traceback out of the child
    status = json.loads(run.status_path.read_text())
    assert status["state"] == "failed", status
    message = status["message"]
    assert message.startswith("The disk is full (") and "free space and press Resume" in message, message
    assert str(runs_dir) not in message and "\n" not in message
