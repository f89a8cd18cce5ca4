"""The classical floor every classification run is read against: TF-IDF features and a linear classifier
(scikit-learn), fitted on the same training rows and scored on the same validation rows as the finetuned model.

Word n-grams (1-2) plus character n-grams inside words (2-5) for text written with spaces between words;
character n-grams (1-3) alone for text that is not (Chinese, Japanese, Thai), where a "word" is a whole
sentence. Seconds on tens of thousands of rows (docs/quality.md has the figures).
"""

from __future__ import annotations

import time

from .language import spaced_text


def make_pipeline(texts: list[str]):
    """An unfitted scikit-learn pipeline suited to how `texts` are written."""
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
    return sk_pipeline(features, LinearSVC(C=0.5))


def describe(texts: list[str]) -> str:
    kind = "word + character n-grams" if spaced_text(texts) else "character n-grams"
    return f"TF-IDF {kind} + linear SVM"


class ClassicalBaseline:
    """Fit once on the training rows (integer label ids), then predict ids for any texts."""

    def __init__(self, texts: list[str], labels: list[int]):
        self.name = describe(texts)
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
    except Exception:  # noqa: BLE001 - a floor that cannot be drawn leaves the report without it
        logging.getLogger("tuner.classical").exception("the classical baseline could not be fitted")
        return {}
    return {"name": model.name, "fit_seconds": round(model.fit_seconds, 2),
            **task.headline_metrics(preds, [int(r) for r in refs], n_labels)}
