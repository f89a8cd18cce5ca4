"""tuner.start: the one way a run starts (the page's Train button, Train again and `python -m tuner train`).

No training process starts here: the job manager is replaced by one that only records what it was given."""

from __future__ import annotations

import csv
import shlex

import pytest

from tuner import cli, jobs, runs, start
from tuner.config import RunConfig, load_recipe, recipe_path
from tuner.errors import ConfigError, DataError


class FakeManager:
    """`jobs.manager()` for these tests: records the runs, starts nothing."""

    def __init__(self):
        self.submitted = []

    def submit(self, run, resume=False):
        self.submitted.append(run)
        return len(self.submitted) - 1  # the first starts, the next ones queue


@pytest.fixture
def manager(monkeypatch, runs_dir):
    fake = FakeManager()
    monkeypatch.setattr(jobs, "manager", lambda: fake)
    for var in ("TUNER_AUTH", "OAUTH_CLIENT_ID", "SPACE_ID", "TUNER_HOST", "GRADIO_SERVER_NAME"):
        monkeypatch.delenv(var, raising=False)  # login off: one local user, runs owned by ''
    return fake


def run_folders(root):
    return [p for p in root.iterdir() if runs.RUN_ID.match(p.name)]


def tiny_cfg(model_dir, train_file, **adapter) -> RunConfig:
    return RunConfig.from_dict({"data": {"train_file": str(train_file)}, "model": {"name": str(model_dir)},
                                "adapter": adapter, "train": {"epochs": 1, "batch_size": 8, "precision": "fp32"}})


def test_start_run_makes_and_queues_the_run(manager, runs_dir, tiny_model_dir, sample_csv):
    first = start.start_run(tiny_cfg(tiny_model_dir, sample_csv), name="first", source_files={"train_file": "mine.csv"},
                            estimate={"sentence": "About a minute."})
    second = start.start_run(tiny_cfg(tiny_model_dir, sample_csv))
    assert (first.position, first.message) == (0, "Training started.")
    assert (second.position, second.message) == (1, "Queued: position 1.")
    assert manager.submitted == [first.run, second.run]
    status = first.run.status()
    assert status["name"] == "first" and status["source_files"] == {"train_file": "mine.csv"}
    assert status["estimate"] == {"sentence": "About a minute."}
    assert second.run.status()["source_files"] == {"train_file": sample_csv.name}
    assert first.run.config().data.train_file == str(first.run.data_dir / "train.csv")


def test_a_refused_data_file_raises_before_any_run_folder(manager, runs_dir, tiny_model_dir, tmp_path):
    bad = tmp_path / "mostly_empty.csv"
    with open(bad, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "label"])
        for i in range(30):
            writer.writerow([f"my parcel {i} never came", "shipping" if i % 2 else "billing"])
        for i in range(20):  # 40% of the rows have no label: over the 10% that may be left out
            writer.writerow([f"row {i} without a label", ""])
    with pytest.raises(DataError) as err:
        start.start_run(tiny_cfg(tiny_model_dir, bad))
    assert err.value.skipped is not None and "\n" not in str(err.value)
    assert run_folders(runs_dir) == [] and manager.submitted == []
    code = cli.main(["train", "classification", "--no-wait", "--no-estimate", "--set", f"data.train_file={bad}",
                     "--set", f"model.name={tiny_model_dir}"])
    assert code == 2 and run_folders(runs_dir) == []  # the CLI refuses it the same way


def test_an_unknown_target_module_raises_one_sentence(manager, runs_dir, tiny_model_dir, sample_csv):
    with pytest.raises(ConfigError) as err:
        start.start_run(tiny_cfg(tiny_model_dir, sample_csv, target_modules=["query", "no_such_layer"]))
    assert str(err.value) == ("'adapter.target_modules' has 'no_such_layer', which this model does not have; choose "
                              "from: query, key, value, dense, attention.output.dense, intermediate.dense, output.dense.")
    assert run_folders(runs_dir) == [] and manager.submitted == []
    # What training accepts is accepted: a layer's path inside its block, or the end of one.
    start.check_targets(tiny_cfg(tiny_model_dir, sample_csv, target_modules=["intermediate.dense", "self.query"]),
                        str(tiny_model_dir))


def test_the_page_refuses_a_model_outside_its_folders(manager, runs_dir, tiny_model_dir, sample_csv, tmp_path,
                                                      monkeypatch):
    monkeypatch.setenv("TUNER_MODEL_DIRS", str(tmp_path / "elsewhere"))
    from tuner import models
    from tuner.errors import ModelError

    with pytest.raises(ModelError, match="outside the allowed model folders"):
        start.start_run(tiny_cfg(tiny_model_dir, sample_csv), model_roots=models.ui_model_roots())
    assert run_folders(runs_dir) == []
    assert start.start_run(tiny_cfg(tiny_model_dir, sample_csv)).position == 0  # the CLI allows any folder


def test_the_page_and_the_cli_write_the_same_config(manager, runs_dir, tiny_model_dir, sample_csv, monkeypatch, capsys):
    """The page's Train button and the command its Show command box prints make the same config.yaml."""
    from tuner.ui import train_tab

    monkeypatch.setenv("TUNER_MODEL_DIRS", str(tiny_model_dir.parent))
    recipe = load_recipe(recipe_path("classification"))
    settings = {p: train_tab._get(recipe, p) for p in [p for p, *_ in train_tab.NUMERIC] + train_tab.EXTRA_FIELDS}
    settings.update({"train.epochs": 2, "adapter.r": 4, "train.max_minutes": 0})
    state = {"train_file": str(sample_csv), "validation_file": "", "task": "classification", "text_columns": ["text"],
             "label_column": "label"}
    run_id, command, _ = train_tab.on_start(state, "classification", str(tiny_model_dir), ["query", "value"], "same",
                                            **settings)
    page = runs.get_run(run_id)

    argv = shlex.split(command)
    assert argv[:5] == ["python", "-m", "tuner", "train", "recipes/classification.yaml"]
    # The command shows paths as public names; here they are given in full, as a person on that machine would.
    argv += ["--set", f"data.train_file={sample_csv}", "--set", f"model.name={tiny_model_dir}"]
    assert cli.main(["train", "classification", *argv[5:], "--name", "same", "--no-wait", "--no-estimate"]) == 0
    made = capsys.readouterr().out.strip().splitlines()[-1]  # (gr.Info prints its toast outside a page)
    assert made != run_id
    from_cli = runs.get_run(made)

    def stored(run):
        text = run.config_path.read_text(encoding="utf-8")
        return text.replace(str(run.path), "<run>")

    assert stored(page) == stored(from_cli)
    cfg = page.config()
    assert cfg.train.epochs == 2 and cfg.adapter.r == 4 and cfg.adapter.target_modules == ["query", "value"]
    assert cfg.data.train_file == str(page.data_dir / "train.csv")
    assert page.status()["name"] == from_cli.status()["name"] == "same"


def test_the_train_endpoints_keep_their_positional_order():
    """The handlers take the form by name; the API still takes it by position, in the order it always had."""
    from tuner.ui import build_app, train_tab

    endpoints = build_app().get_api_info()["named_endpoints"]
    order = ["recipe_name", "model_name", "target_list", "name", *(p for p, *_ in train_tab.NUMERIC),
             *train_tab.task_paths(), *train_tab.EXTRA_FIELDS]
    for name in ("/train", "/estimate", "/show_command"):
        assert [p["parameter_name"] for p in endpoints[name]["parameters"]] == order, name
    labels = [p["label"] for p in endpoints["/train"]["parameters"]]
    assert labels[:6] == ["What to train (recipe)", "Model to start from", "LoRA target modules", "Run name (optional)",
                          "LoRA rank (r)", "LoRA alpha"]
