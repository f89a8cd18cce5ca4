"""tuner.runs: run folders, ids, status, recovery after a restart, checkpoints, events."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tuner import runs
from tuner.config import RunConfig
from tuner.errors import RunError


def cfg_for(train_file, **data) -> RunConfig:
    return RunConfig.from_dict({"data": {"train_file": str(train_file), **data}})


def test_create_run_layout(runs_dir, sample_csv):
    run = runs.create_run(cfg_for(sample_csv), name="first try")
    assert run.path.parent == runs_dir
    assert runs.RUN_ID.match(run.id)
    assert run.config_path.is_file() and run.data_dir.is_dir()
    copy = run.data_dir / "train.csv"
    assert copy.read_bytes() == sample_csv.read_bytes()
    cfg = run.config()
    assert cfg.data.train_file == str(copy)
    assert cfg.data.validation_file == ""
    status = run.status()
    assert status["state"] == "created" and run.state == "created"
    assert status["name"] == "first try" and run.display_name() == "first try"
    assert status["source_files"] == {"train_file": "tickets.csv"}


def test_run_ids_are_unique_and_well_formed(runs_dir, sample_csv):
    ids = {runs.create_run(cfg_for(sample_csv)).id for _ in range(5)}
    assert len(ids) == 5
    assert all(runs.RUN_ID.match(i) for i in ids)
    assert runs.RUN_ID.match(runs.new_run_id())
    assert not runs.RUN_ID.match("../20240101-000000-abcdef")


def test_malicious_original_name_never_escapes(runs_dir, tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "x.csv").write_text("text,label\nhello,a\nbye,b\n")
    evil = tmp_path / "a" / "b" / ".." / ".." / "x.csv"  # the original name as a client might send it
    run = runs.create_run(cfg_for(evil))
    copies = [p for p in runs_dir.rglob("*") if p.is_file() and p.suffix == ".csv"]
    assert copies == [run.data_dir / "train.csv"]
    assert run.config().data.train_file == str(run.data_dir / "train.csv")
    assert (run.data_dir / "train.csv").resolve().is_relative_to(run.path.resolve())


@pytest.mark.parametrize("original, copy", [
    ("upload.TSV", "train.tsv"), ("data.jsonl", "train.jsonl"), ("weird.c sv", "train.csv"),
    ("no_extension", "train.csv"), ("x.csv;rm -rf ~", "train.csv"),
])
def test_data_copies_get_server_made_names(runs_dir, tmp_path, original, copy):
    src = tmp_path / original
    src.write_text("text,label\nhello,a\nbye,b\n")
    val = tmp_path / "val.csv"
    val.write_text("text,label\nhi,a\n")
    run = runs.create_run(cfg_for(src, validation_file=str(val)))
    assert sorted(p.name for p in run.data_dir.iterdir()) == sorted([copy, "validation.csv"])
    assert run.config().data.validation_file == str(run.data_dir / "validation.csv")


def test_create_run_with_missing_file_leaves_nothing(runs_dir, tmp_path):
    with pytest.raises(RunError) as info:
        runs.create_run(cfg_for(tmp_path / "gone.csv"))
    assert "'gone.csv'" in str(info.value) and str(tmp_path) not in str(info.value)
    assert list(runs_dir.iterdir()) == []


@pytest.mark.parametrize("bad", ["../etc", "..", "", "20240101-000000-ABCDEF", "20240101-000000-abcdef/../x",
                                 "/tmp/20240101-000000-abcdef", None, 42])
def test_get_run_rejects_bad_ids(runs_dir, bad):
    with pytest.raises(RunError) as info:
        runs.get_run(bad)
    assert "not valid" in str(info.value)


def test_get_run_unknown_and_known(runs_dir, sample_csv):
    with pytest.raises(RunError) as info:
        runs.get_run("20240101-000000-abcdef")
    assert "does not exist" in str(info.value)
    run = runs.create_run(cfg_for(sample_csv))
    assert runs.get_run(run.id) == run


def test_status_round_trip(runs_dir, sample_csv):
    run = runs.create_run(cfg_for(sample_csv))
    run.set_status(state="running", pid=1234, message="Training…")
    again = runs.get_run(run.id)
    status = again.status()
    assert status["state"] == "running" and status["pid"] == 1234 and status["message"] == "Training…"
    assert status["name"] == "" and "updated" in status
    again.set_status(state="completed")
    assert run.state == "completed" and run.status()["pid"] == 1234
    assert not list(run.path.glob(".status.json*.tmp"))


def test_corrupt_status_reads_as_created(runs_dir, sample_csv):
    run = runs.create_run(cfg_for(sample_csv))
    run.status_path.write_text('{"state": "runn')
    assert run.state == "created"


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_running_run_with_dead_process_becomes_interrupted(runs_dir, sample_csv):
    dead = runs.create_run(cfg_for(sample_csv))
    dead.set_status(state="running", pid=dead_pid(), launcher_pid=dead_pid())
    done = runs.create_run(cfg_for(sample_csv))
    done.set_status(state="completed", pid=dead_pid())
    listed = runs.list_runs()
    assert {r.id for r in listed} == {dead.id, done.id}
    assert dead.state == "interrupted"
    assert "resume" in dead.status()["message"]
    assert done.state == "completed"


def test_running_run_with_live_process_stays_running(runs_dir, sample_csv):
    run = runs.create_run(cfg_for(sample_csv))
    # A live process whose command line mentions tuner counts as ours (wait until it is really running:
    # right after exec its /proc cmdline can still read empty).
    code = "import sys, time; print('ready', flush=True); time.sleep(60)"
    proc = subprocess.Popen([sys.executable, "-c", code, "tuner"], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        run.set_status(state="running", pid=proc.pid)
        runs.list_runs()
        assert run.state == "running"
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
    runs.list_runs()
    assert run.state == "interrupted"


def test_live_process_that_is_not_ours_does_not_count(runs_dir, sample_csv):
    run = runs.create_run(cfg_for(sample_csv))
    code = "import sys, time; print('ready', flush=True); time.sleep(60)"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        run.set_status(state="running", pid=proc.pid)  # e.g. the pid was reused after a reboot
        runs.list_runs()
        assert run.state == "interrupted"
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()


def test_queued_run_of_a_gone_manager_becomes_interrupted(runs_dir, sample_csv):
    run = runs.create_run(cfg_for(sample_csv))
    run.set_status(state="queued", manager_pid=dead_pid())
    runs.list_runs()
    assert run.state == "interrupted"


def test_list_runs_newest_first_and_ignores_foreign_folders(runs_dir, sample_csv):
    (runs_dir / "not-a-run").mkdir()
    (runs_dir / "notes.txt").write_text("x")
    older = runs.Run(runs_dir / "20200101-000000-aaaaaa")
    older.path.mkdir()
    newer = runs.create_run(cfg_for(sample_csv))
    assert [r.id for r in runs.list_runs()] == [newer.id, older.id]


def test_list_runs_by_owner(runs_dir, sample_csv):
    mine = runs.create_run(cfg_for(sample_csv), owner="alice")
    runs.create_run(cfg_for(sample_csv), owner="bob")
    assert [r.id for r in runs.list_runs(owner="alice")] == [mine.id]
    assert len(runs.list_runs()) == 2


def test_newest_checkpoint_skips_incomplete_ones(runs_dir, sample_csv):
    run = runs.create_run(cfg_for(sample_csv))
    assert run.newest_checkpoint() is None
    for step, complete in ((5, True), (10, True), (15, False), (9, True)):
        ckpt = run.checkpoints_dir / f"checkpoint-{step}"
        ckpt.mkdir(parents=True)
        if complete:
            (ckpt / "trainer_state.json").write_text("{}")
    (run.checkpoints_dir / "checkpoint-final").mkdir()
    assert run.newest_checkpoint() == run.checkpoints_dir / "checkpoint-10"


def test_events_tolerate_a_half_written_last_line(runs_dir, sample_csv):
    run = runs.create_run(cfg_for(sample_csv))
    assert run.events() == []
    run.append_event({"type": "start", "total_steps": 10})
    run.append_event({"type": "train", "step": 2, "loss": 1.25})
    with open(run.events_path, "a", encoding="utf-8") as fh:
        fh.write('{"type": "train", "step": 3, "lo')
    events = run.events()
    assert [e["type"] for e in events] == ["start", "train"]
    assert events[1]["loss"] == 1.25 and "time" in events[1]
    prog = run.progress()
    assert prog["step"] == 2 and prog["total_steps"] == 10
    assert [e["loss"] for e in prog["train"]] == [1.25]


def test_meta_and_metrics_missing(runs_dir, sample_csv):
    run = runs.create_run(cfg_for(sample_csv))
    assert run.metrics() is None and not run.has_adapter()
    with pytest.raises(RunError):
        run.meta()
    run.metrics_path.write_text(json.dumps({"accuracy": 0.5}))
    assert run.metrics() == {"accuracy": 0.5}
