"""Entry point: `python app.py` builds the Tuner page and serves it (Hugging Face Spaces runs this file)."""

from __future__ import annotations

import argparse
import logging
import os


def main() -> None:
    parser = argparse.ArgumentParser(description="Tuner web app")
    parser.add_argument("--host", default=os.environ.get("TUNER_HOST", os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1")))
    parser.add_argument("--port", type=int, default=int(os.environ.get("TUNER_PORT", os.environ.get("GRADIO_SERVER_PORT", "7860"))))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("HF_EVALUATE_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    from tuner import cleanup, secrets
    from tuner.ui import build_app, launch_kwargs, quiet_queue

    secrets.install_log_filter()  # tokens and passwords never reach the log
    cleanup.start_cleaner()  # stale uploads and temporary prediction files (TUNER_CLEAN_AFTER_HOURS)
    demo = build_app()
    quiet_queue(demo.queue(default_concurrency_limit=1))  # fewer idle wake-ups beside the model's threads
    demo.launch(server_name=args.host, server_port=args.port, **launch_kwargs())


if __name__ == "__main__":
    main()
