"""The chat model's error analysis (tuner.analysis.mistakes): its answers to the first validation prompts, the
lowest ROUGE-L against their references first.

Generation is slow on a CPU, so only the first MAX_SCORED validation conversations that end in an assistant reply are
answered (greedy, the run's max new tokens, as the evaluation answers them); each answer is scored alone by the same
local ROUGE-L module as the report (tuner/metrics/rouge)."""

from __future__ import annotations

from .generate import generate_replies

MAX_SCORED = 50  # validation prompts answered and scored (generation is slow on a CPU)


def rouge_l(answer: str, reference: str) -> float:
    """One answer's ROUGE-L F-measure against its reference (the report's metric on one pair)."""
    from ... import metrics

    return float(metrics.load("rouge").compute(predictions=[answer], references=[reference])["rougeL"])


def rank_answers(prompts: list[str], references: list[str], answers: list[str]) -> list[dict]:
    """{row (position among the scored prompts), prompt, reference, answer, rouge_l}, lowest ROUGE-L first."""
    rows = [{"row": i, "prompt": p, "reference": r, "answer": a, "rouge_l": round(rouge_l(a, r), 4)}
            for i, (p, r, a) in enumerate(zip(prompts, references, answers))]
    return sorted(rows, key=lambda r: (r["rouge_l"], r["row"]))


class ChatAnalysis:
    """analysis_splits, mistakes (tuner.tasks.base.Task)."""

    analyses = ("mistakes",)
    mistakes_kind = "answers"
    mistakes_cap = MAX_SCORED

    def analysis_splits(self, cfg):
        return self.load_splits(cfg)

    def mistakes(self, predictor, split: dict, meta: dict) -> dict:
        """Greedy answers to the first `mistakes_cap` validation prompts, scored one by one against their replies."""
        usable = [c for c in split["conversations"] if len(c) >= 2 and c[-1]["role"] == "assistant"]
        sample = usable[:self.mistakes_cap]
        max_new = int(predictor.meta.get("max_new_tokens", 128))
        answers = predictor.compute(generate_replies, predictor.model, predictor.tokenizer, [c[:-1] for c in sample],
                                    predictor.template, max_new, predictor.max_length) if sample else []
        refs = [c[-1]["content"] for c in sample]
        rows = rank_answers([c[-2]["content"] for c in sample], refs, answers)
        mean = sum(r["rouge_l"] for r in rows) / len(rows) if rows else None
        return {"kind": "answers", "n_validation": len(split["conversations"]), "n_usable": len(usable),
                "n_scored": len(sample), "cap": self.mistakes_cap, "max_new_tokens": max_new,
                "mean_rouge_l": None if mean is None else round(mean, 4), "rows": rows}
