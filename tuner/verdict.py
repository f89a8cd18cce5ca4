"""The one-sentence verdict after a run: is the model worth using, and if not, the likely reason and the one action
that fixes it. Read from what the run knows: its report (finetuned beside the classical floor and the majority
class), the plan against the steps trained, the time limit, the validation history, the language check and the
rows per label. Written into metrics.json by the training child; the page and the CLI show `sentence`.

Levels: "good" (beats the floor), "weak" (about as good as the floor), "bad" (worse than the floor, or no better
than always answering the most common label). A "bad" or "weak" run is never shown as a plain success.
"""

from __future__ import annotations

MIN_MARGIN = 0.005     # a model must beat the floor by more than this (and one standard error) to be called better
NOTHING_MARGIN = 0.02  # within 2 points of the majority class (macro-F1 / F1) = learned nothing
FEW_LABEL_ROWS = 10    # fewer training rows than this for a label = "too few rows"
RISING = 0.005         # the last validation score beat the one before by this much: still improving


def _pts(x: float) -> str:
    return f"{100 * x:.1f}"


def metric_name(key: str) -> str:
    return {"macro_f1": "macro-F1", "micro_f1": "micro-F1", "f1": "entity F1", "rouge_l": "ROUGE-L", "accuracy": "accuracy"}.get(key, key)


def facts_from_run(run, report: dict) -> dict:
    """What the verdict needs besides the report, from the run's events and config."""
    events = run.events()
    start = next((e for e in events if e.get("type") == "start"), {})
    budgets = [e for e in events if e.get("type") == "budget"]
    evals = [e for e in events if e.get("type") == "eval"]
    train_rows = start.get("train_rows") or 0
    steps = report.get("steps") or 0
    per_step = (start.get("batch_size") or 0) * (start.get("grad_accum") or 1) * (start.get("world_size") or 1)
    seconds = report.get("train_seconds") or 0.0
    planned = start.get("planned_steps") or start.get("total_steps") or 0
    return {
        "planned_steps": planned, "steps": steps,
        "time_limited": bool(budgets) and steps < planned,
        "stopped": bool(report.get("stopped")),
        "epochs_seen": (steps * per_step / train_rows) if train_rows and per_step else None,
        "seconds_per_step": seconds / steps if steps else None,
        "evals": evals, "language": start.get("language"), "label_rows": start.get("label_rows") or {},
    }


def judge(report: dict, facts: dict, metric: str, floors: tuple[str, ...] = ("classical", "baseline")) -> dict:
    """{"level", "sentence", "sentence_zh", "reasons", "reasons_zh", "action"} for a report; `metric` is the task's
    headline metric and `floors` the report keys of what it must beat, strongest first."""
    if not report or metric not in report or not isinstance(report.get(metric), (int, float)):
        return {}
    score = float(report[metric])
    floor_key = next((k for k in floors if isinstance((report.get(k) or {}).get(metric), (int, float))), None)
    majority = report.get("baseline") if "classical" in floors else None
    reasons, action = diagnose(facts, report)
    name, name_zh = metric_name(metric), METRIC_ZH.get(metric, metric)
    s = _pts(score)
    if majority and isinstance(majority.get(metric), (int, float)) and score <= majority[metric] + NOTHING_MARGIN:
        level, m = "bad", _pts(majority[metric])
        head = (f"Not usable: the model learned almost nothing ({name} {s}, about the same as always answering the "
                f"most common label, {m}).")
        head_zh = f"不可用：模型几乎什么都没学到（{name_zh} {s}，和总是回答最常见的标签差不多，后者为 {m}）。"
    elif floor_key is None:
        level, head, head_zh = "good", f"Finished: {name} {s}.", f"已完成：{name_zh} {s}。"
    else:
        floor = report[floor_key]
        f, diff = _pts(floor[metric]), score - float(floor[metric])
        margin = noise(float(floor[metric]), report.get("n_examples"))
        what, what_zh = (("the classical baseline", "传统基线模型") if floor_key == "classical"
                         else ("the baseline", "基线"))
        floor_name = floor.get("name", what)
        floor_zh = floor_name_zh(floor_name)
        d = _pts(abs(diff))
        if diff > margin:
            level = "good"
            head = f"Worth using: it beats {what} ({floor_name}) by {d} points of {name} ({s} vs {f})."
            head_zh = f"值得使用：{name_zh}比{what_zh}（{floor_zh}）高 {d} 个百分点（{s} 对 {f}）。"
        elif diff >= -margin:
            level = "weak"
            head = f"No better than {what} ({floor_name}): {name} {s} vs {f}; a simpler model does as well."
            head_zh = f"并不比{what_zh}（{floor_zh}）好：{name_zh} {s} 对 {f}；更简单的模型也能做到。"
        else:
            level = "bad"
            head = f"Not worth using: {what} ({floor_name}) beats it by {d} points of {name} ({f} vs {s})."
            head_zh = f"不值得使用：{what_zh}（{floor_zh}）的{name_zh}比它高 {d} 个百分点（{f} 对 {s}）。"
    en, zh = head, head_zh
    if reasons and level != "good":
        en += " Likely reason: " + reasons[0]["en"] + "."
        zh += "可能的原因：" + reasons[0]["zh"] + "。"
        if action:
            en += " " + action["label"] + "."
            zh += action["label_zh"] + "。"
    elif reasons:
        en += " Note: " + reasons[0]["en"] + "."
        zh += "注意：" + reasons[0]["zh"] + "。"
    return {"level": level, "sentence": en, "sentence_zh": zh, "reasons": [r["en"] for r in reasons],
            "reasons_zh": [r["zh"] for r in reasons], "action": action, "metric": metric, "score": score,
            "floor": floor_key}


# The floors' names (tuner.classical, the tasks' baselines) in Chinese: phrases replaced in order, ids kept.
FLOOR_PHRASES_ZH = [
    ("majority class", "多数类"), ("most common label set", "最常见的标签组合"),
    ("no entities (every word O)", "不标任何实体（每个词都是 O）"),
    ("dictionary of training entities (longest match)", "训练集实体词典（最长匹配）"),
    ("base model (adapter disabled)", "基础模型（关闭适配器）"),
    ("word + character n-grams", "词 + 字符 n-gram"), ("character n-grams", "字符 n-gram"),
    (" + one-vs-rest logistic regression", " + 一对多逻辑回归"), (" + linear SVM", " + 线性 SVM"),
    (" ('", "（“"), ("')", "”）"),
]


def floor_name_zh(name: str) -> str:
    """A floor's name (e.g. "TF-IDF word + character n-grams + linear SVM", "majority class ('billing')") in
    Chinese; label names and ids stay as they are."""
    for en, zh in FLOOR_PHRASES_ZH:
        name = name.replace(en, zh)
    return name


METRIC_ZH = {"macro_f1": "宏平均 F1", "micro_f1": "微平均 F1", "f1": "实体 F1", "rouge_l": "ROUGE-L", "accuracy": "准确率"}


def sentence_for(verdict_: dict, lang: str | None) -> str:
    """The verdict's sentence in the page's language (English when no translation was stored)."""
    if lang == "zh" and verdict_.get("sentence_zh"):
        return verdict_["sentence_zh"]
    return verdict_.get("sentence", "")


def noise(score: float, n: int | None) -> float:
    """How far apart two scores must be to count as different: one standard error of a share `score` measured on
    `n` examples (0.8 points at 0.85 on 1,821 rows, 0.5 at 0.98 on 558), never under MIN_MARGIN."""
    import math

    if not n:
        return max(MIN_MARGIN, 0.01)
    score = min(max(score, 0.0), 1.0)
    return max(MIN_MARGIN, math.sqrt(score * (1 - score) / n))


def diagnose(facts: dict, report: dict) -> tuple[list[dict], dict | None]:
    """Reasons a run may have fallen short, most decisive first ({"en", "zh"} each), and the action for the first
    one that has one ({"kind", "label", "label_zh", "overrides"})."""
    reasons: list[dict] = []
    actions: list[dict] = []
    planned, steps = facts.get("planned_steps") or 0, facts.get("steps") or 0
    if facts.get("time_limited"):
        per = facts.get("seconds_per_step")
        minutes = per * planned / 60 if per else None
        share = _share(steps, planned)
        reasons.append({"en": f"the time limit stopped training after {steps:,} of {planned:,} planned steps ({share})",
                        "zh": f"时间限制让训练在计划的 {planned:,} 步中只跑了 {steps:,} 步（{share}）就停止了"})
        label, label_zh = "Train again without the time limit", "不设时间限制再训练一次"
        if minutes:
            label += f" (about {_minutes(minutes)} on this machine)"
            label_zh += f"（在这台机器上约 {_minutes(minutes, 'zh')}）"
        actions.append({"kind": "no_time_limit", "label": label, "label_zh": label_zh,
                        "overrides": {"train.max_minutes": 0}, "minutes": minutes})
    elif facts.get("stopped") and planned and steps < planned:
        reasons.append({"en": f"training was stopped by hand after {steps:,} of {planned:,} planned steps",
                        "zh": f"训练在计划的 {planned:,} 步中第 {steps:,} 步时被手动停止"})
        actions.append({"kind": "resume", "label": "Resume the run to finish its schedule",
                        "label_zh": "继续这次运行以完成训练计划", "overrides": {}})
    lang = facts.get("language")
    if lang:
        reasons.append({"en": lang["sentence"].split(", so it")[0].split(";")[0].rstrip("."),
                        "zh": (lang.get("sentence_zh") or lang["sentence"]).split("，所以")[0]})
        top = (lang.get("suggestions") or [[""]])[0][0]
        actions.append({"kind": "model", "label": f"Pick a model made for this language, such as {top} (needs a network)",
                        "label_zh": f"选择一个适合这种语言的模型，例如 {top}（需要网络）", "overrides": {"model.name": top}})
    rows = facts.get("label_rows") or {}
    few = sorted((n, lab) for lab, n in rows.items() if n < FEW_LABEL_ROWS)
    if few:
        examples = ", ".join(f"'{lab}' ({n})" for n, lab in few[:3])
        reasons.append({"en": f"{len(few)} label(s) have fewer than {FEW_LABEL_ROWS} training rows: {examples}",
                        "zh": f"{len(few)} 个标签的训练行少于 {FEW_LABEL_ROWS} 行：{examples}"})
        actions.append({"kind": "data", "label": "Add training rows for those labels",
                        "label_zh": "为这些标签补充训练数据", "overrides": {}})
    epochs = facts.get("epochs_seen")
    if epochs is not None and epochs < 0.99 and not facts.get("time_limited"):
        reasons.append({"en": f"training saw only {_share(epochs, 1)} of the training rows once",
                        "zh": f"训练只看过 {_share(epochs, 1)} 的训练数据"})
    if rising(facts.get("evals") or [], report):
        reasons.append({"en": "the validation score was still rising when training ended",
                        "zh": "训练结束时验证分数仍在上升"})
        actions.append({"kind": "longer", "label": "Train again with more epochs", "label_zh": "用更多轮数再训练一次",
                        "overrides": {}})
    return reasons, (actions[0] if actions else None)


def rising(evals: list[dict], report: dict) -> bool:
    key = next((k for k in ("macro_f1", "f1", "accuracy") if any(k in e for e in evals)), None)
    scores = [e[key] for e in evals if isinstance(e.get(key), (int, float))] if key else []
    return len(scores) >= 2 and scores[-1] >= max(scores) and scores[-1] - scores[-2] >= RISING


def _share(part: float, whole: float) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "?"


def _minutes(m: float, lang: str = "en") -> str:
    if lang == "zh":
        return f"{m:.0f} 分钟" if m >= 1.5 else f"{max(1, round(m * 60)):.0f} 秒"
    return f"{m:.0f} min" if m >= 1.5 else f"{max(1, round(m * 60)):.0f} s"
