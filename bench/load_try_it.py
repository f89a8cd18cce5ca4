"""Try it under load: /classify latency with N concurrent gradio_client clients, idle vs. while a real training
run is in progress.

    python -m bench.load_try_it                       # 20 clients x 10 requests each, tiny BERT, sample data
    python -m bench.load_try_it --clients 20 --requests 3 --model default

Starts `python app.py` on a free port with a fresh runs folder (like tests/test_app_e2e.py), trains a short run
through the page's API to have a finished run, measures the idle load, starts a long training run, measures
again while it trains, stops it, and prints one table (p50/p95 ms, errors, requests) and the p50/p95 ratios.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from bench.app_client import load_classify, start_app, stop_app

ROOT = Path(__file__).resolve().parents[1]


def tiny_model(out: Path) -> Path:
    """The tests' tiny random BERT (2 layers, hidden 32) with the bundled MiniLM tokenizer."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from tuner.models import bundled_model_dir

    tok = AutoTokenizer.from_pretrained(str(bundled_model_dir()))
    torch.manual_seed(0)
    model = BertModel(BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                 intermediate_size=64, max_position_embeddings=128))
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out), safe_serialization=True)
    tok.save_pretrained(str(out))
    return out


def wait_state(client, run_id, states, timeout=600) -> str:
    deadline = time.time() + timeout
    while time.time() < deadline:
        html = client.predict(run_id, api_name="/progress")[0]
        if any(f"<b>{s}</b>" in html for s in states):
            return html
        time.sleep(1.0)
    raise SystemExit(f"run {run_id} did not reach {states}")


def train_args(model, name, epochs):
    return ("classification", model, [], name, 4, 8, 0.0, 5e-3, epochs, 8, 64, 1, 1, 0)


def summary(latencies):
    if len(latencies) < 2:
        return float("nan"), float("nan")
    return statistics.median(latencies), statistics.quantiles(latencies, n=20)[18]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=10, help="requests per client per phase")
    parser.add_argument("--model", default="tiny", help="'tiny' (built here) or any model name the page accepts")
    args = parser.parse_args()
    from gradio_client import Client, handle_file

    work = Path(tempfile.mkdtemp(prefix="tuner-load-"))
    runs_dir = work / "runs"
    runs_dir.mkdir()
    model = str(tiny_model(work / "models" / "tiny-bert")) if args.model == "tiny" else args.model
    url, proc = start_app(runs_dir / "app.log", {"TUNER_RUNS_DIR": str(runs_dir), "TUNER_MODEL_DIRS": str(work / "models")})
    try:
        client = Client(url, verbose=False)
        client.predict(handle_file(str(ROOT / "assets" / "support_tickets.csv")), None, "classification", api_name="/upload")
        finished = client.predict(*train_args(model, "load-test model", 2), api_name="/train")[0]
        wait_state(client, finished, ("completed",))
        client.predict(finished, "warm up", api_name="/classify")  # load the model once
        idle = load_classify(url, finished, args.clients, args.requests)
        busy_run = client.predict(*train_args(model, "background training", 1000), api_name="/train")[0]
        wait_state(client, busy_run, ("running",))
        time.sleep(3)  # past the child's start-up: training steps are running
        busy = load_classify(url, finished, args.clients, args.requests)
        still = client.predict(busy_run, api_name="/progress")[0]
        client.predict(busy_run, api_name="/stop")
        wait_state(client, busy_run, ("stopped", "completed", "failed"), timeout=120)
    finally:
        stop_app(proc)
    from bench.machine import cpu_header

    print(f"\n{cpu_header()}\n/classify, {args.clients} concurrent gradio_client clients x {args.requests} requests, "
          f"model {args.model}, {os.cpu_count()} CPUs")
    print("| phase | requests | errors | p50 ms | p95 ms | wall s |")
    print("|---|---|---|---|---|---|")
    rows = {}
    for name, (lat, err, wall) in (("idle", idle), ("during training", busy)):
        p50, p95 = summary(lat)
        rows[name] = (p50, p95)
        print(f"| {name} | {len(lat)} | {len(err)} | {p50:.0f} | {p95:.0f} | {wall:.1f} |")
    print(f"ratio during training / idle: p50 {rows['during training'][0] / rows['idle'][0]:.2f}x, "
          f"p95 {rows['during training'][1] / rows['idle'][1]:.2f}x"
          + ("" if "<b>running</b>" in still else "  (warning: the training run was no longer running at the end)"))
    for name, (_, err, _) in (("idle", idle), ("during training", busy)):
        for e in err[:3]:
            print(f"error ({name}): {e}")


if __name__ == "__main__":
    main()
