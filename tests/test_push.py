"""Push to the Hub against a local HTTP server on 127.0.0.1 that records every request (HF_ENDPOINT points at it).

`python -m tuner export <run> --push user/name` runs as a child process (huggingface_hub reads HF_HUB_OFFLINE at
import, and the test suite sets it): the server must see a repo creation and one commit carrying the model card
and the adapter weights; the token goes in the Authorization header only, never into output or files.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from test_export import make_trained_run

REPO = Path(__file__).resolve().parents[1]
TOKEN = "hf_TestTokenDoNotLeak0123456789abcdef"


class Recorder(BaseHTTPRequestHandler):
    requests: list = []
    refuse = False

    def log_message(self, *args):  # quiet
        pass

    def _body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _send(self, code: int, payload) -> None:
        data = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.requests.append({"method": "GET", "path": self.path, "auth": self.headers.get("Authorization")})
        self._send(404, {"error": "not found"})

    def do_POST(self):
        body = self._body()
        self.requests.append({"method": "POST", "path": self.path, "auth": self.headers.get("Authorization"), "body": body})
        if self.refuse:
            self._send(401, {"error": "Invalid credentials in Authorization header"})
        elif self.path == "/api/repos/create":
            name = json.loads(body)["name"]
            self._send(200, {"url": f"http://{self.headers['Host']}/someone/{name}", "name": f"someone/{name}", "id": "x"})
        elif self.path == "/api/validate-yaml":  # the Hub checks the model card's metadata block
            self._send(200, {"errors": [], "warnings": []})
        elif "/preupload/" in self.path:
            files = json.loads(body)["files"]
            self._send(200, {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files]})
        elif "/commit/" in self.path:
            self._send(200, {"commitUrl": f"http://{self.headers['Host']}/someone/x/commit/{'a' * 40}",
                             "commitOid": "a" * 40, "success": True})
        else:
            self._send(404, {"error": "not found"})


@pytest.fixture
def hub_server():
    Recorder.requests = []
    Recorder.refuse = False
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", Recorder
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_model_dir, sample_csv_factory):
    root = tmp_path_factory.mktemp("push")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TUNER_RUNS_DIR", str(root / "runs"))
        yield make_trained_run(root, tiny_model_dir, sample_csv_factory(root / "tickets.csv"))


def push(run, endpoint: str, *extra: str, offline: bool = False):
    env = dict(os.environ, HF_ENDPOINT=endpoint, HF_TOKEN=TOKEN, HF_HUB_OFFLINE="1" if offline else "0",
               TRANSFORMERS_OFFLINE="0", HF_HUB_DISABLE_XET="1", TUNER_RUNS_DIR=str(run.path.parent))
    return subprocess.run([sys.executable, "-m", "tuner", "export", run.id, "--push", "someone/tiny-tickets", *extra],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=900)


def commit_files(requests) -> dict:
    """path -> bytes of the files in the recorded commit (NDJSON lines: header, then one per file)."""
    commit = [r for r in requests if "/commit/" in r["path"]]
    assert len(commit) == 1, [r["path"] for r in requests]
    files = {}
    for line in commit[0]["body"].decode().splitlines():
        item = json.loads(line)
        if item["key"] == "file":
            files[item["value"]["path"]] = base64.b64decode(item["value"]["content"])
    return files


def assert_no_token_leak(proc, run):
    assert TOKEN not in proc.stdout and TOKEN not in proc.stderr
    for path in run.path.rglob("*"):
        if path.is_file() and path.stat().st_size < 5_000_000:
            assert TOKEN.encode() not in path.read_bytes(), path


def test_push_adapter_creates_repo_and_commits_card_and_weights(trained, hub_server):
    endpoint, rec = hub_server
    proc = push(trained, endpoint)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"{endpoint}/someone/tiny-tickets" in proc.stdout
    create = [r for r in rec.requests if r["path"] == "/api/repos/create"]
    assert len(create) == 1
    body = json.loads(create[0]["body"])
    assert body["name"] == "tiny-tickets" and body["organization"] == "someone" and body.get("visibility") == "private"
    assert all(r["auth"] in (None, f"Bearer {TOKEN}") for r in rec.requests)
    assert all(r["auth"] == f"Bearer {TOKEN}" for r in rec.requests if r["path"] == "/api/repos/create" or "/commit/" in r["path"])
    files = commit_files(rec.requests)
    weights = (trained.adapter_dir / "adapter_model.safetensors").read_bytes()
    assert files["adapter_model.safetensors"] == weights
    assert {"adapter_config.json", "label_names.json", "tokenizer.json"} <= set(files)
    card = files["README.md"].decode()
    assert "base_model:" in card and "## Evaluation (before vs. after)" in card and "someone/tiny-tickets" in card
    assert_no_token_leak(proc, trained)


def test_push_merged_model(trained, hub_server):
    endpoint, rec = hub_server
    proc = push(trained, endpoint, "--merged")
    assert proc.returncode == 0, proc.stderr[-3000:]
    files = commit_files(rec.requests)
    assert "model.safetensors" in files and "config.json" in files
    assert "library_name: transformers" in files["README.md"].decode()


def test_push_without_network_is_one_sentence(trained, hub_server):
    endpoint, rec = hub_server
    proc = push(trained, endpoint, offline=True)
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("error: Cannot reach the Hugging Face Hub from this machine (no network); "
                                   "download the zip and upload it yourself.")
    assert rec.requests == []


def test_refused_token_is_one_sentence_without_the_token(trained, hub_server):
    endpoint, rec = hub_server
    rec.refuse = True
    proc = push(trained, endpoint)
    assert proc.returncode == 2
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: The Hub refused the token for 'someone/tiny-tickets'")
    assert_no_token_leak(proc, trained)
