"""Shared fixtures: a tiny BERT built in-process, an isolated runs folder, a small realistic CSV.

No test touches a hub: the environment below is set before anything imports transformers/evaluate.
"""

from __future__ import annotations

import csv
import os
import random
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_EVALUATE_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"

TINY_BERT = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                 max_position_embeddings=128)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A tiny random BertModel (no head) + the bundled MiniLM tokenizer, saved as safetensors."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from tuner.models import bundled_model_dir

    tokenizer = AutoTokenizer.from_pretrained(str(bundled_model_dir()))
    config = BertConfig(vocab_size=tokenizer.vocab_size, **TINY_BERT)
    torch.manual_seed(0)
    model = BertModel(config)
    out = tmp_path_factory.mktemp("tiny-bert")
    model.save_pretrained(str(out), safe_serialization=True)
    tokenizer.save_pretrained(str(out))
    return out


@pytest.fixture
def runs_dir(tmp_path, monkeypatch) -> Path:
    """An empty runs folder, made the active one through TUNER_RUNS_DIR."""
    root = tmp_path / "runs"
    root.mkdir()
    monkeypatch.setenv("TUNER_RUNS_DIR", str(root))
    return root


BILLING = [
    "I was charged twice for my {plan} subscription this month",
    "Please refund the duplicate payment on my {card} card",
    "My invoice shows the wrong amount for the {plan} plan",
    "Why did my credit card get billed after I cancelled",
    "The receipt lists a fee I never agreed to, please refund it",
    "Can you update the billing address on my {card} invoice",
]
SHIPPING = [
    "My parcel has not arrived and the tracking number shows nothing",
    "The courier left the package at the wrong address",
    "When will my order ship to {city}",
    "The delivery was delayed again, the box is still in the warehouse in {city}",
    "Tracking says delivered but no parcel came to {city}",
    "Can I change the shipping address before the courier picks it up",
]
TECHNICAL = [
    "The app crashes when I open the settings screen on {os}",
    "I get error 500 after logging in on {os}",
    "The login page freezes and the password reset email never loads",
    "After the update the software will not start on {os}",
    "Sync fails with a timeout error on my {os} laptop",
    "The screen goes blank and the app crashes on {os}, please fix the bug",
]
FILL = {
    "plan": ["premium", "basic", "family", "business", "annual"],
    "card": ["Visa", "Mastercard", "debit", "Amex"],
    "city": ["Leeds", "Lyon", "Austin", "Osaka", "Porto"],
    "os": ["Windows", "macOS", "Android", "iOS", "Linux"],
}


def make_rows(per_label: int = 30, seed: int = 0) -> list[tuple[str, str]]:
    """`per_label` tickets for each of billing/shipping/technical, with clearly different vocabulary."""
    rng = random.Random(seed)
    rows = []
    for label, templates in (("billing", BILLING), ("shipping", SHIPPING), ("technical", TECHNICAL)):
        for i in range(per_label):
            text = templates[i % len(templates)].format(**{k: rng.choice(v) for k, v in FILL.items()})
            rows.append((f"{text} (ticket {100 + i})", label))
    rng.shuffle(rows)
    return rows


def write_sample_csv(path: Path, per_label: int = 30) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "label"])
        writer.writerows(make_rows(per_label))
    return path


@pytest.fixture
def sample_csv(tmp_path) -> Path:
    """A 90-row, 3-label support-ticket CSV (header `text,label`; some texts contain commas)."""
    return write_sample_csv(tmp_path / "tickets.csv")


@pytest.fixture(scope="session")
def sample_csv_factory():
    """`write_sample_csv(path, per_label=30)` for fixtures wider than one test."""
    return write_sample_csv


@pytest.fixture
def shared_datasets() -> Path:
    if not SHARED_DATASETS.is_dir():
        pytest.skip("the shared datasets folder ../shared/datasets is not present")
    return SHARED_DATASETS
