"""Every tab in Chinese in headless Chromium (issue #25 items 5 and 6), at desktop width and at phone width (390x844).

The browser is set to Chinese (locale zh-CN): the page opens in 中文 by itself and Gradio's own texts (the upload
area) follow the browser. A finished tiny classification run is made in-process first, so Evaluate, Try it, Runs and
Export have something to show. Screenshots go to a temporary folder, or with TUNER_SCREENS=1 to
docs/screenshots/zh/ (as bench/screenshots.py writes the README's English ones); the test fails on Gradio's English
upload text or an overflowing page at phone width."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tuner.config import RunConfig

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow

from browserhelpers import launch, playwright_or_skip  # noqa: E402

sync_api = playwright_or_skip()
from apphelpers import running_app  # noqa: E402

TABS = [("data", "1 · 数据"), ("train", "2 · 训练"), ("evaluate", "3 · 评估"), ("try_it", "4 · 试用"), ("chat", "对话"),
        ("runs", "运行记录"), ("export", "导出")]
SIZES = {"desktop": {"width": 1280, "height": 1000}, "phone": {"width": 390, "height": 844}}


@pytest.fixture(scope="module")
def app(tmp_path_factory, tiny_model_dir, sample_csv_factory):
    from tuner import runs, train

    root = tmp_path_factory.mktemp("browser-zh")
    env = {"TUNER_RUNS_DIR": str(root / "runs"), "TUNER_MODEL_DIRS": str(tiny_model_dir.parent)}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TUNER_RUNS_DIR", env["TUNER_RUNS_DIR"])
        cfg = RunConfig.from_dict({"task": "classification", "name": "工单分类",
                                   "data": {"train_file": str(sample_csv_factory(root / "tickets.csv", per_label=12))},
                                   "model": {"name": str(tiny_model_dir), "max_length": 32},
                                   "train": {"epochs": 1, "batch_size": 16, "evals": 1, "precision": "fp32"}})
        run = runs.create_run(cfg)
        assert train.main([str(run.config_path)]) == 0, run.log_path.read_text()[-3000:]
    with running_app(root / "app.log", env, timeout=240) as (url, _proc):
        yield url


def shots_dir(tmp_path) -> Path:
    out = ROOT / "docs" / "screenshots" / "zh" if os.environ.get("TUNER_SCREENS") else tmp_path / "zh"
    out.mkdir(parents=True, exist_ok=True)
    return out


def open_tab(page, name: str) -> None:
    """Click a tab; at phone width Gradio folds the tabs that do not fit into its overflow menu."""
    tab = page.get_by_role("tab", name=name)
    if not (tab.count() and tab.first.is_visible()):
        page.locator(".overflow-menu, button.overflow-dropdown, .overflow-item-selected").first.click()
        tab = page.get_by_role("tab", name=name)
        if not (tab.count() and tab.first.is_visible()):
            tab = page.get_by_role("button", name=name)
    tab.first.click()


@pytest.mark.parametrize("size", list(SIZES))
def test_every_tab_in_chinese(app, tmp_path, size):
    out = shots_dir(tmp_path)
    with sync_api.sync_playwright() as p:
        browser = launch(p)
        context = browser.new_context(viewport=SIZES[size], locale="zh-CN")
        page = context.new_page()
        page.set_default_timeout(60_000)
        page.goto(app)
        page.get_by_role("tab", name="1 · 数据").first.wait_for()  # the Chinese browser opened the page in 中文
        page.get_by_text("将文件拖放到此处").first.wait_for()  # Gradio's own upload text, translated
        problems = []
        for key, name in TABS:
            open_tab(page, name)
            if key == "data":  # the sample's summary, made again in Chinese when the page switched language
                page.get_by_text("验证集：").first.wait_for(timeout=120_000)
            time.sleep(2.5)  # the tab's own request (its run list) and the drawing after it
            page.screenshot(path=str(out / f"{key}-{size}.png"), full_page=True)
            for english in ("Drop File Here", "Click to Upload"):
                if page.get_by_text(english).filter(visible=True).count():
                    problems.append(f"{name}: Gradio's '{english}'")
            wide = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            if wide > 4:
                problems.append(f"{name}: the page is {wide}px wider than the screen")
        browser.close()
    assert not problems, problems
    assert all((out / f"{key}-{size}.png").stat().st_size > 5_000 for key, _ in TABS)
