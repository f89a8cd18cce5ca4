"""The Dockerfile, checked without a Docker engine: its instructions are parsed and every RUN step is executed as
the same commands in a clean virtual environment (no system site-packages), the app is started with its CMD
from a copy of the build context (honouring .dockerignore), and its HEALTHCHECK command must pass against it.

`/home/user` (the image's home) maps to a temporary folder; apt-get steps are checked against apt's package
index instead of run; the published port 7860 maps to a free port so a running app cannot interfere. Any RUN
command this mapping does not know fails the test, so a new step in the Dockerfile needs a matching check here.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCKERFILE = REPO / "Dockerfile"
pytestmark = pytest.mark.slow


def instructions() -> list[tuple[str, str]]:
    out, buf = [], ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.rstrip()
        if not buf and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        line, buf = buf + line, ""
        word, _, rest = line.strip().partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def parse_env(rest: str, env: dict) -> dict:
    new = {}
    for item in shlex.split(rest):
        key, _, value = item.partition("=")
        new[key] = expand(value, {**env, **new})
    return new


def expand(text: str, env: dict) -> str:
    return re.sub(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", lambda m: env.get(m.group(1), ""), text)


def test_dockerfile_shape():
    ins = instructions()
    kinds = [k for k, _ in ins]
    assert kinds[0] == "FROM" and re.match(r"nvidia/cuda:[\d.]+-(cudnn-)?runtime-ubuntu", ins[0][1]), ins[0]
    users = [v for k, v in ins if k == "USER"]
    assert users and users[-1] not in ("root", "0"), "the app runs as a non-root user"
    assert kinds.index("USER") < kinds.index("CMD")
    assert ("EXPOSE", "7860") in ins
    assert any(k == "HEALTHCHECK" and " CMD " in f" {v} " for k, v in ins)
    assert json.loads(dict(ins)["CMD"]) == ["python", "app.py"]
    runs = " ".join(v for k, v in ins if k == "RUN")
    assert "-r requirements.txt" in runs and "shell=True" not in runs
    copies = [v for k, v in ins if k == "COPY"]
    assert copies[0].endswith("requirements.txt requirements.txt"), "dependencies are installed before the code is copied (layer cache)"


def check_apt(args: list[str]) -> None:
    if args[:1] != ["install"]:
        return
    pkgs = [a for a in args[1:] if not a.startswith("-")]
    assert pkgs, "apt-get install names packages"
    if not shutil.which("apt-cache"):
        return
    for pkg in pkgs:
        proc = subprocess.run(["apt-cache", "show", pkg], capture_output=True, text=True)
        assert proc.returncode == 0 and "Package:" in proc.stdout, f"apt has no package {pkg}"


def run_step(cmd: list[str], env: dict, cwd: Path, user: str | None) -> None:
    prog = cmd[0]
    if prog == "apt-get":
        return check_apt(cmd[1:])
    if prog in ("rm", "mkdir", "chown") and all(a.startswith(("-", "/var/lib/apt", "/data", "user")) for a in cmd[1:]):
        return  # system paths of the image
    if prog == "useradd":
        assert "--uid" in cmd and cmd[cmd.index("--uid") + 1] == "1000" and cmd[-1] == "user"
        return
    if prog == "python3":
        cmd = [getattr(sys, "_base_executable", sys.executable), *cmd[1:]]
    elif not (prog.endswith("/bin/python") or prog.endswith("/bin/pip")):
        pytest.fail(f"the Dockerfile runs `{prog}`, which this test does not know how to check")
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, f"{shlex.join(cmd)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"


def dockerignore_filter(src: str, names: list[str]) -> set[str]:
    patterns = [p.strip().rstrip("/") for p in (REPO / ".dockerignore").read_text().splitlines()
                if p.strip() and not p.startswith("#")]
    rel_dir = os.path.relpath(src, REPO)
    ignored = set()
    for name in names:
        rel = os.path.normpath(os.path.join(rel_dir, name))
        for pat in patterns:
            bare = pat[3:] if pat.startswith("**/") else pat
            if fnmatch.fnmatch(rel, pat) or fnmatch.fnmatch(name, bare):
                ignored.add(name)
    return ignored


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_dockerfile_steps_in_a_clean_venv(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "TUNER_"))}
    env["PATH"] = os.environ.get("PATH", "")
    workdir, user, healthcheck, cmd = None, None, None, None
    for kind, rest in instructions():
        rest = rest.replace("/home/user", str(home))
        if kind == "ENV":
            env.update(parse_env(rest, env))
        elif kind == "USER":
            user = rest
        elif kind == "WORKDIR":
            workdir = Path(rest)
            workdir.mkdir(parents=True, exist_ok=True)
        elif kind == "COPY":
            src, dst = [a for a in shlex.split(rest) if not a.startswith("--")]
            if src == ".":
                shutil.copytree(REPO, workdir, ignore=dockerignore_filter, dirs_exist_ok=True)
            else:
                shutil.copy(REPO / src, workdir / dst)
        elif kind == "RUN":
            for part in rest.split("&&"):
                run_step([expand(a, env) for a in shlex.split(part)], env, workdir or home, user)
        elif kind == "HEALTHCHECK":
            healthcheck = shlex.split(rest.split(" CMD ", 1)[1].replace("7860", str(port)))
        elif kind == "CMD":
            cmd = json.loads(rest)
    venv_python = Path(env["VENV"]) / "bin" / "python"
    assert venv_python.is_file()
    # Clean: the venv sees its own packages only, and they are the pinned ones.
    probe = subprocess.run([str(venv_python), "-c", "import sys, torch, gradio, peft; print(sys.flags.no_site, "
                            "any('site-packages' in p and not p.startswith(sys.prefix) for p in sys.path), "
                            "gradio.__version__, peft.__version__)"],
                           env=env, capture_output=True, text=True, timeout=300)
    assert probe.returncode == 0, probe.stderr[-2000:]
    reqs = (REPO / "requirements.txt").read_text()
    _, foreign, gradio_v, peft_v = probe.stdout.split()
    assert foreign == "False" and f"gradio=={gradio_v}" in reqs and f"peft=={peft_v}" in reqs
    assert not (workdir / ".git").exists() and (workdir / "app.py").is_file()

    env.update(TUNER_PORT=str(port), TUNER_RUNS_DIR=str(tmp_path / "runs"), HF_HUB_OFFLINE="1")
    exe = shutil.which(healthcheck[0], path=env["PATH"])
    assert exe and exe.startswith(str(home)), "HEALTHCHECK's python is the image's venv"
    assert subprocess.run([exe, *healthcheck[1:]], env=env, capture_output=True, timeout=60).returncode != 0
    log = open(tmp_path / "app.log", "wb")
    app = subprocess.Popen([shutil.which(cmd[0], path=env["PATH"]), *cmd[1:]], cwd=workdir, env=env, stdout=log,
                           stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline, ok = time.time() + 240, False
        while time.time() < deadline and app.poll() is None:
            if subprocess.run([exe, *healthcheck[1:]], env=env, capture_output=True, timeout=60).returncode == 0:
                ok = True
                break
            time.sleep(2)
        assert ok, (tmp_path / "app.log").read_text()[-3000:]
    finally:
        app.terminate()
        try:
            app.wait(timeout=20)
        except subprocess.TimeoutExpired:
            app.kill()
        log.close()


def test_readme_is_a_gradio_space_and_keeps_its_two_setup_commands():
    import yaml

    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert text.startswith("---\n")
    _, front, body = text.split("---\n", 2)
    meta = yaml.safe_load(front)
    assert meta["sdk"] == "gradio" and meta["app_file"] == "app.py" and meta["title"]
    assert f"gradio=={meta['sdk_version']}" in (REPO / "requirements.txt").read_text()
    assert (REPO / meta["app_file"]).is_file()
    lines = body.strip().splitlines()
    assert lines[0].startswith("# Tuner")
    block = body.split("```bash\n", 1)[1].split("```", 1)[0].strip().splitlines()
    assert len(block) == 2 and "python app.py" in block[0] and "python -m pytest" in block[1]
    assert body.index("```bash") < body.index("\n## ")
