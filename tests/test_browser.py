"""The real page in Debian's headless Chromium (Playwright): upload the sample CSV, train, see the loss curve, try
the classifier, export the adapter, switch the language (and see an error in Chinese). Screenshots of every
step go to test-artifacts/screenshots/ (the README's images are copies of them).

Training uses a tiny BERT (built in-process, offered to the page through TUNER_MODEL_DIRS) so the run takes
seconds; everything else is the app as shipped: `python app.py`, a real training child process.
"""

from __future__ import annotations

import re
import shutil
import time
import zipfile

import pytest

pytestmark = pytest.mark.slow

from browserhelpers import SHOTS, launch, playwright_or_skip  # noqa: E402

sync_api = playwright_or_skip()
from apphelpers import running_app  # noqa: E402


@pytest.fixture(scope="module")
def app(tmp_path_factory, tiny_model_dir):
    runs_dir = tmp_path_factory.mktemp("browser-runs")
    env = {"TUNER_RUNS_DIR": str(runs_dir), "TUNER_MODEL_DIRS": str(tiny_model_dir.parent)}
    with running_app(runs_dir / "app.log", env, timeout=240) as (url, _proc):
        yield {"url": url, "runs_dir": runs_dir}


def test_page_end_to_end_in_chromium(app, sample_csv, tiny_model_dir, tmp_path):
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport={"width": 1280, "height": 1000}, accept_downloads=True)
        page.set_default_timeout(120_000)
        page.goto(app["url"])
        page.get_by_role("tab", name="1 · Data").wait_for()

        # Data: upload the CSV through the page's own file input.
        page.locator("input[type=file]").first.set_input_files(str(sample_csv))
        page.get_by_text("90 rows").first.wait_for()
        page.screenshot(path=str(SHOTS / "data.png"), full_page=True)

        # Train: the tiny model (typed into the model box), then watch the run finish and the loss curve draw.
        page.get_by_role("tab", name="2 · Train").click()
        model = page.get_by_label("Model to start from", exact=True)
        model.fill(str(tiny_model_dir))
        model.press("Enter")
        # Before Start: how long it will take on this machine (a speed probe of this model on this data).
        page.get_by_role("button", name="Estimate time and memory").click()
        page.get_by_text("Estimated training time on this machine").first.wait_for(timeout=300_000)
        page.get_by_role("button", name="Train", exact=True).click()
        page.locator(".tuner-progress-text b", has_text="completed").wait_for(timeout=900_000)
        page.locator(".tuner-verdict").first.wait_for()  # the verdict beside the state: worth using, or why not
        plot = page.locator(".block", has_text="Training loss").locator("canvas, svg").first
        plot.wait_for()
        assert plot.bounding_box()["height"] > 50
        time.sleep(1)
        page.screenshot(path=str(SHOTS / "train.png"), full_page=True)

        page.get_by_role("tab", name="3 · Evaluate").click()
        page.locator("text=accuracy >> visible=true").first.wait_for()
        page.screenshot(path=str(SHOTS / "evaluate.png"), full_page=True)

        # Try it: classify a sentence with the run just trained.
        page.get_by_role("tab", name="4 · Try it").click()
        # Opening the tab fills its run list (a request of its own); a click before that answer would classify
        # with no run picked, as a person clicking within milliseconds would.
        sync_api.expect(page.get_by_label("Run", exact=True).filter(visible=True)).not_to_have_value("", timeout=60_000)
        page.get_by_role("textbox", name="Text").first.fill("I was charged twice for my premium subscription")
        page.get_by_role("button", name="Classify").click()
        page.locator(".block", has_text="Label probabilities").get_by_text(re.compile("billing|shipping|technical")).first.wait_for()
        page.screenshot(path=str(SHOTS / "try_it.png"), full_page=True)

        page.get_by_role("tab", name="Runs").click()
        page.locator("text=completed >> visible=true").first.wait_for()
        page.screenshot(path=str(SHOTS / "runs.png"), full_page=True)

        # Export: the adapter zip downloads and holds a PEFT adapter.
        page.get_by_role("tab", name="Export").click()
        page.locator("text=## Evaluation (before vs. after) >> visible=true").or_(
            page.locator("text=Evaluation (before vs. after) >> visible=true")).first.wait_for()  # run chosen, card shown
        page.get_by_role("button", name="Download adapter (zip)").click()
        link = page.locator(".block", has_text="Adapter zip").locator("a[download], a[href*='.zip']").first
        try:
            link.wait_for(timeout=90_000)
        finally:
            page.screenshot(path=str(SHOTS / "export.png"), full_page=True)
        with page.expect_download() as info:
            link.click()
        saved = tmp_path / "adapter.zip"
        info.value.save_as(saved)
        assert {"adapter_config.json", "adapter_model.safetensors", "label_names.json"} <= set(zipfile.ZipFile(saved).namelist())
        page.screenshot(path=str(SHOTS / "export.png"), full_page=True)

        # Language: Chinese labels, and an error sentence in Chinese.
        page.get_by_text("中文", exact=True).click()
        page.get_by_role("tab", name="2 · 训练").wait_for()
        page.get_by_role("tab", name="4 · 试用").click()
        page.get_by_role("textbox", name="文本").first.fill("")
        page.get_by_role("button", name="分类").click()
        page.get_by_text("请输入要分类的文本。").first.wait_for()
        page.screenshot(path=str(SHOTS / "chinese.png"), full_page=True)
        browser.close()
    assert all((SHOTS / f"{n}.png").stat().st_size > 10_000 for n in ("data", "train", "try_it", "export", "chinese"))
    shutil.copy(saved, SHOTS.parent / "adapter.zip")
