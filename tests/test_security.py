"""Issue #23: login throttling, OAuth that starts, per-user files and sessions, private by default, safe outputs.

The HTTP tests start the real page in this process (build_app + demo.launch with app.py's launch settings) and talk
to it with httpx and gradio_client as two users, or as two browsers (two cookies).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import re
import sys
import time
from pathlib import Path

import pytest

from tuner import auth, runs
from tuner.config import RunConfig
from tuner.errors import ConfigError, DataError, RunError

ROOT = Path(__file__).resolve().parents[1]
ALICE, BOB, CAROL = ("alice", "alice-pw-1"), ("bob", "bob-pw-2"), ("carol", "carol-pw-3")
HOSTILE = "<img src=x> [link](javascript:alert(1))"


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class Req:  # the parts of gr.Request the handlers read
    def __init__(self, username=None):
        self.username = username


# ---- 1. login throttling -------------------------------------------------------------------------------------
def test_wrong_passwords_lock_the_name_out_fast_and_the_right_one_waits(monkeypatch):
    clock = FakeClock()
    throttle = auth.LoginThrottle(clock=clock)
    check = auth.check_password([ALICE, BOB], throttle)
    compared = []
    real_compare = auth.hmac.compare_digest
    monkeypatch.setattr(auth.hmac, "compare_digest", lambda a, b: compared.append(1) or real_compare(a, b))
    t0 = time.perf_counter()
    results = [check("alice", f"guess-{i}") for i in range(200)]
    took = time.perf_counter() - t0
    assert not any(results) and took < 0.5, took
    checked = len(compared)
    assert checked <= 5 * 2 * 2  # 5 attempts were compared (2 users x 2 digests each); the other 195 were not
    assert check("alice", ALICE[1]) is False and len(compared) == checked  # the right password, refused while locked
    assert check("bob", BOB[1]) is True  # another name is not locked
    clock.now += throttle.lockout + 0.1
    assert check("alice", ALICE[1]) is True  # after the lockout
    # The delay grows while failures go on: a second lockout without a success between lasts twice as long.
    for _ in range(5):
        check("alice", "wrong")
    clock.now += throttle.lockout + 0.1
    for _ in range(5):
        check("alice", "wrong")
    clock.now += throttle.lockout + 0.1
    assert check("alice", ALICE[1]) is False  # second lockout: 2 x 30 s
    clock.now += throttle.lockout
    assert check("alice", ALICE[1]) is True


def test_one_client_trying_many_names_is_locked_out(monkeypatch):
    clock = FakeClock()
    throttle = auth.LoginThrottle(clock=clock)
    check = auth.check_password([ALICE], throttle)
    token = auth.LOGIN_CLIENT.set("203.0.113.7|")
    try:
        for i in range(throttle.client_failures):
            assert not check(f"user{i}", "pw")
        assert check("alice", ALICE[1]) is False  # this client is locked, whatever the name
    finally:
        auth.LOGIN_CLIENT.reset(token)
    token = auth.LOGIN_CLIENT.set("198.51.100.1|")
    try:
        assert check("alice", ALICE[1]) is True  # another client is not
    finally:
        auth.LOGIN_CLIENT.reset(token)


# ---- 4. private by default: the modes and the sentence app.py prints ------------------------------------------
@pytest.fixture
def clean_env(monkeypatch):
    for var in ("TUNER_AUTH", "OAUTH_CLIENT_ID", "SPACE_ID", "TUNER_SHARED", "TUNER_HOST", "GRADIO_SERVER_NAME",
                "SYSTEM"):
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


def test_modes_are_private_when_reachable(clean_env):
    mp = clean_env
    assert auth.mode() == "off" and "only on this machine" in auth.startup_sentence()
    mp.setenv("TUNER_HOST", "0.0.0.0")
    assert auth.mode() == "browser"
    assert auth.startup_sentence().startswith("Login is off and the app is reachable from other machines: each browser "
                                              "sees only its own runs.")
    assert auth.owner_for("browser:" + "a" * 32) == "browser:" + "a" * 32
    with pytest.raises(RunError, match="cookie"):
        auth.owner_for(None)
    mp.setenv("TUNER_SHARED", "1")
    assert auth.mode() == "off" and "everyone who can reach this app sees" in auth.startup_sentence()
    mp.delenv("TUNER_SHARED")
    mp.setenv("TUNER_HOST", "127.0.0.1")
    mp.setenv("SPACE_ID", "org/space")
    assert auth.mode() == "browser"
    mp.setenv("TUNER_AUTH", "alice:pw")
    assert auth.mode() == "password" and "Login is on" in auth.startup_sentence()
    assert auth.browser_owner("not-ours") is None and auth.browser_owner("A" * 32) is None


def test_app_py_says_its_mode_and_installs_the_guard(clean_env, capsys, tmp_path):
    import gradio as gr

    import app
    from tuner import cleanup, ui

    clean_env.setenv("TUNER_RUNS_DIR", str(tmp_path / "runs"))
    clean_env.setattr(ui, "build_app", gr.Blocks)  # the launch settings are what is checked here, not the page
    launched = {}
    clean_env.setattr(gr.Blocks, "launch", lambda self, **kw: launched.update(kw))
    clean_env.setattr(cleanup, "start_cleaner", lambda: None)
    clean_env.setattr(sys, "argv", ["app.py", "--host", "0.0.0.0", "--port", "7999"])
    clean_env.setenv("TUNER_HOST", "")  # app.main() writes it; monkeypatch puts the old value back after the test
    app.main()
    out = capsys.readouterr().out
    assert "each browser sees only its own runs" in out and out.count("\n") == 1, out
    middleware = launched["app_kwargs"]["middleware"]
    assert [m.cls.__name__ for m in middleware] == ["AccessMiddleware"] and launched["num_workers"] == 0
    assert launched["server_name"] == "0.0.0.0"


# ---- 5. CLI and outputs --------------------------------------------------------------------------------------------
def test_bad_set_value_is_one_sentence(capsys):
    from tuner import cli

    code = cli.main(["train", "recipes/classification.yaml", "--set", "train.epochs=["])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and err.count("\n") == 1, err
    assert "'train.epochs'" in err and "train.epochs=2" in err


def test_run_names_lose_control_characters(runs_dir, sample_csv, capsys):
    from tuner import cli
    from tuner.ui.common import display_name, run_label

    evil = "\x1b[2J\x1b[31mred\x1b[0m\nfake line\r\x07 end"
    cfg = RunConfig.from_dict({"name": evil, "data": {"train_file": str(sample_csv)}})
    assert cfg.name == "red fake line end"
    run = runs.create_run(cfg, name=evil)  # a name that reached status.json raw is cleaned where it is shown
    assert cli.main(["runs"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and out.count("\n") == 1 and "red fake line end" in out, repr(out)
    assert "\x1b" not in run_label(run) and "\n" not in run_label(run)
    assert display_name(evil) == "red fake line end"


def test_processes_are_capped_to_the_host(monkeypatch):
    import os

    from tuner import jobs

    monkeypatch.setattr(jobs, "gpu_count", lambda: 0)
    cores = len(os.sched_getaffinity(0))
    with pytest.raises(ConfigError, match=rf"'train\.processes' is 64, but this machine has {cores} CPU core"):
        RunConfig.from_dict({"train": {"processes": 64}})
    assert RunConfig.from_dict({"train": {"processes": cores}}).train.processes == cores
    monkeypatch.setattr(jobs, "gpu_count", lambda: 2)
    with pytest.raises(ConfigError, match="has 2 GPUs; choose at most 2"):
        RunConfig.from_dict({"train": {"processes": 3}})
    assert RunConfig.from_dict({"train": {"processes": 2}}).train.processes == 2
    from tuner.ui.i18n import translate_error

    sentence = "'train.processes' is 3, but this machine has 2 GPUs; choose at most 2."
    assert "本机只有 2 个GPU" in translate_error(sentence, "zh")


def test_show_command_names_no_server_folders(runs_dir, sample_csv, tmp_path):
    from tuner import data
    from tuner.ui.train_tab import cli_command, shown_yaml

    stored = data.store_upload(sample_csv, "train")
    model_dir = tmp_path / "secret-cache" / "models" / "my-bert"
    model_dir.mkdir(parents=True)
    cfg = RunConfig.from_dict({"data": {"train_file": str(stored)}, "model": {"name": str(model_dir)}})
    for text in (cli_command(cfg, "classification"), shown_yaml(cfg)):
        assert str(tmp_path) not in text and str(runs_dir) not in text and str(ROOT) not in text, text
        assert "runs/_uploads/" in text and "my-bert" in text
    sample = RunConfig.from_dict({"data": {"train_file": str(ROOT / "assets" / "support_tickets.csv")}})
    assert "train_file" not in cli_command(sample, "classification")  # the recipe's own assets/... path
    assert "train_file: assets/support_tickets.csv" in shown_yaml(sample)


def finished_run(owner: str, train_file, name: str = "run", base_model: str = "default", labels=("a", "b")):
    """A completed run on disk with a (fake) adapter: enough for listings, ownership, exports and model cards."""
    cfg = RunConfig.from_dict({"data": {"train_file": str(train_file)}, "model": {"name": base_model}})
    run = runs.create_run(cfg, name=name, owner=owner)
    run.set_status(state="completed")
    run.adapter_dir.mkdir()
    (run.adapter_dir / "adapter_model.safetensors").write_bytes(b"x")
    (run.adapter_dir / "adapter_config.json").write_text("{}")
    (run.adapter_dir / "tuner_meta.json").write_text(json.dumps(
        {"task": "classification", "base_model": base_model, "labels": list(labels), "method": "lora"}))
    run.metrics_path.write_text(json.dumps({"accuracy": 0.9, "macro_f1": 0.8, "baseline": {"name": "<b>x</b>"}}))
    return run


def test_model_card_escapes_user_text_and_hides_paths(runs_dir, sample_csv, tmp_path):
    import markdown_it

    from tuner import export, model_card

    model_dir = tmp_path / "private" / "models" / "tiny-bert"
    model_dir.mkdir(parents=True)
    run = finished_run("", sample_csv, name=HOSTILE, base_model=str(model_dir),
                       labels=("<script>alert(1)</script>", "[x](javascript:alert(2))"))
    card = model_card.render(run, "you/model")
    rendered = markdown_it.MarkdownIt("commonmark").enable("table").render(card.split("---\n", 2)[-1])
    assert "<img" not in rendered and "<script" not in rendered and "<b>" not in rendered, rendered
    assert "javascript:" not in re.sub(r"<code>.*?</code>", "", " ".join(re.findall(r'href="[^"]*"', rendered)))
    assert "&lt;img src=x&gt;" in rendered  # the name is still there, as text
    assert str(tmp_path) not in card and str(runs_dir) not in card and "tiny-bert" in card
    # The zip carries no server path either (peft's adapter_config.json and tuner_meta.json name the base by folder).
    import zipfile

    (run.adapter_dir / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": str(model_dir)}))
    with zipfile.ZipFile(export.zip_adapter(run, tmp_path / "out.zip")) as zf:
        for name in zf.namelist():
            assert str(tmp_path).encode() not in zf.read(name), name
        assert json.loads(zf.read("tuner_meta.json"))["base_model"] == "tiny-bert"
    # The Space export's title stays inert inside its app.py string, YAML front matter and heading.
    title = export.space_title(f'x"\\\n<img src=x>`{HOSTILE}')
    assert not set('"\\`<>\n[]') & set(title)


# ---- 3. per-user files and sessions (login on) ----------------------------------------------------------------------
@contextlib.contextmanager
def launched(monkeypatch, env: dict):
    """The real page in this process, launched with app.py's settings; yields its URL."""
    sys.path.insert(0, str(Path(__file__).parent))
    from apphelpers import free_port
    from tuner.ui import access, build_app, launch_kwargs

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    demo = build_app()
    demo.queue()
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                **launch_kwargs(), **access.launch_kwargs())
    try:
        yield f"http://127.0.0.1:{port}/", demo
    finally:
        demo.close()


def login(url: str, user):
    import httpx

    s = httpx.Client(base_url=url, timeout=60)
    r = s.post("login", data={"username": user[0], "password": user[1]})
    assert r.status_code == 200, r.text
    return s


def raw_call(s, api: str, data: list) -> str:
    r = s.post(f"gradio_api/call/{api}", json={"data": data})
    if r.status_code != 200:
        return f"HTTP {r.status_code}: {r.text}"
    return s.get(f"gradio_api/call/{api}/{r.json()['event_id']}", timeout=120).text


def file_data(path: str) -> dict:
    return {"path": path, "meta": {"_type": "gradio.FileData"}, "orig_name": "tickets.csv"}


def test_users_get_only_their_own_files_sessions_and_events(clean_env, runs_dir, sample_csv):
    import httpx

    users = ",".join(f"{u}:{p}" for u, p in (ALICE, BOB, CAROL))
    with launched(clean_env, {"TUNER_AUTH": users}) as (url, demo):
        alice, bob = login(url, ALICE), login(url, BOB)
        # An upload is Alice's: Bob can neither download it nor hand it to a handler as his input.
        r = alice.post("gradio_api/upload", files={"files": ("tickets.csv", sample_csv.read_bytes(), "text/csv")})
        upload = r.json()[0]
        assert alice.get(f"gradio_api/file={upload}").content == sample_csv.read_bytes()
        for prefix in ("gradio_api/file=", "file=", "gradio_api/file/"):
            r = bob.get(prefix + upload)
            assert r.status_code in (401, 403, 404) and b"billing" not in r.content, (prefix, r.status_code)
        assert httpx.get(url + "gradio_api/file=" + upload).status_code in (401, 403, 404)
        # (an unknown task makes the handler itself stop at once: what counts is whether the call got in at all)
        r = bob.post("gradio_api/call/upload", json={"data": [file_data(upload), None, "no-such-task"]})
        assert r.status_code == 404 and "event_id" not in r.text, r.text
        r = alice.post("gradio_api/call/upload", json={"data": [file_data(upload), None, "no-such-task"]})
        assert r.status_code == 200 and "event_id" in r.json()
        # An export zip handed to Alice is not Bob's to download, and Bob cannot read Alice's result stream.
        run = finished_run("alice", sample_csv, name="alice run")
        r = alice.post("gradio_api/call/export_zip", json={"data": [run.id]})
        event_id = r.json()["event_id"]
        assert bob.get(f"gradio_api/call/export_zip/{event_id}").status_code == 404
        stream = alice.get(f"gradio_api/call/export_zip/{event_id}", timeout=120).text
        zip_path = json.loads(re.search(r'"path":\s*("(?:[^"\\]|\\.)*")', stream).group(1))
        assert zip_path.endswith(".zip") and alice.get(f"gradio_api/file={zip_path}").content[:2] == b"PK"
        assert bob.get(f"gradio_api/file={zip_path}").status_code == 404
        # A session id is bound to the user who used it first: Bob cannot join, read or cancel in Alice's session.
        fn_index = next(i for i, d in enumerate(demo.config["dependencies"]) if d.get("api_name") == "columns")
        body = {"data": [None, None, None, "classification", [], None], "fn_index": fn_index,
                "session_hash": "alice-session-1", "event_data": None, "trigger_id": None}
        assert alice.post("gradio_api/queue/join", json=body).status_code == 200
        assert bob.post("gradio_api/queue/join", json=body).status_code == 403
        assert bob.get("gradio_api/queue/data", params={"session_hash": "alice-session-1"}).status_code == 403
        # The Data tab's column picker refuses an upload state made for someone else (a second lock on the same door).
        columns = next(f for f in demo.fns.values() if f.api_name == "columns").fn
        state = {"train_file": str(sample_csv), "validation_file": "", "task": "classification", "owner": "alice"}
        with pytest.raises(Exception, match="belongs to another session"):
            columns(state, None, None, "classification", ["text"], "label", request=Req("bob"))
        outputs = columns(state, None, None, "classification", ["text"], "label", request=Req("alice"))
        assert outputs[0]["owner"] == "alice"
        # Login throttling through the real /login: five wrong passwords lock the name, even the right one then.
        for _ in range(5):
            assert httpx.post(url + "login", data={"username": CAROL[0], "password": "nope"}).status_code == 400
        assert httpx.post(url + "login", data={"username": CAROL[0], "password": CAROL[1]}).status_code == 400
        assert httpx.post(url + "login", data={"username": BOB[0], "password": BOB[1]}).status_code == 200
        assert any(k.startswith("client:127.0.0.1") for k in demo.auth.throttle._state)  # the client was known


def test_upload_state_is_bound_to_its_owner(clean_env):
    from tuner.ui.common import check_state_owner

    clean_env.setenv("TUNER_AUTH", "alice:pw,bob:pw")
    state = {"train_file": "x.csv", "owner": "alice"}
    check_state_owner(state, Req("alice"))
    with pytest.raises(DataError, match="belongs to another session"):
        check_state_owner(state, Req("bob"))
    with pytest.raises(DataError):
        check_state_owner(state, Req(None))


# ---- 4. private by default: two browsers -------------------------------------------------------------------------
def test_two_browsers_do_not_see_each_others_runs(clean_env, runs_dir, sample_csv):
    import httpx
    from gradio_client import Client

    with launched(clean_env, {"TUNER_HOST": "0.0.0.0"}) as (url, _):
        one, two = Client(url, verbose=False), Client(url, verbose=False)
        owners = [auth.browser_owner(c.cookies.get(auth.BROWSER_COOKIE)) for c in (one, two)]
        assert all(owners) and owners[0] != owners[1]
        mine, theirs = (finished_run(o, sample_csv, name=f"run of {i}") for i, o in enumerate(owners))
        legacy = finished_run("", sample_csv, name="made with login off")
        table, _ = one.predict(api_name="/runs")
        listed = json.dumps(table)
        assert mine.id in listed and theirs.id not in listed and legacy.id not in listed
        table, _ = two.predict(api_name="/runs")
        assert theirs.id in json.dumps(table) and mine.id not in json.dumps(table)
        for run in (theirs, legacy):
            with pytest.raises(Exception, match="does not exist"):
                one.predict(run.id, api_name="/evaluation")
        one.predict(mine.id, api_name="/evaluation")  # its own run opens
        anonymous = httpx.post(url + "gradio_api/call/runs", json={"data": []})  # no cookie: a new browser
        assert "set-cookie" in anonymous.headers and auth.BROWSER_COOKIE in anonymous.headers["set-cookie"]


# ---- 2. OAuth mode starts (authlib is installed) and its users own their runs -----------------------------------
def test_oauth_mode_starts_and_signed_in_users_see_their_own_runs(clean_env, runs_dir, sample_csv):
    import gradio as gr
    import httpx
    from gradio import oauth

    secret = "test-oauth-secret"
    for name, value in (("OAUTH_CLIENT_ID", "client"), ("OAUTH_CLIENT_SECRET", secret), ("OAUTH_SCOPES", "openid"),
                        ("OPENID_PROVIDER_URL", "https://hf.invalid")):
        clean_env.setattr(oauth, name, value)
    clean_env.setattr(oauth, "get_space", lambda: "org/space")  # Gradio's real OAuth routes (authlib), not its mock
    env = {"OAUTH_CLIENT_ID": "client", "SPACE_ID": "org/space"}
    with launched(clean_env, env) as (url, demo):
        assert auth.mode() == "oauth"
        assert any(isinstance(b, gr.LoginButton) for b in demo.blocks.values())
        assert httpx.get(url).status_code == 200
        assert "/login/huggingface" in {getattr(r, "path", "") for r in demo.server_app.routes}  # authlib's route
        mine = finished_run("hf-alice", sample_csv)
        other = finished_run("hf-bob", sample_csv)

        def signed_in(user: str) -> httpx.Client:
            from itsdangerous import TimestampSigner

            session = {"oauth_info": {"userinfo": {"preferred_username": user}, "expires_at": time.time() + 600}}
            key = hashlib.sha256((secret + "-v4").encode()).hexdigest()
            cookie = TimestampSigner(key).sign(base64.b64encode(json.dumps(session).encode())).decode()
            return httpx.Client(base_url=url, cookies={"session": cookie}, timeout=60)

        out = raw_call(signed_in("hf-alice"), "runs", [])
        assert mine.id in out and other.id not in out, out[:500]
        anonymous = raw_call(httpx.Client(base_url=url, timeout=60), "runs", [])
        assert mine.id not in anonymous and other.id not in anonymous
