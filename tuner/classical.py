"""The classical floor every classification run is read against: TF-IDF features and a linear classifier
(scikit-learn), fitted on the same training rows and scored on the same validation rows as the finetuned model.

Word n-grams (1-2) plus character n-grams inside words (2-5) for text written with spaces between words;
character n-grams (1-3) alone for text that is not (Chinese, Japanese, Thai), where a "word" is a whole
sentence. Seconds on tens of thousands of rows (docs/quality.md has the figures).
"""

from __future__ import annotations

import time

from .language import spaced_text

# What the baseline is fitted on at most: MAX_ROWS rows and MAX_CHARS characters of text, in a seeded sample that
# keeps every label's share (tuner.train.sample_indices). TF-IDF's memory grows with the characters, about 90 bytes
# each: 100,000 texts of 180 characters took 1.5 GB (and 1,000,000 would take 15 GB), the 5,000,000-character cap
# (~28,000 such texts) about 0.5 GB (docs/performance.md). SST-2 (65,349 rows, 3.5 million characters) fits whole.
MAX_ROWS = 100_000
MAX_CHARS = 5_000_000
PROBABILITY_C = 1.0  # the logistic regression's inverse regularisation for label-error ranking: 1 beat 10 (bench/label_noise.py)


def make_pipeline(texts: list[str], probabilities: bool = False):
    """An unfitted scikit-learn pipeline suited to how `texts` are written; `probabilities`: a logistic regression
    (predict_proba, for label-error ranking in tuner.analysis) in place of the linear SVM."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline as sk_pipeline
    from sklearn.pipeline import make_union
    from sklearn.svm import LinearSVC

    if spaced_text(texts):
        features = make_union(
            TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, max_features=500_000),
            TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2, max_features=500_000),
        )
    else:
        features = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, max_features=500_000)
    if probabilities:
        from sklearn.linear_model import LogisticRegression

        return sk_pipeline(features, LogisticRegression(C=PROBABILITY_C, max_iter=1000))
    return sk_pipeline(features, LinearSVC(C=0.5))


def describe(texts: list[str]) -> str:
    kind = "word + character n-grams" if spaced_text(texts) else "character n-grams"
    return f"TF-IDF {kind} + linear SVM"


def rows_to_fit(texts: list[str], max_rows: int, max_chars: int) -> int:
    """Rows to fit on: all of them, or fewer to stay within `max_rows` rows and about `max_chars` characters
    (0 = no cap)."""
    n = len(texts)
    if max_rows:
        n = min(n, max_rows)
    chars = sum(map(len, texts))
    if max_chars and chars > max_chars:
        n = min(n, max(1, int(len(texts) * max_chars / chars)))
    return n


class ClassicalBaseline:
    """Fit once on the training rows (integer label ids), then predict ids for any texts."""

    def __init__(self, texts: list[str], labels: list[int], max_rows: int | None = None, max_chars: int | None = None,
                 seed: int = 0):
        n = rows_to_fit(texts, MAX_ROWS if max_rows is None else max_rows, MAX_CHARS if max_chars is None else max_chars)
        self.rows = len(texts)
        if n < len(texts):
            from .train import sample_indices

            keep = sample_indices(len(texts), n, seed, labels)
            texts, labels = [texts[i] for i in keep], [labels[i] for i in keep]
        self.fit_rows = len(texts)
        self.name = describe(texts)
        if self.fit_rows < self.rows:
            self.name += f", fitted on {self.fit_rows:,} of {self.rows:,} training rows"
        self.single_label = len(set(labels)) < 2
        t0 = time.perf_counter()
        if self.single_label:
            self.pipeline, self.only = None, int(labels[0]) if labels else 0
        else:
            self.pipeline = make_pipeline(texts).fit(texts, labels)
        self.fit_seconds = time.perf_counter() - t0

    def predict(self, texts: list[str]) -> list[int]:
        if not texts:
            return []
        if self.pipeline is None:
            return [self.only] * len(texts)
        return [int(p) for p in self.pipeline.predict(texts)]


def classical_scores(task, train_texts, train_labels, texts, refs, n_labels: int) -> dict:
    """The classical baseline's headline metrics on (texts, refs), with its name and fit time; an empty dict
    when it cannot be fitted (never the reason a run fails)."""
    import logging

    try:
        model = ClassicalBaseline(list(train_texts), [int(x) for x in train_labels])
        preds = model.predict(list(texts))
    except Exception:  # a floor that cannot be drawn leaves the report without it
        logging.getLogger("tuner.classical").exception("the classical baseline could not be fitted")
        return {}
    return {"name": model.name, "fit_seconds": round(model.fit_seconds, 2), "fit_rows": model.fit_rows,
            **task.headline_metrics(preds, [int(r) for r in refs], n_labels)}
