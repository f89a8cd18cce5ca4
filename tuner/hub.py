"""Push a prepared folder (an adapter, a merged model or a demo Space) to the Hugging Face Hub.

`huggingface_hub.HfApi` does the work; the endpoint comes from HF_ENDPOINT (or the `endpoint` argument), so
a private Hub or a local test server works the same way. The token is passed straight to HfApi: it never
goes into a file, a log line, an event or an error sentence.
"""

from __future__ import annotations

import logging
import os
import re
import socket
from pathlib import Path
from urllib.parse import urlparse

from .errors import TunerError

log = logging.getLogger(__name__)

REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
TOKEN_SHAPE = re.compile(r"hf_[A-Za-z0-9]{8,}")


class HubError(TunerError):
    """Pushing to the Hub failed; the sentence says why and what to do."""


def endpoint(value: str | None = None) -> str:
    return (value or os.environ.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/")


def mask(text: str, token: str | None = None) -> str:
    """`text` with the token (and anything shaped like a token, see tuner.redact) replaced by '***'."""
    from . import redact

    redact.register(token)
    return redact.mask(TOKEN_SHAPE.sub("***", str(text).replace(token, "***") if token else str(text)))


def check_repo_id(repo_id: str) -> str:
    repo_id = (repo_id or "").strip()
    if not REPO_ID.match(repo_id) or ".." in repo_id:
        raise HubError("Give the Hub repository as 'user-or-org/name' (letters, digits, '-', '_' or '.').")
    return repo_id


def _offline(url: str) -> bool:
    if os.environ.get("HF_HUB_OFFLINE", "0").strip().lower() in ("1", "true", "yes", "on"):
        return True
    host = urlparse(url).hostname
    if not host:
        return True
    try:
        socket.getaddrinfo(host, urlparse(url).port or 443)
    except OSError:
        return True
    return False


def push_folder(folder: str | Path, repo_id: str, token: str | None = None, repo_type: str = "model",
                private: bool = True, endpoint_url: str | None = None, message: str = "Upload from Tuner") -> str:
    """Create the repo (if needed) and upload every file of `folder` in one commit; returns the repo URL."""
    folder = Path(folder)
    repo_id = check_repo_id(repo_id)
    token = (token or os.environ.get("HF_TOKEN") or "").strip() or None
    if token:
        from . import redact

        redact.register(token)  # masked verbatim in every log line from here on
    url = endpoint(endpoint_url)
    if not folder.is_dir() or not any(folder.iterdir()):
        raise HubError("There is nothing to push yet; prepare the export first.")
    if _offline(url):
        raise HubError("Cannot reach the Hugging Face Hub from this machine (no network); download the zip and upload it yourself.")
    if token is None:
        raise HubError("Pushing to the Hub needs a write token; paste one from huggingface.co/settings/tokens or set HF_TOKEN.")
    from huggingface_hub import HfApi

    api = HfApi(endpoint=url, token=token)
    try:
        kwargs = {"space_sdk": "gradio"} if repo_type == "space" else {}
        api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True, **kwargs)
        api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type=repo_type, commit_message=message)
    except Exception as exc:  # every failure becomes one sentence without the token
        log.warning("push to %s failed: %s", repo_id, mask(repr(exc), token))
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status in (401, 403):
            raise HubError(f"The Hub refused the token for '{repo_id}'; use a token with write access to that namespace.") from None
        if status is None and _is_connection_error(exc):
            raise HubError("Cannot reach the Hugging Face Hub from this machine (no network); download the zip and upload it yourself.") from None
        raise HubError(f"The Hub did not accept the upload to '{repo_id}' ({type(exc).__name__}); check the name and try again.") from None
    prefix = {"model": "", "space": "spaces/", "dataset": "datasets/"}[repo_type]
    return f"{url}/{prefix}{repo_id}"


def _is_connection_error(exc: BaseException) -> bool:
    """True for failures to reach the server at all (DNS, refused connection, timeout), at any depth."""
    seen = 0
    while exc is not None and seen < 10:
        name = type(exc).__name__
        if isinstance(exc, (ConnectionError, TimeoutError, socket.gaierror)) or "Connect" in name or "Timeout" in name \
                or name == "OfflineModeIsEnabled":
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False
