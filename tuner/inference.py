"""Load base model + adapter once per run, then predict. Inputs are bounded; results are plain Python."""

from __future__ import annotations

import collections
import contextlib
import logging
import threading
from pathlib import Path

from . import environment
from .cpu import threads as cpu_threads
from .errors import DataError, RunError
from .runs import Run
from .tasks.common import MAX_TEXT_CHARS as MAX_TEXT_CHARS  # the UI's text boxes take this many characters
from .tasks.common import bounded

log = logging.getLogger("tuner.inference")

CACHE_SIZE = 3
MAX_CHAT_TURNS = 50         # past user/assistant pairs kept in a chat prompt (older ones are dropped first)
MAX_CHAT_CONTEXT = 4096     # prompt + answer tokens, at most (or the model's own limit when smaller)
MAX_NEW_TOKENS = 1024       # longest answer a chat request may ask for
STREAM_TIMEOUT_S = 300      # longest wait for the next piece of a streamed answer
LOCK_TIMEOUT_S = 120        # longest wait for another answer on the same model to finish
BF16_MIN_ROWS = 64          # batches this large run under bf16 autocast on CPUs with native bf16
SHORT_ROWS = BF16_MIN_ROWS  # fewer texts than this are a short request (Try it): a lane of their own, fp32


class Predictor:
    """A finetuned model ready to answer: base + adapter merged, eval mode, on the CPU or first GPU."""

    def __init__(self, run: Run):
        from . import methods, models
        from .tasks import get_task

        if run.status().get("state") == "failed":
            raise RunError(f"Run {run.id} failed, so its adapter is not offered; pick a finished run.")
        if not run.has_adapter():
            raise RunError(f"Run {run.id} has no saved adapter yet; pick a finished run.")
        self.run = run
        self.meta = run.meta()
        self.task = get_task(self.meta["task"])
        self.max_length = int(self.meta.get("max_length", 128))
        source = models.resolve(self.meta["base_model"])
        self.tokenizer = models.load_tokenizer(str(run.adapter_dir))
        method = self.meta.get("method", "lora")  # every peft method, or full/freeze trained tensors
        generative, with_base = self.task.generative, self.task.compares_with_base
        # encoders read whole texts: eager attention on the CPU (models.fast_attention); generation keeps the default
        attention = {} if generative else {"attn_implementation": models.fast_attention()}
        base = self.task.build_model(source, self.meta, **attention)
        model = methods.load(base, run.adapter_dir, method, keep_base=with_base)
        if with_base:
            # Not merged: the chat compares the base model's answers (adapter disabled) with the finetuned ones.
            self.model = model.eval()
        elif methods.mergeable(method):
            self.model = model.merge_and_unload().eval()
        else:  # prompt learning keeps its virtual tokens; full/freeze are plain models already
            self.model = model.eval()
        if generative:
            self._init_chat()
        self._lock = threading.Lock()  # one forward at a time per model keeps latency predictable
        self._short_lock = threading.Lock()  # ... and one short request beside it (`predict`)
        self._short_tokenizer = None
        self._prepare_for_speed()
        cpu_threads.release()  # loading made this thread an OpenMP team; answers run on the compute thread's

    # ---- speed (bench/demo_latency.py measures each choice) -------------------------------------------
    def _prepare_for_speed(self) -> None:
        """Bounded CPU threads, bf16 autocast for large batches on CPUs with native bf16, and (chat) the adapter folded into
        the weights so each generated token is one plain forward; the base weights it replaced are kept
        aside for the chat's 'before finetuning' answers."""
        import torch

        self._base_swap: list = []
        on_cpu = next(self.model.parameters()).device.type == "cpu"
        if on_cpu:
            bound_threads()
        if hasattr(self, "template") and getattr(self.model, "peft_config", None) is not None:
            self._fold_chat_adapter()
        # Weights stay fp32 (exact answers for a sentence, and token-by-token generation is slower in bf16 on
        # the CPU); large batches run under bf16 autocast instead (`predict`). TUNER_INFER_DTYPE=bf16 casts.
        self.dtype = torch.bfloat16 if on_cpu and environment.get("TUNER_INFER_DTYPE") == "bf16" else None
        self._batch_dtype = inference_dtype(self.model, generation=hasattr(self, "template")) if on_cpu else None
        # TUNER_INFER_DTYPE=int8: a file's batches on an int8 copy, made at the first one (opt-in: it changes labels)
        self._int8 = on_cpu and self._batch_dtype is None and int8_batches(self.model)
        self._batch_model = None
        if self.dtype is not None:
            self.model.to(self.dtype)
            self._base_swap = [(p, w.to(self.dtype)) for p, w in self._base_swap]

    def _fold_chat_adapter(self) -> None:
        """Merge a LoRA-style adapter of a chat run into its base weights (peft merge_and_unload), keeping a
        copy of each replaced base weight so `base=True` answers can swap them back in."""
        from . import methods

        peft_model = self.model
        if not methods.mergeable(self.meta.get("method", "lora")):
            return
        if any(getattr(c, "modules_to_save", None) for c in peft_model.peft_config.values()):
            return  # whole trained modules: the unmerged model's disable_adapter() handles those
        from peft.tuners.tuners_utils import BaseTunerLayer

        swap = []
        for module in peft_model.modules():
            if isinstance(module, BaseTunerLayer):
                param = getattr(module.get_base_layer(), "weight", None)  # the methods fold into weights only
                if param is not None:
                    swap.append((param, param.detach().clone()))
        self.model = peft_model.merge_and_unload().eval()  # the base layers stay the same objects
        self._base_swap = swap

    @contextlib.contextmanager
    def base_weights(self):
        """Inside: the model answers as before finetuning."""
        if not self._base_swap:
            with self.model.disable_adapter():
                yield
            return
        merged = [(p, p.data) for p, _ in self._base_swap]
        for p, w in self._base_swap:
            p.data = w
        try:
            yield
        finally:
            for p, w in merged:
                p.data = w

    @property
    def labels(self) -> list[str]:
        return list(self.meta.get("labels", []))

    def compute(self, fn, *args, **kwargs):
        """`fn(*args, **kwargs)` on the compute thread (tuner/cpu/threads.py) while this model's lock is held here,
        in the calling thread."""
        with self._lock:
            return cpu_threads.call(fn, *args, **kwargs)

    def predict(self, texts: list[str]) -> list[dict]:
        """Predictions for `texts`. Fewer than SHORT_ROWS texts (a Try-it sentence, a batch of them) take a lane of
        their own: they wait for other short requests on this model, never for a file's rows (issue #23: a
        sentence waited 141 s behind two 20k-row files). Both lanes read the same weights; each has its own
        tokenizer, since a fast tokenizer must not be called from two threads at once."""
        texts = [bounded(t) for t in texts]
        if len(texts) < SHORT_ROWS and not hasattr(self, "template"):  # a chat model stays one answer at a time
            with self._short_lock:
                if self._short_tokenizer is None:
                    import copy

                    self._short_tokenizer = copy.deepcopy(self.tokenizer)
                return cpu_threads.call(self._predict_short, texts)
        return self.compute(self._predict_now, texts)

    def _predict_short(self, texts: list[str]) -> list[dict]:
        """A short request on `short_threads()` CPU threads (torch's setting is per thread; restored after)."""
        import torch

        before, wanted = torch.get_num_threads(), short_threads()
        if wanted >= before:
            return self._predict_now(texts, self._short_tokenizer)
        torch.set_num_threads(wanted)
        try:
            return self._predict_now(texts, self._short_tokenizer)
        finally:
            torch.set_num_threads(before)

    def predict_each(self, texts: list[str], empty: str = "Type some text to classify.") -> list:
        """The batched entry point (Gradio's batched Classify / Tag): one padded forward for the texts of many
        requests, in their order; an empty text gets a DataError(`empty`) in its place, and the others their answers."""
        out: list = [None if (t or "").strip() else DataError(empty) for t in texts]
        todo = [i for i, r in enumerate(out) if r is None]
        for i, result in zip(todo, self.predict([texts[i] for i in todo]) if todo else []):
            out[i] = result
        return out

    def _predict_now(self, texts: list[str], tokenizer=None) -> list[dict]:
        with self._batch_precision(len(texts)):  # autocast is per thread: entered on the computing thread
            return self.task.predict(self._model_for(len(texts)), tokenizer or self.tokenizer, texts, self.meta,
                                     self.max_length)

    def _model_for(self, rows: int):
        """The model a batch of `rows` texts runs on: the dynamic-int8 copy for a file's rows under
        TUNER_INFER_DTYPE=int8 (tuner/cpu/int8.py), else the model itself (exact for a few sentences)."""
        if not self._int8 or rows < BF16_MIN_ROWS:
            return self.model
        if self._batch_model is None:
            from .cpu.int8 import quantized_copy

            self._batch_model = quantized_copy(self.model)
            if self._batch_model is None:  # this PyTorch has no dynamic int8: fp32 from now on
                self._int8 = False
                return self.model
        return self._batch_model

    def _batch_precision(self, rows: int):
        """bf16 autocast for a file's worth of rows on CPUs with native bf16 (~1.6x faster batched matmuls,
        the same labels: bench/demo_latency.py); fp32 for a few sentences, so the Try-it answer is exact."""
        if self._batch_dtype is None or rows < BF16_MIN_ROWS:
            return contextlib.nullcontext()
        import torch

        return torch.autocast("cpu", dtype=self._batch_dtype)

    def predict_one(self, text: str) -> dict:
        if not (text or "").strip():
            raise DataError("Type some text to classify.")
        return self.predict([text])[0]

    def predict_file(self, path: str | Path, out_path: str | Path, text_columns: list[str] | None = None) -> dict:
        """Predict every row of a file, written in the task's format (a CSV with the predicted columns; entity
        tagging writes JSON Lines): {rows, path, label_counts[, left_out]}."""
        return self.task.predict_file(self, path, out_path, text_columns)

    def evaluate_file(self, path: str | Path) -> dict:
        """Score a labelled file with the same report as training's evaluation."""
        report = self.task.evaluate_file(self, path)
        return {"task": self.task.name, **report} if "task" not in report else report

    def classical_floors(self, texts: list[str], refs: list[int]) -> dict:
        """The classical baseline refitted on the run's own training rows (seconds), scored on these rows; {} when
        the training file is gone or the task has none."""
        if self.task.classical_floor is None:
            return {}
        try:
            splits = self.task.load_splits(self.run.config())
        except Exception:  # a deleted or changed training file leaves the report without it
            log.info("no classical baseline for %s: its training data cannot be read", self.run.id)
            return {}
        if list(splits.meta.get("labels", [])) != list(self.labels):
            return {}
        return self.task.classical_floor(splits, texts, refs)

    def with_verdict(self, report: dict) -> dict:
        """`report` with the one-sentence verdict (tuner.verdict) on this run."""
        from . import verdict

        facts = verdict.facts_from_run(self.run, {**report, **{k: v for k, v in (self.run.metrics() or {}).items()
                                                               if k in ("steps", "stopped", "train_seconds")}})
        judged = verdict.judge(report, facts, self.task.headline_metric, self.task.floors)
        if judged:
            report["verdict"] = judged
        return report

    # ---- chat (runs of the chat task) ------------------------------------------------------------
    def _init_chat(self) -> None:
        import torch

        from .tasks.chat import format as chat_format

        chat_format.ensure_pad_token(self.tokenizer)
        if torch.cuda.is_available():
            self.model.to("cuda")
        self.template = chat_format.resolve_template(self.meta.get("template", "auto"), self.tokenizer)
        self.system_prompt = str(self.meta.get("system_prompt", ""))
        config = self.model.config
        positions = getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None) or 2048
        self.context_tokens = min(int(positions), MAX_CHAT_CONTEXT)

    def chat_messages(self, history, message: str, system_prompt: str | None = None) -> list[dict]:
        """System turn + bounded history (Gradio messages or plain dicts) + the new user message."""
        message = bounded(message).strip()
        if not message:
            raise DataError("Type a message first.")
        system = self.system_prompt if system_prompt is None else bounded(system_prompt).strip()
        turns = []
        for item in list(history or [])[-2 * MAX_CHAT_TURNS:]:
            role = item.get("role") if isinstance(item, dict) else getattr(item, "role", None)
            content = _message_text(item.get("content") if isinstance(item, dict) else getattr(item, "content", ""))
            if role in ("user", "assistant") and content.strip():
                turns.append({"role": role, "content": bounded(content).strip()})
        while turns and turns[0]["role"] != "user":  # a template needs the conversation to open with the user
            turns.pop(0)
        messages = [{"role": "system", "content": system}] if system else []
        return messages + turns + [{"role": "user", "content": message}]

    def chat_prompt_ids(self, messages: list[dict], max_new_tokens: int) -> list[int]:
        """Prompt ids that fit the context with room for the answer: the oldest turns are dropped first."""
        from .tasks.chat import format as chat_format

        budget = self.context_tokens - max_new_tokens
        system = messages[:1] if messages and messages[0]["role"] == "system" else []
        rest = messages[len(system):]
        while True:
            ids = chat_format.prompt_ids(system + rest, self.template, self.tokenizer)
            if len(ids) <= budget:
                return ids
            if len(rest) <= 1:
                raise DataError(f"The message is about {len(ids):,} tokens with the system prompt; the limit is {budget:,} "
                                f"tokens (context {self.context_tokens:,} minus {max_new_tokens} for the answer); shorten it.")
            rest = rest[2:] if len(rest) > 2 else rest[-1:]
            while rest and rest[0]["role"] != "user":
                rest = rest[1:]

    def chat_stream(self, history, message: str, *, system_prompt: str | None = None, temperature: float = 0.0,
                    top_p: float = 1.0, max_new_tokens: int | None = None, stop=None, base: bool = False):
        """Yield the reply so far, piece by piece, as the model writes it. `base=True` answers with the adapter
        disabled (the model before finetuning). Closing the generator stops the generation."""
        import torch

        from .reply_stream import ReplyStreamer
        from .tasks.chat.generate import cut_at_stop, generation_kwargs

        if not hasattr(self, "template"):
            raise RunError(f"Run {self.run.id} is not a chat run; use the Try it tab for it.")
        max_new_tokens = _clamp_int(max_new_tokens or self.meta.get("max_new_tokens", 128), 1, MAX_NEW_TOKENS, "max new tokens")
        temperature = _clamp_float(temperature, 0.0, 2.0, "temperature")
        top_p = _clamp_float(top_p, 0.01, 1.0, "top-p")
        stops = parse_stops(stop)
        ids = self.chat_prompt_ids(self.chat_messages(history, message, system_prompt), max_new_tokens)
        cancel = threading.Event()
        kw, stop_strings = generation_kwargs(self.tokenizer, self.template, len(ids), max_new_tokens, temperature,
                                             top_p, stops, cancel)
        streamer = ReplyStreamer(self.tokenizer, timeout=STREAM_TIMEOUT_S)  # the reply so far, after every token
        device = next(self.model.parameters()).device
        input_ids = torch.tensor([ids], device=device)
        failure: list[BaseException] = []

        def work():
            try:
                ctx = self.base_weights() if base else contextlib.nullcontext()
                with ctx, torch.inference_mode():
                    self.model.generate(input_ids=input_ids, attention_mask=torch.ones_like(input_ids),
                                        streamer=streamer, **kw)
            except BaseException as exc:  # re-raised in the consuming thread
                failure.append(exc)
                streamer.end()

        if not self._lock.acquire(timeout=LOCK_TIMEOUT_S):
            raise RunError("The model is busy answering another message; try again in a moment.")
        try:
            job = cpu_threads.submit(work)
            text, shown = "", None
            for text in streamer:
                visible = cut_at_stop(text, stop_strings)
                if visible != text:  # a stop string appeared: show what came before it and finish
                    cancel.set()
                    shown = visible.rstrip()
                    yield shown
                    break
                visible = text[:len(text) - _held_back(text, stop_strings)]
                if visible and visible != shown:
                    shown = visible
                    yield visible
            if failure:
                raise failure[0]
            final = cut_at_stop(text, stop_strings).strip()
            if final != shown:
                yield final
        finally:
            cancel.set()
            if not job.cancel():  # not started yet: it never will; started: it stops at the next token
                job.exception()  # waits for it to end
            self._lock.release()

    def chat(self, history, message: str, **kwargs) -> str:
        """The whole reply (what `chat_stream` ends with)."""
        reply = ""
        for reply in self.chat_stream(history, message, **kwargs):
            pass
        return reply



def inference_threads() -> int:
    """CPU threads a forward may use: TUNER_INFER_THREADS, else every core (at most 8). A training child beside
    the app runs at a lower priority (TUNER_TRAIN_NICE, TUNER_TRAIN_SCHED), so the demo keeps its speed during training
    (bench/demo_latency.py: 2 threads 277 file rows/s vs 170 with 1, p50 within 1.4x while training)."""
    import os

    return environment.get("TUNER_INFER_THREADS") or max(1, min(8, os.cpu_count() or 1))


def short_threads() -> int:
    """CPU threads for a short request (Try it: a sentence, or a batch of them): TUNER_SHORT_THREADS, else 1. Two
    threads must meet at every op of a forward, and under load (the web server's own threads, many clients, a file's
    forward beside it) one of them is often waiting for a core: 20 clients got 3.5x the answers with 1 thread, p50
    0.47-0.52 s against 1.76-1.84 s with 2 (bench/concurrency.py, docs/performance.md)."""
    return environment.get("TUNER_SHORT_THREADS")


_THREADS_SET = False


def bound_threads() -> None:
    """Set torch's CPU thread pool and malloc thresholds once per process (both are process-wide)."""
    global _THREADS_SET
    if not _THREADS_SET:
        import torch

        from tuner.cpu import malloc as cpu_malloc

        torch.set_num_threads(inference_threads())
        cpu_malloc.keep_freed_memory()  # a batch's freed tensors stay for the next batch
        _THREADS_SET = True


def inference_dtype(model, generation: bool = False):
    """The dtype large CPU batches compute in: bf16 for fp32 models where the CPU computes bf16 natively
    (AVX512-BF16/AMX: ~1.6x faster batched matmuls, same labels, bench/demo_latency.py), else None (as the
    weights are). Generation (`generation=True`) keeps fp32: one-row matmuls are slower in bf16 on the CPU.
    TUNER_INFER_DTYPE=fp32 keeps fp32; =bf16 forces bf16."""
    import torch

    from .models import cpu_has_fast_bf16

    choice = environment.get("TUNER_INFER_DTYPE")
    params = list(model.parameters())
    if choice == "fp32" or not params or any(p.dtype != torch.float32 for p in params):
        return None  # quantized or already reduced weights stay as they are
    if choice == "bf16" or (cpu_has_fast_bf16() and not generation):
        return torch.bfloat16
    return None


def int8_batches(model) -> bool:
    """Whether a file's batches run on a dynamic-int8 copy of `model`: only under TUNER_INFER_DTYPE=int8, for an
    fp32 sequence classifier on the CPU. Not the default anywhere: on an AVX2-only CPU it predicted SST-2 dev
    ~1.4x faster but changed 4-6% of a trained run's labels and cost 0.7-1.0 points of accuracy
    (docs/performance.md, issue #27)."""
    import torch

    if environment.get("TUNER_INFER_DTYPE") != "int8" or not type(model).__name__.endswith("ForSequenceClassification"):
        return False
    params = list(model.parameters())
    return bool(params) and all(p.dtype == torch.float32 and p.device.type == "cpu" for p in params)


def _message_text(content) -> str:
    """Text of a chat message's content: a string, or Gradio's list of parts ({'type': 'text', 'text': ...})."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        return str(content.get("text") or content.get("content") or "")
    if isinstance(content, (list, tuple)):
        return "\n".join(_message_text(c) for c in content if isinstance(c, (str, dict)))
    return ""


def parse_stops(stop) -> list[str]:
    """Stop strings from a list or a comma-separated string ('\\n' means a newline); at most 4, 32 characters each."""
    if not stop:
        return []
    items = stop.split(",") if isinstance(stop, str) else list(stop)
    out = []
    for item in items:
        s = str(item).replace("\\n", "\n")
        if s.strip(" "):
            out.append(s[:32])
    if len(out) > 4:
        raise DataError(f"Give at most 4 stop strings (got {len(out)}).")
    return out


def _held_back(text: str, stops: list[str]) -> int:
    """How many characters at the end of `text` could be the start of a stop string (not shown yet)."""
    hold = 0
    for s in stops:
        for k in range(min(len(s) - 1, len(text)), hold, -1):
            if text.endswith(s[:k]):
                hold = k
                break
    return hold


def _clamp_int(value, lo: int, hi: int, name: str) -> int:
    try:
        number = int(float(value))
    except (TypeError, ValueError):
        raise DataError(f"The {name} must be a whole number between {lo} and {hi}.") from None
    if not lo <= number <= hi:
        raise DataError(f"The {name} must be between {lo} and {hi}, got {number}.")
    return number


def _clamp_float(value, lo: float, hi: float, name: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise DataError(f"The {name} must be a number between {lo} and {hi}.") from None
    if not (lo <= number <= hi):
        raise DataError(f"The {name} must be between {lo} and {hi}, got {number}.")
    return number


_CACHE: collections.OrderedDict[str, Predictor] = collections.OrderedDict()
_CACHE_LOCK = threading.Lock()


def get_predictor(run: Run) -> Predictor:
    """A cached Predictor per run (the few most recently used stay loaded)."""
    key = f"{run.id}:{run.adapter_dir.stat().st_mtime_ns if run.has_adapter() else 0}"
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    predictor = Predictor(run)
    with _CACHE_LOCK:
        _CACHE[key] = predictor
        while len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)
    return predictor
