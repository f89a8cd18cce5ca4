"""Every `TUNER_*` environment variable: one table (`VARIABLES`: name, type, default, one line of help) and the only
code that reads them.

`get("TUNER_MAX_ROWS")` returns the variable's value as its type, read when called (tests set variables with
monkeypatch, so nothing is kept from an earlier call). Unset or blank means the default. A value that cannot be read
as its type, is not one of its choices or is below its minimum also gives the default, with one warning in the log.
`put` writes a variable for this process or a child's environment, by a name the table declares.

The settings of one run live in its config (`tuner/config.py`); these are the settings of the machine: where files
go, limits per user, login, and how the CPU is shared. `python -m tuner.environment` prints the table as it stands
in docs/settings.md, `--readme` the short one in README.md.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass

log = logging.getLogger(__name__)

TRUE = ("1", "true", "yes", "on")
FALSE = ("0", "false", "no", "off")


@dataclass(frozen=True)
class Variable:
    name: str
    type: type  # str, int, float or bool
    default: object  # None: the caller works it out (shown says what it comes to)
    help: str  # one line, for docs/settings.md
    group: str  # the README row it is listed in
    shown: str = ""  # the default as the docs show it, where `default` alone does not say
    choices: tuple[str, ...] = ()  # allowed values of a str variable (compared lowercased)
    minimum: float | None = None  # smaller numbers give the default

    def default_text(self) -> str:
        if self.shown:
            return self.shown
        if self.default is None or self.default == "":
            return "(unset)"
        if isinstance(self.default, bool):
            return "`1`" if self.default else "(off)"
        return f"`{self.default}`"


GROUPS = {
    "files": "where runs, uploads, caches and local models live, and when temporary files go",
    "limits": "upload size, rows read, runs at once, per-user queue and storage",
    "access": "where the app listens, login, sharing, demo-only mode",
    "cpu": "how training and the demo share the CPU, and how fast the demo computes",
}

VARIABLES: tuple[Variable, ...] = (
    Variable("TUNER_RUNS_DIR", str, None, "where run folders live", "files",
             shown="`runs` (`/data/tuner-runs` when a writable `/data` exists)"),
    Variable("TUNER_UPLOADS_DIR", str, None, "where uploads wait until a run copies them", "files",
             shown="`<runs>/_uploads`"),
    Variable("TUNER_MODEL_DIRS", str, "models",
             "folders the page may load local models from, separated by `os.pathsep` (the CLI takes any folder)",
             "files"),
    Variable("TUNER_CACHE_DIR", str, None, "cache of the tiny models the tests and examples build", "files",
             shown="`~/.cache/tuner`"),
    Variable("TUNER_CLEAN_AFTER_HOURS", float, 24.0,
             "uploads, temporary prediction files and Gradio's upload cache older than this are deleted (run folders "
             "keep their own copies)", "files", shown="`24`"),
    Variable("TUNER_MAX_UPLOAD_MB", float, 200.0,
             "uploads over this are refused by Gradio while they stream in (nothing is stored; the page says so "
             "before sending) and again before parsing", "limits", shown="`200`"),
    Variable("TUNER_MAX_ROWS", int, 1_000_000, "rows read from one file (more = truncated with a warning)", "limits"),
    Variable("TUNER_MAX_CONCURRENT", int, 1, "training runs at once; the rest queue", "limits"),
    Variable("TUNER_MAX_QUEUED_RUNS", int, 3, "runs one user may have queued or training at once (`0` = no limit)",
             "limits"),
    Variable("TUNER_MAX_USER_GB", float, 20.0,
             "what one user's runs may store (runs of one upload share its bytes; `0` = no limit); free space by "
             "deleting runs on the Runs tab or with `python -m tuner delete <run-id>`", "limits", shown="`20`"),
    Variable("TUNER_HOST", str, None, "the address the app listens on (`0.0.0.0`: reachable from other machines)",
             "access", shown="`GRADIO_SERVER_NAME`, else `127.0.0.1`"),
    Variable("TUNER_PORT", int, None, "the port the app listens on", "access",
             shown="`GRADIO_SERVER_PORT`, else `7860`"),
    Variable("TUNER_AUTH", str, None,
             "`user:password[,user2:pw2]` turns on the login page; each user sees, stops, evaluates and tries only "
             "their own runs. Off = one local user who sees every run on 127.0.0.1, one set of runs per browser when "
             "reachable from other machines. On a Space, `hf_oauth: true` gives Hugging Face sign-in instead "
             "(`tuner/auth.py`)", "access", shown="(off)"),
    Variable("TUNER_SHARED", bool, False,
             "`1`: no login and every visitor sees every run, even when reachable from other machines (a trusted "
             "team)", "access"),
    Variable("TUNER_DEMO_RUNS", str, "", "comma-separated run ids: demo-only mode (no training; only these runs)",
             "access"),
    Variable("TUNER_TRAIN_NICE", int, 19,
             "CPU priority step of the training child below the page (0-19): training on a free machine is as fast, "
             "and Try it / Chat stay responsive while a run trains", "cpu"),
    Variable("TUNER_TRAIN_SCHED", str, "idle",
             "`idle`: the training child also takes Linux's SCHED_IDLE policy, so a Try it / Chat request takes a "
             "core at once while a run trains; `normal`: niceness only", "cpu", choices=("idle", "normal")),
    Variable("TUNER_QUEUE_POLL_MS", int, 20,
             "how often the page's idle Gradio queue looks for new work (Gradio's own is 1 ms, which wakes the app "
             "hundreds of times a second beside the model's threads; `tuner.ui.quiet_queue`)", "cpu", minimum=0),
    Variable("TUNER_CPU_TEAMS", str, "one",
             "`one`: the demo's model work runs on one compute thread, which keeps a single OpenMP team and computes "
             "at full speed (`tuner/cpu/threads.py`); `threads`: on the requests' own threads, as before", "cpu",
             choices=("one", "threads")),
    Variable("TUNER_CPU_MALLOC", str, "keep",
             "`keep`: training and prediction processes keep freed memory in glibc's heap for the next step (about "
             "1.1x faster CPU steps, `tuner/cpu/malloc.py`); `glibc`: glibc's own settings", "cpu",
             choices=("keep", "glibc")),
    Variable("TUNER_INFER_THREADS", int, None, "CPU threads the Try it / Chat models use", "cpu",
             shown="every core (at most 8)", minimum=1),
    Variable("TUNER_SHORT_THREADS", int, 1,
             "CPU threads of a short Try it request (under 64 texts), which runs on its own lane beside a file "
             "prediction (`tuner/inference.py`)", "cpu", minimum=1),
    Variable("TUNER_INFER_DTYPE", str, "auto",
             "`auto`: large CPU batches in bf16 where the CPU computes it natively, else fp32; `fp32`: always fp32; "
             "`bf16`: bf16 weights and batches; `int8`: a classifier's file rows on a dynamic-int8 copy (~1.4x faster "
             "without native bf16, but some labels change)", "cpu", choices=("auto", "fp32", "bf16", "int8")),
)

TABLE = {v.name: v for v in VARIABLES}
_warned: set[tuple[str, str]] = set()


def get(name: str):
    """The value of the variable `name` (one the table declares) as its type; its default when unset, blank or
    not readable."""
    var = TABLE[name]
    raw = os.environ.get(name, "").strip()
    if not raw:
        return var.default
    try:
        value = _parse(var, raw)
    except ValueError:
        if (name, raw) not in _warned:
            _warned.add((name, raw))
            log.warning("%s=%r is not a valid setting; using the default (%s)", name, raw, var.default_text())
        return var.default
    return value


def _parse(var: Variable, raw: str):
    if var.type is bool:
        if raw.lower() in TRUE:
            return True
        if raw.lower() in FALSE:
            return False
        raise ValueError(raw)
    if var.choices:
        if raw.lower() not in var.choices:
            raise ValueError(raw)
        return raw.lower()
    value = var.type(raw)
    if var.minimum is not None and value < var.minimum:
        raise ValueError(raw)
    return value


def put(name: str, value, env: dict | None = None) -> None:
    """Set the variable `name` (one the table declares) in `env`, or in this process's environment."""
    if name not in TABLE:
        raise KeyError(f"{name} is not a Tuner environment variable (tuner/environment.py)")
    (os.environ if env is None else env)[name] = str(value)


def settings_table() -> str:
    """The markdown table of docs/settings.md: every variable with its default and help."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    rows += [f"| `{v.name}` | {v.default_text()} | {v.help} |" for v in VARIABLES]
    return "\n".join(rows)


def readme_table() -> str:
    """The short markdown table of README.md: every variable's name, one row per group."""
    rows = ["| what | variables |", "|---|---|"]
    for group, what in GROUPS.items():
        names = ", ".join(f"`{v.name}`" for v in VARIABLES if v.group == group)
        rows.append(f"| {what} | {names} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(readme_table() if "--readme" in sys.argv[1:] else settings_table())
