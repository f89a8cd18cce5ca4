"""Screenshots of each tab for the README: drives the real page in headless Chromium (Debian package).

    python app.py &   # on :7860 (or pass --url)
    python -m bench.screenshots --url http://127.0.0.1:7860 --out docs/screenshots

Uploads the bundled sample, trains with the default recipe, waits for the run, then captures Data, Train,
Evaluate and Try it.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


def main() -> None:
    from playwright.sync_api import sync_playwright

    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default="http://127.0.0.1:7860")
    ap.add_argument("--out", default="docs/screenshots")
    ap.add_argument("--timeout", type=float, default=600)
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(args.url)
        page.get_by_text("rows", exact=False).first.wait_for(timeout=60_000)
        time.sleep(2)
        page.screenshot(path=str(out / "data.png"), full_page=True)
        page.get_by_role("tab", name="2 · Train").click()
        page.get_by_role("button", name="Train", exact=True).click()
        t0 = time.time()
        while time.time() - t0 < args.timeout:
            if page.locator(".tuner-progress-text b", has_text="completed").count():
                break
            time.sleep(2)
        time.sleep(3)
        page.screenshot(path=str(out / "train.png"), full_page=True)
        page.get_by_role("tab", name="3 · Evaluate").click()
        time.sleep(6)
        page.screenshot(path=str(out / "evaluate.png"), full_page=True)
        page.get_by_role("tab", name="4 · Try it").click()
        time.sleep(2)
        page.get_by_role("textbox", name="Text").fill("I was charged twice for order #A10517, please refund one payment")
        page.get_by_role("button", name="Classify").click()
        time.sleep(10)
        page.screenshot(path=str(out / "try_it.png"), full_page=True)
        browser.close()
    print(f"screenshots in {out} after {time.time() - t0:.0f} s of training")


if __name__ == "__main__":
    main()
