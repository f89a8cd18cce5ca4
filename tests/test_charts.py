"""Plots that scale (issue #25): label bars at 77 labels, integer step axes, y-ranges with a margin, bars from zero,
the confusion view of the most-confused labels."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from tuner.ui import charts


def counts_77() -> dict[str, int]:
    """77 labels with distinct row counts (label_00 has the most)."""
    return {f"label_{i:02d}": 200 - 2 * i for i in range(77)}


def test_label_bars_keep_the_largest_and_sum_the_rest_into_one_others_bar():
    counts = counts_77()
    bars = charts.label_bars(counts, top=20, lang="en")
    assert len(bars) == 21  # <= N + 1 bars
    assert list(bars["label"][:20]) == [f"label_{i:02d}" for i in range(20)]  # largest first
    assert list(bars["rows"][:20]) == sorted(bars["rows"][:20], reverse=True)
    others = bars.iloc[-1]
    assert others["others"] and others["label"] == "others (57 labels)"
    assert others["rows"] == sum(v for k, v in counts.items() if int(k[-2:]) >= 20)
    assert bars["rows"].sum() == sum(counts.values())  # nothing lost
    assert charts.label_bars(counts, top=20, lang="zh").iloc[-1]["label"] == "其他（57 个标签）"


def test_few_labels_have_no_others_bar_and_one_leftover_label_is_shown_itself():
    three = charts.label_bars({"b": 1, "a": 5, "c": 3})
    assert list(three["label"]) == ["a", "c", "b"] and not three["others"].any()
    assert not charts.label_bars({f"x{i}": i + 1 for i in range(21)}, top=20)["others"].any()
    frame = pd.DataFrame({"label": ["a", "b"], "rows": [1, 9]})  # the Data tab hands a DataFrame
    assert list(charts.label_bars(frame)["label"]) == ["b", "a"]


def _bars(html: str) -> list[tuple[str, str, float]]:
    """(label, value, width %) of each bar of a bars_html chart."""
    return [(label, value, float(width)) for label, value, width in re.findall(
        r'data-label="([^"]*)" data-value="([^"]*)">.*?width:([\d.]+)%', html)]


def test_label_chart_at_77_labels_has_21_rows_and_a_title_that_says_so():
    html = charts.label_chart(counts_77(), "en")
    bars = _bars(html)
    assert len(bars) == 21 and bars[-1][0] == "others (57 labels)"
    assert "the 20 largest of 77 labels" in html
    assert charts.label_chart({}, "en") == ""
    assert "<script" not in charts.label_chart({"<script>x</script>": 3}, "en")  # labels are escaped


def test_bars_start_at_zero():
    """A 0.194 bar beside a 0.25 one is 78% as long, not nearly empty as on an axis starting at 0.2."""
    chart = pd.DataFrame({"run": ["a", "b", "c"], "accuracy": [0.25, 0.194, 0.0]})
    bars = _bars(charts.runs_chart(chart, "accuracy", "en"))
    assert [b[0] for b in bars] == ["a", "b", "c"]
    assert bars[0][2] == pytest.approx(100.0) and bars[1][2] == pytest.approx(77.6) and bars[2][2] == 0.0
    assert charts.runs_chart(pd.DataFrame(columns=["run", "accuracy"]), "accuracy") == ""


def test_y_range_holds_every_point_with_a_margin():
    values = [0.9, 0.95, 1.0]
    lo, hi = charts.y_range(values)
    assert lo < min(values) and hi > max(values)  # a line on the border stays inside
    assert hi - max(values) == pytest.approx(0.1 * charts.Y_MARGIN, rel=1e-3)
    flat = charts.y_range([0.5, 0.5])
    assert flat[0] < 0.5 < flat[1]
    assert charts.y_range([0.2, 1.5], floor=0)[0] == pytest.approx(0.2 - 1.3 * charts.Y_MARGIN)
    assert charts.y_range([0.01, 1.0], floor=0)[0] == 0  # a loss axis does not go below zero
    assert charts.y_range([]) is None and charts.y_range([float("nan")]) is None


def test_curves_have_integer_steps_from_zero_and_margins():
    prog = {"total_steps": 40,
            "train": [{"step": s, "loss": 2.0 / s} for s in range(1, 31)],
            "eval": [{"step": s, "accuracy": a, "macro_f1": a - 0.1} for s, a in ((10, 0.5), (20, 0.8), (30, 1.0))]}
    loss, metric = charts.curves(prog, "en")
    assert loss["value"]["step"].dtype.kind == "i" and metric["value"]["step"].dtype.kind == "i"
    assert loss["x_lim"] == [0, 41] and loss["x_axis_format"] == "d"  # whole steps, past the planned end
    lo, hi = loss["y_lim"]
    assert lo <= loss["value"]["loss"].min() and hi > loss["value"]["loss"].max()
    assert set(metric["value"]["metric"]) == {"accuracy", "macro_f1"}
    lo, hi = metric["y_lim"]
    assert lo < 0.4 and 1.0 < hi <= 1.05  # the 1.0 point is visible; scores stay near [0, 1]
    short, _ = charts.curves({"total_steps": 3, "train": [{"step": 1, "loss": 1.0}, {"step": 3, "loss": 0.5}],
                              "eval": []}, "zh")
    assert short["x_lim"] == [0, charts.MIN_STEP_SPAN + 1]  # short runs: the axis still has whole-number ticks
    assert short["title"] == "训练损失" and short["x_title"] == "步数"


def test_chat_curves_show_the_validation_loss_and_empty_runs_show_nothing():
    _, metric = charts.curves({"train": [], "eval": [{"step": 5, "loss": 1.5}, {"step": 10, "loss": 1.2}]}, "en")
    assert set(metric["value"]["metric"]) == {"validation loss"} and metric["y_lim"][1] > 1.5
    loss, metric = charts.curves({"train": [], "eval": []}, "en")
    assert loss["value"] is None and metric["value"] is None


def confused_matrix(n: int = 77) -> tuple[list[list[int]], list[str]]:
    """A diagonal matrix (20 right per label) with errors between labels 5<->6, 40->41 and 70->3."""
    m = [[20 if i == j else 0 for j in range(n)] for i in range(n)]
    m[5][6], m[6][5], m[40][41], m[70][3] = 9, 7, 4, 2
    return m, [f"intent_{i}" for i in range(n)]


def test_confusion_view_keeps_the_most_confused_labels():
    matrix, labels = confused_matrix()
    sub, kept, subset = charts.most_confused(matrix, labels, top=6)
    assert subset and kept == ["intent_3", "intent_5", "intent_6", "intent_40", "intent_41", "intent_70"]
    assert sub[kept.index("intent_5")][kept.index("intent_6")] == 9  # the counts follow their labels
    assert sub[kept.index("intent_70")][kept.index("intent_3")] == 2
    small, names, subset = charts.most_confused([[1, 2], [3, 4]], ["a", "b"])
    assert not subset and names == ["a", "b"] and small == [[1, 2], [3, 4]]


def test_confusion_figure_at_77_labels_shows_12_and_says_so():
    matrix, labels = confused_matrix()
    fig = charts.confusion_figure(matrix, labels, "en")
    ax = fig.axes[0]
    assert len(ax.get_xticklabels()) == charts.CONFUSION_LABELS == len(ax.get_yticklabels())
    assert ax.get_title() == "The 12 most-confused of 77 labels (validation)"
    assert "混淆" in charts.confusion_figure(matrix, labels, "zh").axes[0].get_title()


def test_the_others_bar_does_not_set_the_scale():
    """57 labels summed are longer than any label: the labels' bars keep their lengths, others is drawn cut."""
    html = charts.label_chart(counts_77(), "en")
    bars = _bars(html)
    assert bars[0][2] == pytest.approx(100.0) and bars[19][2] == pytest.approx(100.0 * 162 / 200)
    assert bars[-1][2] == 100.0 and html.count("tuner-hbar-cut") == 1
