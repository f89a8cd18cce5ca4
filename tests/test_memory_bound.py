"""Memory follows what a run uses (issue #23): only the rows the plan can reach are tokenized (a seeded sample that
keeps every label), tokens live in Arrow, the classical baseline and the validation split are capped, and the
training process refuses, in one sentence and before reading, a file this machine cannot hold.

Figures behind the bounds: docs/performance.md ("Memory on a large upload", bench/memory_large_file.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from tuner import memory, runs
from tuner import train as train_mod
from tuner.config import RunConfig
from tuner.errors import TunerError

REPO = Path(__file__).resolve().parents[1]
MB = 1024 ** 2
WORDS = np.array("the a my order card refund parcel app login email invoice delivery payment error screen update "
                 "address number please thanks late broken missing wrong help".split())


def write_csv(path: Path, rows: int, words: int = 8, seed: int = 0) -> Path:
    """`rows` texts of `words` words and 3 labels in proportions 6:3:1 (a rare label to keep)."""
    rng = np.random.default_rng(seed)
    body = WORDS[rng.integers(0, len(WORDS), (rows, words))]
    labels = np.array(["billing"] * 6 + ["shipping"] * 3 + ["rare"])[rng.integers(0, 10, rows)]
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("text,label\n")
        fh.write("".join(f"{' '.join(b)} {i},{lab}\n" for i, (b, lab) in enumerate(zip(body, labels))))
    return path


# ---- the sample ----------------------------------------------------------------------------------
def test_sample_is_seeded_stratified_and_nested():
    labels = [0] * 600 + [1] * 390 + [2] * 10
    a = train_mod.sample_indices(len(labels), 64, seed=3, labels=labels)
    assert a == sorted(set(a)) and len(a) == 64
    counts = Counter(labels[i] for i in a)
    assert set(counts) == {0, 1, 2} and abs(counts[0] - 38) <= 1 and abs(counts[1] - 25) <= 1  # shares kept
    assert train_mod.sample_indices(len(labels), 64, seed=3, labels=labels) == a  # the same seed, the same rows
    assert train_mod.sample_indices(len(labels), 64, seed=4, labels=labels) != a
    assert set(a) <= set(train_mod.sample_indices(len(labels), 200, seed=3, labels=labels))  # more rows keep these
    few = train_mod.sample_indices(len(labels), 2, seed=3, labels=labels)  # fewer rows than labels: the largest
    assert sorted(labels[i] for i in few) == [0, 1]
    assert train_mod.sample_indices(10, 50, seed=0) == list(range(10))


def test_rows_used_follow_the_plan():
    def cfg(**train):
        return RunConfig.from_dict({"train": {"batch_size": 8, "max_batch_size": 0, **train}})

    assert train_mod.rows_used(cfg(max_examples=64), 50_000) == 64
    assert train_mod.rows_used(cfg(max_examples=70), 50_000) == 72  # whole steps of 8
    assert train_mod.rows_used(cfg(epochs=0.5), 50_000) == 25_000  # half an epoch reaches half the rows
    assert train_mod.rows_used(cfg(epochs=3), 50_000) == 50_000  # every row is seen
    assert train_mod.rows_used(cfg(max_examples=64, grad_accum=4), 50_000, world_size=2) == 64


# ---- the training process tokenizes only the rows it uses ---------------------------------------------
def test_a_capped_run_tokenizes_only_the_rows_it_uses(tiny_model_dir, runs_dir, tmp_path, monkeypatch):
    """50,000 rows and train.max_examples=64: the tokenizer sees 64 training rows (it saw all 48,000 before)."""
    from transformers import PreTrainedTokenizerBase

    from tuner import classical
    from tuner.tasks import get_task

    path = write_csv(tmp_path / "big.csv", 50_000)
    seen: list[int] = []
    call = PreTrainedTokenizerBase.__call__

    def counting(self, text=None, *args, **kwargs):
        seen.append(len(text) if isinstance(text, (list, tuple)) else 1)
        return call(self, text, *args, **kwargs)

    monkeypatch.setattr(PreTrainedTokenizerBase, "__call__", counting)
    task = get_task("classification")
    encode, encoded = task.encode, []

    def recording(split, tokenizer, max_length):
        before = sum(seen)
        ds = encode(split, tokenizer, max_length)
        encoded.append((sum(seen) - before, len(ds), list(split["label"])))
        return ds

    monkeypatch.setattr(task, "encode", recording)
    monkeypatch.setattr(classical, "MAX_ROWS", 3000)  # the baseline's cap, small here to keep the test fast
    cfg = RunConfig.from_dict({
        "data": {"train_file": str(path), "validation_max_rows": 300},
        "model": {"name": str(tiny_model_dir), "max_length": 32}, "adapter": {"r": 4},
        "train": {"epochs": 1, "max_examples": 64, "batch_size": 8, "evals": 0, "precision": "fp32"},
    })
    run = runs.create_run(cfg)
    result = train_mod.train(RunConfig.load(run.config_path), run)
    assert result["steps"] == 8
    (train_rows, train_len, train_labels), (val_rows, val_len, _) = encoded
    assert train_rows == train_len == 64  # not 49,700
    assert val_rows == val_len and abs(val_len - 300) <= 3  # the held-out share, capped
    assert sum(seen) < 1000  # the language check reads a sample of 500 rows; nothing else tokenizes
    counts = Counter(train_labels)
    assert len(counts) == 3 and counts.most_common(1)[0][1] >= 30  # every label, the majority's share kept
    n_train = 50_000 - val_len
    start = next(e for e in run.events() if e["type"] == "start")
    assert start["train_rows"] == n_train and start["tokenized_rows"] == 64  # the verdict sees a cut first pass
    assert sum(start["label_rows"].values()) == n_train  # label counts of every training row
    report = run.metrics()
    assert report["classical"]["fit_rows"] == 3000
    assert f"fitted on 3,000 of {n_train:,} training rows" in report["classical"]["name"]
    tokenizing = next(e for e in run.events() if e.get("phase") == "tokenizing")
    assert tokenizing["message"] == f"Tokenizing 64 of {n_train:,} training rows (all the run can use)…"


def test_a_validation_file_is_capped(tmp_path):
    from tuner.tasks import get_task

    cfg = RunConfig.from_dict({"data": {"train_file": str(write_csv(tmp_path / "t.csv", 300)),
                                        "validation_file": str(write_csv(tmp_path / "v.csv", 5000, seed=1)),
                                        "validation_max_rows": 400}})
    splits = get_task("classification").load_splits(cfg)
    val = train_mod.capped_validation(splits, cfg)
    assert len(val["text"]) == 400 and len(set(val["label"])) == 3
    assert any("5,000 rows; a sample of 400" in w for w in splits.warnings)


def test_chat_encodes_in_chunks_as_one_pass_would(monkeypatch):
    """Conversations are encoded a chunk at a time; packing carries the unfilled row across chunks."""
    from tuner import tiny_models
    from tuner.tasks import common, get_task
    from tuner.tasks.chat import format as cf

    tok = tiny_models.make_tokenizer("qwen2")
    convs = [[{"role": "user", "content": "q" * (5 + i % 17)}, {"role": "assistant", "content": "a" * (3 + i % 11)}]
             for i in range(50)]
    whole = cf.pack([cf.encode(c, "chatml", tok, 128) for c in convs], 128)
    monkeypatch.setattr(common, "ENCODE_BATCH", 7)
    ds = get_task("chat").encode({"conversations": convs, "template": "chatml", "packing": True}, tok, 128)
    assert [list(x) for x in ds["input_ids"]] == [r["input_ids"] for r in whole]
    assert [list(x) for x in ds["position_ids"]] == [r["position_ids"] for r in whole]
    plain = get_task("chat").encode({"conversations": convs, "template": "chatml"}, tok, 128)
    assert len(plain) == 50 and list(plain["input_ids"][9]) == cf.encode(convs[9], "chatml", tok, 128).input_ids


# ---- a bounded read ------------------------------------------------------------------------------
CHILD = textwrap.dedent("""
    import json, resource, sys
    def peak(): return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    from tuner import models, train
    from tuner.config import RunConfig
    from tuner.tasks import get_task
    import datasets, transformers  # imported before the baseline is taken, as in the training process
    tokenizer = models.load_tokenizer(models.resolve("default"))
    base = peak()
    cfg = RunConfig.from_dict({"data": {"train_file": sys.argv[1]}, "train": {"max_examples": 64}})
    task = get_task("classification")
    splits = task.load_splits(cfg)
    n = train.split_rows(splits.train)
    used = train.rows_used(cfg, n)
    ds = task.encode(train.sample_split(splits.train, used, cfg.seed), tokenizer, 128)
    val = task.encode(train.capped_validation(splits, cfg), tokenizer, 128)
    print("RESULT " + json.dumps({"base": base, "peak": peak(), "rows": n, "tokenized": len(ds) + len(val)}))
""")


def test_reading_a_large_file_stays_inside_the_stated_bound(tmp_path):
    """200,000 rows read, checked, sampled and tokenized (64 + 2,000 validation rows) in a fresh process: the peak
    over the process's memory before reading stays under memory.reading_need(file) plus the tokenized rows."""
    path = write_csv(tmp_path / "large.csv", 200_000, words=16)
    proc = subprocess.run([sys.executable, "-c", CHILD, str(path)], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
    assert line, proc.stderr[-3000:]
    r = json.loads(line[7:])
    size, rows = memory.file_shape(path)
    assert rows == 200_001 and r["tokenized"] == 64 + 2000
    bound = memory.reading_need(size, rows) + memory.TOKENIZED_PER_ROW * r["tokenized"]  # ~370 MB; ~280 MB used
    used = r["peak"] - r["base"]
    assert used <= bound, f"{used / MB:.0f} MB over {bound / MB:.0f} MB for a {size / MB:.0f} MB file"


# ---- the refusal ---------------------------------------------------------------------------------
def test_a_file_too_large_for_the_free_memory_is_refused_before_reading(tmp_path, runs_dir, monkeypatch):
    from tuner.tasks import get_task
    from tuner.ui.i18n import translate_error

    path = write_csv(tmp_path / "t.csv", 20_000)
    size, rows = memory.file_shape(path)
    need = memory.reading_need(size, rows)
    cfg = RunConfig.from_dict({"data": {"train_file": str(path)}})
    memory.check_reading(cfg, available=2 * need)  # room enough: nothing said
    half = int((memory.READ_BASE + (need - memory.READ_BASE) / 2) / memory.HEADROOM)  # room for about half the rows
    with pytest.raises(TunerError) as err:
        memory.check_reading(cfg, available=half)
    text = str(err.value)
    assert text.startswith(f"The file is {size / MB:.0f} MB; reading it needs about {need / MB:.0f} MB of memory and "
                           f"this machine has {half / MB:.0f} MB free; upload a sample of at most about ")
    assert text.endswith(f" of its {rows:,} rows, or free some memory.") and "\n" not in text
    fit = int(text.split("at most about ")[1].split(" ")[0].replace(",", ""))
    assert 0.45 * rows <= fit <= 0.5 * rows
    assert err.value.zh and "内存" in err.value.zh and translate_error(text, "zh") != text
    with pytest.raises(TunerError, match="this machine has 10 MB free; free some memory .stop other runs or programs. or "
                                         "train on a machine with more.$") as err:
        memory.check_reading(cfg, available=10 * MB)  # not even the reader's own buffers fit
    assert translate_error(str(err.value), "zh") != str(err.value)

    # the training process says it before it reads anything
    monkeypatch.setattr(memory, "available_memory", lambda: need // 4)
    monkeypatch.setattr(get_task("classification"), "load_splits", lambda cfg: pytest.fail("read the file"))
    run = runs.create_run(cfg)
    with pytest.raises(TunerError, match="reading it needs about"):
        train_mod.train(RunConfig.load(run.config_path), run)


def test_available_memory_takes_the_smaller_of_machine_and_cgroup(monkeypatch):
    monkeypatch.setattr(memory, "device_free_bytes", lambda device="auto": ("CPU", 8 * 1024 ** 3))
    monkeypatch.setattr(memory, "_cgroup_room", lambda: 2 * 1024 ** 3)
    assert memory.available_memory() == 2 * 1024 ** 3
    monkeypatch.setattr(memory, "_cgroup_room", lambda: None)
    assert memory.available_memory() == 8 * 1024 ** 3
