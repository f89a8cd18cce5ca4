"""Drive the real thing for the end-to-end tests: start `python app.py` as a server and hammer /classify from many
gradio_client clients at once (bench/app_client.py, shared with the load benches), train a run through the job
launcher, and wait for a run on the page."""

from __future__ import annotations

import time

from bench.app_client import free_port, load_classify, running_app, start_app, stop_app

__all__ = ["free_port", "load_classify", "running_app", "start_app", "stop_app", "train_through_launcher",
           "wait_finished"]


def train_through_launcher(cfg, timeout: float):
    """Create a run for `cfg`, train it as the page does (tuner.jobs: an `accelerate launch` child) and return it
    once the child exited 0; any other exit fails with the run's status and the tail of its log."""
    from tuner import jobs, runs

    run = runs.create_run(cfg)
    manager = jobs.JobManager()
    assert manager.submit(run) == 0
    try:
        code = manager.wait(run, timeout=timeout)
    finally:
        manager.kill(run)
    log = run.log_path.read_text(encoding="utf-8", errors="replace") if run.log_path.exists() else "(no train.log)"
    assert code == 0, f"child exited with {code}; state {run.status()}; log:\n{log[-4000:]}"
    return run


def wait_finished(client, run_id: str, timeout: float, poll: float = 1.0) -> str:
    """Poll the app's /progress endpoint until the run completes, fails or stops; its progress HTML."""
    deadline, html = time.time() + timeout, ""
    while time.time() < deadline:
        html = client.predict(run_id, api_name="/progress")[0]
        if any(s in html for s in ("<b>completed</b>", "<b>failed</b>", "<b>stopped</b>")):
            return html
        time.sleep(poll)
    raise AssertionError(f"run did not finish: {html}")


