"""tuner.environment: every TUNER_* variable in one table, read only there, at call time, and listed in the docs."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from tuner import environment

REPO = Path(__file__).resolve().parents[1]
# os.environ / os.getenv on the same line as a TUNER_ name (environment.get does not match: `environ\b`)
DIRECT_READ = re.compile(r"\b(?:environ|getenv)\b.*TUNER_|TUNER_\w*['\"]\s*\bin\s+(?:os\.)?environ\b")


def test_no_module_but_environment_reads_a_tuner_variable():
    offenders = []
    for path in sorted((REPO / "tuner").rglob("*.py")):
        if path.name == "environment.py" and path.parent.name == "tuner":
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if DIRECT_READ.search(line):
                offenders.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert not offenders, "read TUNER_* variables through tuner.environment:\n" + "\n".join(offenders)


def test_every_tuner_name_in_the_package_is_in_the_table():
    """A TUNER_ name mentioned anywhere in tuner/ (docstrings, messages) is one the table declares."""
    named = set()
    for path in (REPO / "tuner").rglob("*.py"):
        named |= set(re.findall(r"\bTUNER_[A-Z0-9_]*[A-Z0-9]\b", path.read_text(encoding="utf-8")))
    assert named - set(environment.TABLE) == set()


def test_the_readme_and_the_settings_page_list_every_variable():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    settings = (REPO / "docs" / "settings.md").read_text(encoding="utf-8")
    missing = [v.name for v in environment.VARIABLES if f"`{v.name}`" not in readme]
    assert not missing, f"README.md does not list {missing}; paste `python -m tuner.environment --readme`"
    assert environment.readme_table() in readme, "README.md's table is not `python -m tuner.environment --readme`"
    assert environment.settings_table() in settings, "docs/settings.md's table is not `python -m tuner.environment`"


def test_values_are_read_when_asked_as_their_type(monkeypatch):
    monkeypatch.delenv("TUNER_MAX_ROWS", raising=False)
    assert environment.get("TUNER_MAX_ROWS") == 1_000_000
    monkeypatch.setenv("TUNER_MAX_ROWS", " 10 ")
    assert environment.get("TUNER_MAX_ROWS") == 10
    monkeypatch.setenv("TUNER_MAX_UPLOAD_MB", "0.5")
    assert environment.get("TUNER_MAX_UPLOAD_MB") == 0.5
    monkeypatch.setenv("TUNER_SHARED", "Yes")
    assert environment.get("TUNER_SHARED") is True
    monkeypatch.setenv("TUNER_SHARED", "0")
    assert environment.get("TUNER_SHARED") is False
    monkeypatch.setenv("TUNER_CPU_TEAMS", "THREADS")
    assert environment.get("TUNER_CPU_TEAMS") == "threads"
    monkeypatch.setenv("TUNER_RUNS_DIR", "")
    assert environment.get("TUNER_RUNS_DIR") is None  # blank = unset: runs.runs_root works out its default


@pytest.mark.parametrize("name, value", [("TUNER_MAX_ROWS", "many"), ("TUNER_INFER_THREADS", "0"),
                                         ("TUNER_INFER_DTYPE", "fp16"), ("TUNER_SHARED", "maybe")])
def test_an_unreadable_value_gives_the_default_with_a_warning(monkeypatch, caplog, name, value):
    monkeypatch.setenv(name, value)
    with caplog.at_level(logging.WARNING, logger="tuner.environment"):
        assert environment.get(name) == environment.TABLE[name].default
        environment.get(name)
    assert sum(name in r.getMessage() for r in caplog.records) <= 1  # once per value, not at every read


def test_put_writes_only_declared_names():
    env = {}
    environment.put("TUNER_DEMO_RUNS", "a,b", env)
    assert env == {"TUNER_DEMO_RUNS": "a,b"}
    with pytest.raises(KeyError):
        environment.put("TUNER_NO_SUCH_THING", "1", env)


def test_every_variable_has_a_group_and_one_line_of_help():
    assert len(environment.TABLE) == len(environment.VARIABLES)
    for v in environment.VARIABLES:
        assert v.name.startswith("TUNER_") and v.group in environment.GROUPS
        assert v.help and "\n" not in v.help
        assert v.type in (str, int, float, bool)
