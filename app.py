"""Entry point: `python app.py` builds the Tuner page and serves it (Hugging Face Spaces runs this file)."""

from __future__ import annotations

import argparse
import logging
import os


def main() -> None:
    from tuner import environment

    parser = argparse.ArgumentParser(description="Tuner web app")
    parser.add_argument("--host", default=environment.get("TUNER_HOST") or os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int,
                        default=environment.get("TUNER_PORT") or int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("HF_EVALUATE_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    environment.put("TUNER_HOST", args.host)  # tuner.auth.mode(): reachable from other machines = private per browser

    from tuner import auth, cleanup, redact
    from tuner.ui import access, build_app, launch_kwargs, quiet_queue

    print(auth.startup_sentence(), flush=True)  # who sees which runs, in one sentence

    redact.install_log_filter()  # tokens and passwords never reach the log
    cleanup.start_cleaner()  # stale uploads and temporary prediction files (TUNER_CLEAN_AFTER_HOURS)
    demo = build_app()
    # 1 at a time for an event without a limit of its own; Try it, uploads and the chat set theirs, in groups that keep
    # short requests apart from long ones (tuner/ui/try_tab.py). quiet_queue: fewer idle wake-ups beside the model.
    quiet_queue(demo.queue(default_concurrency_limit=1))
    demo.launch(server_name=args.host, server_port=args.port, **launch_kwargs(), **access.launch_kwargs())


if __name__ == "__main__":
    main()
