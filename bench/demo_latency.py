"""Try-it and chat speed, idle and while a real training run is in progress (issue #6).

    python -m bench.demo_latency                    # 3 rounds, idle / training interleaved, medians
    python -m bench.demo_latency --rounds 4 --chat-tokens 48

What it measures, on the CPU, through the same code the page uses (`tuner.inference.Predictor`):
  * classify one sentence, in process (`Predictor.predict_one`) and through the running app's `/classify`
    endpoint with `gradio_client` (p50 / p95 over SST-2 dev sentences);
  * batch prediction of a real file (`Predictor.predict_file` on ../shared/datasets/sst2/dev.tsv, 872 rows);
  * chat through `Predictor.chat_stream`: first visible text after the request, and generated tokens/s
    (one forward per token, counted with a hook) on a ~100M-parameter Llama-style model built from a config
    (random weights: speed only) with the bundled MiniLM WordPiece tokenizer.
The classifier is a LoRA run on the bundled MiniLM (fresh adapter, saved as training saves it; `--run DIR`
uses a trained run folder instead). The load is a real training run, `python -m tuner train
recipes/classification.yaml` on SST-2 train, started once; its process tree is paused (SIGSTOP) for the idle
phases and resumed (SIGCONT) for the loaded ones, so idle and loaded are interleaved A B A B in one process.
The script also prints how often the file path and fp32 pick the same label on the dev file (the file path uses
bf16 autocast on CPUs with native bf16, fp32 elsewhere; TUNER_INFER_DTYPE=int8 a dynamic-int8 copy), and the CPU
header. Prints one table: idle, under training, ratio, target, met?
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.app_client import start_app, stop_app

ROOT = Path(__file__).resolve().parents[1]
SST2 = ROOT.parent / "shared" / "datasets" / "sst2"
# ~100M parameters: 12 x 6.3M (GQA, 4 kv heads) + 23.4M tied embeddings of the 30,522-token WordPiece vocab
CHAT_SHAPE = dict(hidden_size=768, intermediate_size=2048, num_hidden_layers=12, num_attention_heads=12,
                  num_key_value_heads=4, max_position_embeddings=2048)
PROMPTS = ["Write a short friendly reply to a customer whose parcel arrived two days late and ask how we can help.",
           "Explain in a few sentences why the sky looks blue during the day and red at sunset.",
           "Give three tips for writing clear error messages in a web application."]


def sentences(n: int) -> list[str]:
    lines = (SST2 / "dev.tsv").read_text(encoding="utf-8").splitlines()[1:]
    return [ln.split("\t", 1)[1].strip() for ln in lines if "\t" in ln][:n]


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


# ---- the runs ---------------------------------------------------------------------------------------
def make_lora_run(task_name: str, source: str, meta: dict, name: str):
    """A finished run folder with a fresh LoRA adapter (recipe settings: r 16, alpha 32), saved like
    tuner.train.save_adapter saves one."""
    from peft import LoraConfig, get_peft_model

    from tuner import models, runs
    from tuner.tasks import get_task

    task = get_task(task_name)
    run = runs.Run(runs.runs_root() / runs.new_run_id())
    run.path.mkdir(parents=True)
    base = task.build_model(models.resolve(source), meta)
    cfg = LoraConfig(task_type=task.peft_task_type, r=16, lora_alpha=32,
                     target_modules=models.target_module_paths(base, models.detect_target_modules(base)),
                     modules_to_save=task.modules_to_save(base) or None)
    get_peft_model(base, cfg).save_pretrained(str(run.adapter_dir), safe_serialization=True)
    models.load_tokenizer(models.resolve(source)).save_pretrained(str(run.adapter_dir))
    (run.adapter_dir / "tuner_meta.json").write_text(json.dumps({**meta, "base_model": source, "method": "lora"}))
    run.set_status(state="completed", name=name)
    return run


def make_classifier_run():
    """A finished two-label SST-2 classification run on the bundled MiniLM with a fresh LoRA adapter."""
    return make_lora_run("classification", "default", {
        "task": "classification", "labels": ["0", "1"], "text_columns": ["content"], "label_column": "label",
        "max_length": 128}, "bench-classifier")


def make_chat_base(folder: Path) -> Path:
    """A ~100M-parameter Llama built from a config (random weights) with the bundled MiniLM tokenizer."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig

    from tuner.models import bundled_model_dir

    tok = AutoTokenizer.from_pretrained(str(bundled_model_dir()))
    config = LlamaConfig(vocab_size=len(tok), tie_word_embeddings=True, pad_token_id=tok.pad_token_id,
                         bos_token_id=tok.cls_token_id, eos_token_id=tok.sep_token_id, **CHAT_SHAPE)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config)
    model.save_pretrained(str(folder), safe_serialization=True)
    tok.save_pretrained(str(folder))
    return folder


# ---- measurements -------------------------------------------------------------------------------------
def classify_inproc(pred, texts) -> dict:
    times = []
    for t in texts:
        t0 = time.perf_counter()
        pred.predict_one(t)
        times.append(time.perf_counter() - t0)
    return {"inproc_p50": 1000 * statistics.median(times), "inproc_p95": 1000 * pct(times, 0.95)}


def classify_http(client, run_id, texts) -> dict:
    times = []
    for t in texts:
        t0 = time.perf_counter()
        client.predict(run_id, t, api_name="/classify")
        times.append(time.perf_counter() - t0)
    return {"http_p50": 1000 * statistics.median(times), "http_p95": 1000 * pct(times, 0.95)}


def batch_file(pred, out_dir: Path) -> dict:
    t0 = time.perf_counter()
    info = pred.predict_file(SST2 / "dev.tsv", out_dir / "pred.csv")
    return {"batch_rows_s": info["rows"] / (time.perf_counter() - t0)}


def chat(pred, max_new_tokens: int) -> dict:
    firsts, rates, counts = [], [], []
    stamps: list[float] = []
    hook = pred.model.register_forward_hook(lambda *a: stamps.append(time.perf_counter()))
    try:
        for prompt in PROMPTS[:2]:
            stamps.clear()
            t0 = time.perf_counter()
            first = None
            for _ in pred.chat_stream([], prompt, max_new_tokens=max_new_tokens):
                if first is None:
                    first = time.perf_counter() - t0
            if len(stamps) >= 2:  # forward k ends with token k; rate over the decode steps after the first
                rates.append((len(stamps) - 1) / (stamps[-1] - stamps[0]))
            firsts.append(first if first is not None else float("nan"))
            counts.append(len(stamps))
    finally:
        hook.remove()
    return {"chat_first_s": statistics.median(firsts), "chat_tok_s": statistics.median(rates) if rates else 0.0,
            "chat_tokens": statistics.median(counts)}


# ---- the load -------------------------------------------------------------------------------------------
class Training:
    """`python -m tuner train` on SST-2 in this process's session (its own process group), as the app's launcher
    starts its training child in the app's session: with the kernel's per-session CPU groups, a child in a session
    of its own would get an equal share against the measurements whatever its priority (TUNER_TRAIN_NICE).
    pause() / resume() its whole process tree."""

    def __init__(self, runs_dir: Path, env: dict):
        argv = [sys.executable, "-m", "tuner", "train", "recipes/classification.yaml", "--name", "bench-load",
                "--set", f"data.train_file={SST2 / 'train.tsv'}", "--set", "train.evals=0"]
        self.log = open(runs_dir / "load.log", "wb")
        self.proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                     process_group=0)
        self.runs_dir = runs_dir

    def tree(self):
        import psutil

        try:
            root = psutil.Process(self.proc.pid)
            return [root] + root.children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def _signal(self, sig) -> None:
        import psutil

        for p in self.tree():
            try:
                p.send_signal(sig)
            except psutil.NoSuchProcess:
                pass

    def wait_training(self, timeout: float) -> None:
        """Until the training loop has logged its first steps (the model is loaded and stepping)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"the training run ended early (exit {self.proc.returncode}); see {self.log.name}")
            for events in self.runs_dir.glob("*/events.jsonl"):
                if any('"progress"' in ln or '"train"' in ln for ln in events.read_text(encoding="utf-8").splitlines()):
                    return
            time.sleep(0.5)
        raise SystemExit(f"the training run did not start stepping within {timeout:.0f} s")

    def pause(self) -> None:
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal(signal.SIGCONT)

    def still_running(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        self.resume()
        procs = self.tree()
        for p in procs:
            try:
                p.terminate()
            except Exception:
                pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            for p in self.tree():
                p.kill()
        self.log.close()


def label_agreement(run, out_dir: Path) -> tuple[float, float | None, float | None]:
    """Share of dev rows where the file path (TUNER_INFER_DTYPE as set, else auto: bf16 autocast where native)
    and fp32 pick the same label, and each one's accuracy."""
    from tuner.inference import Predictor

    lines = (SST2 / "dev.tsv").read_text(encoding="utf-8").splitlines()[1:]
    rows = [ln.split("\t", 1) for ln in lines if "\t" in ln]
    gold = [r[0].strip() for r in rows]
    picks = {}
    chosen = os.environ.get("TUNER_INFER_DTYPE", "auto")
    for dtype in ("fp32", "auto"):  # auto: the file path as set (bf16 autocast where native; int8 when asked)
        os.environ["TUNER_INFER_DTYPE"] = "fp32" if dtype == "fp32" else chosen
        pred = Predictor(run)
        picks[dtype] = [next(iter(p)) for p in pred.predict([r[1] for r in rows])]
        del pred
    os.environ.pop("TUNER_INFER_DTYPE", None)
    if chosen != "auto":
        os.environ["TUNER_INFER_DTYPE"] = chosen
    same = sum(a == b for a, b in zip(picks["fp32"], picks["auto"])) / len(gold)
    acc = {k: sum(a == g for a, g in zip(v, gold)) / len(gold) for k, v in picks.items()}
    return same, acc["fp32"], acc["auto"]


# ---- main ---------------------------------------------------------------------------------------------
ROWS = [  # key, label, unit, target (idle), lower is better
    ("inproc_p50", "classify 1 sentence, in process, p50", "ms", 20.0, True),
    ("inproc_p95", "classify 1 sentence, in process, p95", "ms", None, True),
    ("http_p50", "classify 1 sentence, app /classify (gradio_client), p50", "ms", None, True),
    ("http_p95", "classify 1 sentence, app /classify (gradio_client), p95", "ms", None, True),
    ("batch_rows_s", "batch prediction, SST-2 dev file", "rows/s", 500.0, False),
    ("chat_first_s", "chat: first text after the request", "s", 1.0, True),
    ("chat_tok_s", "chat: generated tokens/s", "tok/s", 10.0, False),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3, help="idle / training rounds, interleaved (at least 3)")
    ap.add_argument("--sentences", type=int, default=30, help="sentences per single-sentence measurement")
    ap.add_argument("--chat-tokens", type=int, default=48, help="max new tokens per chat answer")
    ap.add_argument("--run", help="a trained classification run folder to use instead of a fresh adapter")
    ap.add_argument("--no-agreement", action="store_true", help="skip the bf16 vs fp32 label comparison")
    args = ap.parse_args()
    if not SST2.is_dir():
        raise SystemExit(f"needs the shared datasets at {SST2}")
    rounds = max(3, args.rounds)

    tmp = Path(tempfile.mkdtemp(prefix="tuner-demo-bench-"))
    runs_dir = tmp / "runs"
    runs_dir.mkdir()
    os.environ.update(TUNER_RUNS_DIR=str(runs_dir), HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false",
                      GRADIO_ANALYTICS_ENABLED="False", HF_EVALUATE_OFFLINE="1")
    env = dict(os.environ)

    from gradio_client import Client

    from tuner import runs
    from tuner.inference import Predictor

    t_setup = time.time()
    if args.run:
        src = Path(args.run).resolve()
        import shutil

        cls_run = runs.Run(runs_dir / runs.new_run_id())
        shutil.copytree(src / "adapter", cls_run.adapter_dir)
        cls_run.set_status(state="completed", name="bench-classifier")
    else:
        cls_run = make_classifier_run()
    chat_base = make_chat_base(tmp / "chat-100m")
    chat_run = make_lora_run("chat", str(chat_base), {"task": "chat", "template": "auto", "system_prompt": "",
                                                      "max_new_tokens": args.chat_tokens, "max_length": 512},
                             "bench-chat")
    cls_pred, chat_pred = Predictor(cls_run), Predictor(chat_run)
    n_params = sum(p.numel() for p in chat_pred.model.parameters())
    texts = sentences(args.sentences)

    url, app = start_app(tmp / "app.log", env, own_session=False)  # in this session, beside the load
    client = Client(url, verbose=False)
    training = Training(runs_dir, env)
    try:
        # warm-up: load the app's predictor, first calls of each path
        client.predict(cls_run.id, texts[0], api_name="/classify")
        cls_pred.predict_one(texts[0])
        batch_file(cls_pred, tmp)  # the CPU kernels for each batch shape are built on first use
        chat(chat_pred, args.chat_tokens)
        training.wait_training(timeout=240)
        print(f"setup {time.time() - t_setup:.0f} s; training is stepping", file=sys.stderr)
        results: dict[str, dict[str, list[float]]] = {"idle": {}, "training": {}}
        for r in range(rounds):
            order = ["idle", "training"] if r % 2 == 0 else ["training", "idle"]
            for phase in order:
                if phase == "idle":
                    training.pause()
                else:
                    training.resume()
                    time.sleep(1.0)  # let the training threads take the cores again
                    if not training.still_running():
                        raise SystemExit("the training run finished before the measurements did; use fewer rounds")
                got = {**classify_inproc(cls_pred, texts), **classify_http(client, cls_run.id, texts[:20]),
                       **batch_file(cls_pred, tmp), **chat(chat_pred, args.chat_tokens)}
                for k, v in got.items():
                    results[phase].setdefault(k, []).append(v)
                print(f"round {r + 1} {phase}: " + ", ".join(f"{k} {v:.3g}" for k, v in got.items()), file=sys.stderr)
        training.pause()
        agreement = None if args.no_agreement else label_agreement(cls_run, tmp)
    finally:
        training.stop()
        stop_app(app)

    import torch

    from bench.machine import cpu_header
    from tuner.inference import inference_threads
    from tuner.models import cpu_has_fast_bf16

    print(f"\n{cpu_header()}\nDemo latency, idle vs. while `python -m tuner train recipes/classification.yaml` (SST-2) trains; "
          f"{rounds} interleaved rounds, medians. CPU: {os.cpu_count()} cores, inference threads "
          f"{inference_threads()}, file batches in {file_format(cls_pred)}, "
          f"single sentences and chat in {'bf16' if chat_pred.dtype == torch.bfloat16 else 'fp32'} "
          f"(native bf16: {cpu_has_fast_bf16()}); chat model {n_params / 1e6:.0f}M parameters, "
          f"{statistics.median(results['idle']['chat_tokens']):.0f} tokens per answer.\n")
    print("| measure | idle | under training | ratio | target | met? |")
    print("|---|---:|---:|---:|---|---|")
    for key, label, unit, target, lower in ROWS:
        idle, busy = statistics.median(results["idle"][key]), statistics.median(results["training"][key])
        ratio = busy / idle if lower else idle / busy  # > 1 = slower under training
        checks, goal = [ratio <= 1.5], ["<= 1.5x slower"]
        if target is not None:
            checks.append(idle <= target if lower else idle >= target)
            goal.insert(0, f"{'<=' if lower else '>='} {target:g} {unit}")
        fmt = (lambda v: f"{v:.1f}") if unit in ("ms", "tok/s") else (lambda v: f"{v:.2f}" if unit == "s" else f"{v:.0f}")
        print(f"| {label} | {fmt(idle)} {unit} | {fmt(busy)} {unit} | {ratio:.2f}x | {', '.join(goal)} | "
              f"{'yes' if all(checks) else 'NO'} |")
    if agreement is not None:
        same, acc32, acc16 = agreement
        print(f"\n{file_format(cls_pred)} vs fp32 on the SST-2 dev file ({'trained run' if args.run else 'fresh adapter'}): "
              f"same label on {100 * same:.1f}% of rows; accuracy fp32 {acc32:.3f}, {file_format(cls_pred)} {acc16:.3f}.")


def file_format(pred) -> str:
    """How a Predictor computes a file's batches: bf16 autocast (native bf16), dynamic int8 (TUNER_INFER_DTYPE=int8),
    or fp32."""
    import torch

    if pred._batch_dtype == torch.bfloat16:
        return "bf16 autocast"
    return "dynamic int8" if getattr(pred, "_int8", False) else "fp32"


if __name__ == "__main__":
    main()
