"""Out-of-sample label probabilities for label-error ranking (tuner.analysis.label_issues), and the rule that
combines several of them.

- "classical": 5-fold cross-validated TF-IDF + logistic regression (tuner.classical's features).
- "embeddings": mean-pooled sentence embeddings from the run's own base model (one forward pass over the training
  rows, bf16 only where the CPU runs it natively), then 5-fold cross-validated logistic regression on them.
- "model": the finetuned run's own probabilities on its training rows (it saw them, so they are not out-of-sample).

Combining: a weighted average of the probabilities, each evidence weighted by what it tells beyond the label shares,
measured on the given labels: (log-loss of always predicting the label shares) - (its own cross-validated
log-loss), floored at 0. Evidence that cannot read the text (a base model that does not know the language) scores
near the label shares' log-loss and so gets next to no weight; no threshold is fitted to any dataset.
"""

from __future__ import annotations

import logging
from collections import Counter

import numpy as np

log = logging.getLogger(__name__)

FOLDS = 5
PARTS = ("classical", "embeddings", "model")
ALIASES = {"both": ("classical", "model"), "all": PARTS}
EMBED_BATCH = 64


def parts_of(evidence: str) -> tuple[str, ...]:
    """'classical+embeddings' -> ('classical', 'embeddings'); the aliases 'both' and 'all'; () when unknown."""
    if evidence in ALIASES:
        return ALIASES[evidence]
    parts = tuple(p.strip() for p in (evidence or "").split("+") if p.strip())
    if not parts or any(p not in PARTS for p in parts) or len(set(parts)) != len(parts):
        return ()
    return tuple(p for p in PARTS if p in parts)  # one spelling per combination


def _folds(labels: np.ndarray, folds: int, seed: int):
    from sklearn.model_selection import KFold, StratifiedKFold

    smallest = min(Counter(labels.tolist()).values())
    folds = max(2, min(folds, len(labels) // 2))
    return (StratifiedKFold(folds, shuffle=True, random_state=seed) if smallest >= folds
            else KFold(folds, shuffle=True, random_state=seed))


def _full_width(probs: np.ndarray, labels: np.ndarray, n_labels: int) -> np.ndarray:
    """A label no row has gets a zero column in its place."""
    if probs.shape[1] == n_labels:
        return probs
    full = np.zeros((len(probs), n_labels))
    full[:, sorted(set(labels.tolist()))] = probs
    return full


def cross_validated(estimator, features, labels, n_labels: int, folds: int = FOLDS, seed: int = 0) -> np.ndarray:
    """(rows, n_labels) probabilities, each row's from `estimator` fitted on the other folds."""
    from sklearn.model_selection import cross_val_predict

    labels = np.asarray(labels, dtype=int)
    probs = cross_val_predict(estimator, features, labels, cv=_folds(labels, folds, seed), method="predict_proba")
    return _full_width(probs, labels, n_labels)


def classical_probs(texts: list[str], labels, n_labels: int, folds: int = FOLDS, seed: int = 0) -> np.ndarray:
    from ..classical import make_pipeline

    return cross_validated(make_pipeline(texts, probabilities=True), texts, labels, n_labels, folds, seed)


def embed(texts: list[str], model_name: str = "default", max_length: int = 128, batch: int = EMBED_BATCH) -> np.ndarray:
    """(rows, hidden) mean-pooled, L2-normalised embeddings from the base model `model_name` (offline for the
    bundled default and local folders). Rows go through in length order, so a batch pads little."""
    import contextlib

    import torch
    from transformers import AutoModel

    from .. import models
    from ..cpu import isa

    source = models.resolve(model_name)
    tokenizer = models.load_tokenizer(source)
    model = models.load_pretrained(AutoModel, source).eval()
    bf16 = not torch.cuda.is_available() and isa.native_bf16()
    out = np.zeros((len(texts), model.config.hidden_size), dtype=np.float32)
    order = np.argsort([len(t) for t in texts], kind="stable")
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    with torch.inference_mode(), autocast:
        for start in range(0, len(texts), batch):
            idx = order[start:start + batch]
            enc = tokenizer([texts[i] or " " for i in idx], truncation=True, max_length=max_length, padding=True,
                            return_tensors="pt")
            hidden = model(**enc).last_hidden_state.float()
            mask = enc["attention_mask"].unsqueeze(-1).float()
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            out[idx] = torch.nn.functional.normalize(pooled, dim=-1).numpy()
    return out


def embedding_probs(texts: list[str], labels, n_labels: int, model_name: str = "default", max_length: int = 128,
                    folds: int = FOLDS, seed: int = 0, vectors: np.ndarray | None = None) -> np.ndarray:
    """Cross-validated logistic regression on the base model's sentence embeddings (`vectors` if given)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if vectors is None:
        vectors = embed(texts, model_name, max_length)
    estimator = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))
    return cross_validated(estimator, vectors, labels, n_labels, folds, seed)


def log_loss(labels, probs) -> float:
    labels = np.asarray(labels, dtype=int)
    p = np.clip(np.asarray(probs, dtype=float)[np.arange(len(labels)), labels], 1e-6, 1.0)
    return float(-np.log(p).mean())


def prior_log_loss(labels, n_labels: int) -> float:
    """The log-loss of always predicting each label's share of the rows."""
    labels = np.asarray(labels, dtype=int)
    shares = np.bincount(labels, minlength=n_labels) / max(1, len(labels))
    return log_loss(labels, np.tile(shares, (len(labels), 1)))


def weights(labels, parts: dict[str, np.ndarray]) -> dict[str, float]:
    """Each evidence's weight: its gain in log-loss over the label shares on the given labels (floored at 0),
    normalised to sum to 1; equal weights when none gains."""
    n_labels = next(iter(parts.values())).shape[1]
    floor = prior_log_loss(labels, n_labels)
    gain = {name: max(0.0, floor - log_loss(labels, p)) for name, p in parts.items()}
    total = sum(gain.values())
    if total <= 0:
        return {name: 1.0 / len(parts) for name in parts}
    return {name: g / total for name, g in gain.items()}


def combine(labels, parts: dict[str, np.ndarray]) -> tuple[np.ndarray, dict[str, float]]:
    """(the weighted average of the evidences' probabilities, the weights)."""
    if len(parts) == 1:
        name, probs = next(iter(parts.items()))
        return np.asarray(probs, dtype=float), {name: 1.0}
    w = weights(labels, parts)
    return sum(w[n] * np.asarray(p, dtype=float) for n, p in parts.items()), w
