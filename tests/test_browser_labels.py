"""A 77-label file in headless Chromium (issue #25): the Data tab's label chart and the Evaluate tab stay readable at
desktop and phone width, and no percentage on either reads above 100. The run is trained in-process on a tiny
model first, so the Evaluate tab has a 77-label report and confusion view to draw."""

from __future__ import annotations

import csv
import re
import time

import pytest

from tuner.config import RunConfig

pytestmark = pytest.mark.slow

from browserhelpers import SHOTS, launch, playwright_or_skip  # noqa: E402

sync_api = playwright_or_skip()
from apphelpers import running_app  # noqa: E402

LABELS = 77
SIZES = {"desktop": {"width": 1280, "height": 1000}, "phone": {"width": 390, "height": 844}}
WORDS = ["refund", "invoice", "password", "parcel", "warranty", "coupon", "account", "delivery", "screen", "battery",
         "address", "subscription"]


def write_many_labels(path):
    """77 intents, 6-14 rows each (so the chart has a long tail), each intent with its own pair of words."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["text", "intent"])
        for i in range(LABELS):
            a, b = WORDS[i % len(WORDS)], WORDS[(i // len(WORDS) + 3 * i) % len(WORDS)]
            for j in range(6 + i % 9):
                out.writerow([f"question {j} about my {a} and the {b} number {i}", f"intent_{i:02d}_{a}_{b}"])
    return path


@pytest.fixture(scope="module")
def app(tmp_path_factory, tiny_model_dir):
    from tuner import runs, train

    root = tmp_path_factory.mktemp("browser-labels")
    data = write_many_labels(root / "intents.csv")
    env = {"TUNER_RUNS_DIR": str(root / "runs"), "TUNER_MODEL_DIRS": str(tiny_model_dir.parent)}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TUNER_RUNS_DIR", env["TUNER_RUNS_DIR"])
        cfg = RunConfig.from_dict({"task": "classification", "name": "77 intents",
                                   "data": {"train_file": str(data), "text_columns": ["text"], "label_column": "intent"},
                                   "model": {"name": str(tiny_model_dir), "max_length": 32},
                                   "train": {"epochs": 2, "batch_size": 32, "evals": 1, "precision": "fp32"}})
        run = runs.create_run(cfg)
        assert train.main([str(run.config_path)]) == 0, run.log_path.read_text()[-3000:]
    with running_app(root / "app.log", env, timeout=240) as (url, _proc):
        yield {"url": url, "data": data}


def percentages_over_100(page) -> list[str]:
    text = page.locator("body").inner_text()
    return [m.group(0) for m in re.finditer(r"(\d+(?:\.\d+)?)\s*%", text) if float(m.group(1)) > 100]


@pytest.mark.parametrize("size", list(SIZES))
def test_77_labels_on_data_and_evaluate(app, size):
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport=SIZES[size])
        page.set_default_timeout(120_000)
        page.goto(app["url"])
        page.get_by_role("tab", name="1 · Data").wait_for()
        page.get_by_label("Clear").first.click()  # the bundled sample is preloaded: clear it, then upload
        page.locator("input[type=file]").first.set_input_files(str(app["data"]))
        chart = page.locator(".tuner-hbars").first
        sync_api.expect(chart.locator(".tuner-hbar")).to_have_count(21, timeout=120_000)  # the 20 largest labels + one "others" bar
        sync_api.expect(chart.locator(".tuner-hbar-others")).to_contain_text("57 labels")
        names = chart.locator(".tuner-hbar-name")
        boxes = [names.nth(i).bounding_box() for i in range(names.count())]
        assert all(b["height"] < 40 for b in boxes), "a label name wrapped onto several lines"
        assert all(b2["y"] >= b1["y"] + b1["height"] - 1 for b1, b2 in zip(boxes, boxes[1:])), "label names overlap"
        time.sleep(1)
        page.screenshot(path=str(SHOTS / f"labels77-data-{size}.png"), full_page=True)
        problems = percentages_over_100(page)

        tab = page.get_by_role("tab", name="3 · Evaluate")
        if not tab.first.is_visible():  # at phone width Gradio folds the tabs that do not fit into a menu
            page.locator(".overflow-menu, button.overflow-dropdown").first.click()
        page.get_by_role("tab", name="3 · Evaluate").or_(page.get_by_role("button", name="3 · Evaluate")).first.click()
        run = page.get_by_label("Run", exact=True).filter(visible=True).first
        sync_api.expect(run).not_to_have_value("", timeout=60_000)
        if not page.get_by_text("most-confused").filter(visible=True).count():
            run.click()
            page.get_by_role("option").first.click()
        table = page.locator(".tuner-table").nth(1)  # the per-label report
        sync_api.expect(table.get_by_text("support", exact=True).first).to_be_visible()
        header = table.get_by_text("support", exact=True).first.bounding_box()
        assert header["x"] + header["width"] <= SIZES[size]["width"] + 1, "the support column is cut off"
        page.screenshot(path=str(SHOTS / f"labels77-evaluate-{size}.png"), full_page=True)
        page.locator(".tuner-confusion img").first.wait_for()  # the most-confused labels' figure
        time.sleep(1.5)
        page.screenshot(path=str(SHOTS / f"labels77-evaluate-{size}.png"), full_page=True)
        problems += percentages_over_100(page)
        browser.close()
    assert not problems, problems
