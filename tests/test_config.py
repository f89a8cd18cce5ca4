"""RunConfig: defaults, YAML in/out, strict parsing, range checks, overrides, help metadata, recipes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tuner.config import RunConfig, apply_overrides, field_meta, iter_fields, load_recipe, validate
from tuner.errors import ConfigError

RECIPES = sorted((Path(__file__).resolve().parents[1] / "recipes").glob("*.yaml"))


def config_error(data) -> str:
    with pytest.raises(ConfigError) as info:
        RunConfig.from_dict(data)
    msg = str(info.value)
    assert "\n" not in msg and "Traceback" not in msg
    return msg


def test_defaults_validate():
    cfg = RunConfig()
    validate(cfg)
    assert cfg.task == "classification"
    assert cfg.model.name == "default"
    assert cfg.train.learning_rate == 1e-3 and isinstance(cfg.train.learning_rate, float)


def test_list_defaults_are_not_shared():
    a, b = RunConfig(), RunConfig()
    a.data.text_columns.append("x")
    assert b.data.text_columns == []


def test_yaml_round_trip():
    cfg = RunConfig.from_dict({
        "name": "tickets v2 — ünïcode",
        "seed": 7,
        "data": {"text_columns": ["title", "body"], "label_column": "category", "validation_fraction": 0.2},
        "model": {"max_length": 64},
        "adapter": {"r": 8, "alpha": 16, "target_modules": ["query", "value"]},
        "train": {"learning_rate": 2e-4, "epochs": 1.5, "group_by_length": False, "lr_scheduler": "cosine"},
    })
    text = cfg.to_yaml()
    back = RunConfig.from_yaml(text)
    assert back == cfg
    assert back.to_yaml() == text
    assert back.train.learning_rate == 2e-4 and back.adapter.target_modules == ["query", "value"]


def test_save_and_load(tmp_path):
    cfg = RunConfig.from_dict({"train": {"epochs": 2}})
    cfg.save(tmp_path / "c.yaml")
    assert RunConfig.load(tmp_path / "c.yaml") == cfg
    assert RunConfig.load(tmp_path / "c.yaml", ["train.epochs=5"]).train.epochs == 5.0


def test_load_missing_file_names_only_the_file(tmp_path):
    with pytest.raises(ConfigError) as info:
        RunConfig.load(tmp_path / "missing.yaml")
    assert "'missing.yaml'" in str(info.value)
    assert str(tmp_path) not in str(info.value)


def test_yaml_empty_document_is_defaults():
    assert RunConfig.from_yaml("") == RunConfig()
    assert RunConfig.from_yaml("# only a comment\n") == RunConfig()


@pytest.mark.parametrize("data, key", [
    ({"train": {"learnin_rate": 0.1}}, "train.learnin_rate"),
    ({"modle": {"name": "x"}}, "modle"),
    ({"adapter": {"rank": 8}}, "adapter.rank"),
    ({"data": {"train_file": "a.csv", "extra": {"deep": 1}}}, "data.extra"),
])
def test_unknown_key_is_rejected_by_dotted_name(data, key):
    msg = config_error(data)
    assert f"'{key}'" in msg
    assert msg.startswith("Unknown setting")


@pytest.mark.parametrize("data, key", [
    ({"train": {"epochs": "abc"}}, "train.epochs"),
    ({"train": {"batch_size": 1.5}}, "train.batch_size"),
    ({"train": {"group_by_length": "maybe"}}, "train.group_by_length"),
    ({"train": {"group_by_length": 1}}, "train.group_by_length"),
    ({"train": {"batch_size": True}}, "train.batch_size"),
    ({"train": {"learning_rate": [1, 2]}}, "train.learning_rate"),
    ({"train": {"learning_rate": ".nan"}}, "train.learning_rate"),
    ({"model": {"name": {"a": 1}}}, "model.name"),
    ({"data": {"text_columns": [1, 2]}}, "data.text_columns"),
    ({"train": 5}, "train"),
])
def test_wrong_types_are_rejected_by_name(data, key):
    assert f"'{key}'" in config_error(data)


@pytest.mark.parametrize("data, key", [
    ({"train": {"learning_rate": -1}}, "train.learning_rate"),
    ({"train": {"learning_rate": 0}}, "train.learning_rate"),
    ({"adapter": {"r": 0}}, "adapter.r"),
    ({"train": {"epochs": 1e9}}, "train.epochs"),
    ({"train": {"batch_size": 0}}, "train.batch_size"),
    ({"model": {"max_length": 1e6}}, "model.max_length"),
    ({"data": {"validation_fraction": 0.9}}, "data.validation_fraction"),
    ({"adapter": {"dropout": 1.5}}, "adapter.dropout"),
    ({"seed": -1}, "seed"),
])
def test_out_of_range_values_are_rejected(data, key):
    assert f"'{key}'" in config_error(data)


@pytest.mark.parametrize("data, key", [
    ({"task": "translation"}, "task"),
    ({"train": {"precision": "fp8"}}, "train.precision"),
    ({"train": {"lr_scheduler": "exponential"}}, "train.lr_scheduler"),
    ({"adapter": {"method": "adapterfusion"}}, "adapter.method"),  # ia3 etc. are methods now (tuner.methods)
])
def test_choices_are_enforced(data, key):
    msg = config_error(data)
    assert f"'{key}'" in msg and "choose one of" in msg


def test_yaml_scientific_notation_and_strings_become_numbers():
    cfg = RunConfig.from_yaml("train:\n  learning_rate: 1e-3\n  epochs: '2'\n  batch_size: 8.0\n  group_by_length: 'no'\n")
    assert cfg.train.learning_rate == 0.001 and isinstance(cfg.train.learning_rate, float)
    assert cfg.train.epochs == 2.0
    assert cfg.train.batch_size == 8 and isinstance(cfg.train.batch_size, int)
    assert cfg.train.group_by_length is False


def test_comma_separated_list_is_accepted():
    cfg = RunConfig.from_dict({"data": {"text_columns": "title, body"}})
    assert cfg.data.text_columns == ["title", "body"]


def test_too_long_strings_are_refused():
    assert "'name'" in config_error({"name": "x" * 1001})


def test_python_object_tag_is_refused_and_not_executed(tmp_path):
    marker = tmp_path / "pwned"
    doc = f"train:\n  epochs: !!python/object/apply:os.system ['touch {marker}']\n"
    with pytest.raises(ConfigError) as info:
        RunConfig.from_yaml(doc)
    assert "line 2" in str(info.value)
    assert not marker.exists()
    top = f"!!python/object/apply:os.system ['touch {marker}']\n"
    with pytest.raises(ConfigError):
        RunConfig.from_yaml(top)
    assert not marker.exists()


def test_non_mapping_yaml_is_refused():
    for doc in ("- a\n- b\n", "just text\n", "42\n"):
        with pytest.raises(ConfigError):
            RunConfig.from_yaml(doc)


def test_malformed_yaml_names_the_line():
    with pytest.raises(ConfigError) as info:
        RunConfig.from_yaml("train:\n  epochs: 2\n lr: [1,\n")
    assert "line" in str(info.value)


def test_apply_overrides():
    cfg = apply_overrides(RunConfig(), ["train.learning_rate=1e-3", "train.epochs=2", "model.name=org/model",
                                        "data.text_columns=title,body", "train.group_by_length=false"])
    assert cfg.train.learning_rate == 1e-3 and isinstance(cfg.train.learning_rate, float)
    assert cfg.train.epochs == 2.0
    assert cfg.model.name == "org/model"
    assert cfg.data.text_columns == ["title", "body"]
    assert cfg.train.group_by_length is False
    # Other settings keep their values.
    assert cfg.train.batch_size == RunConfig().train.batch_size


def test_apply_overrides_sets_a_string_to_empty():
    cfg = apply_overrides(RunConfig.from_dict({"data": {"label_column": "y"}}), ["data.label_column="])
    assert cfg.data.label_column == ""


@pytest.mark.parametrize("item, key", [
    ("train.epochs", None), ("train.nope=1", "train.nope"), ("train.epochs=abc", "train.epochs"),
    ("train.batch_size=0", "train.batch_size"),
])
def test_bad_overrides_are_refused(item, key):
    with pytest.raises(ConfigError) as info:
        apply_overrides(RunConfig(), [item])
    if key:
        assert f"'{key}'" in str(info.value)
    else:
        assert "key=value" in str(info.value)


def test_every_leaf_field_has_help():
    paths = [p for p, _, _ in iter_fields()]
    assert len(paths) == len(set(paths)) >= 25
    for path, f, value in iter_fields():
        help_text = f.metadata.get("help", "")
        assert isinstance(help_text, str) and len(help_text.strip()) > 10, path
        assert field_meta(path)["help"] == help_text


def test_numeric_defaults_lie_inside_their_own_ranges():
    for path, f, value in iter_fields():
        meta = f.metadata
        if "min" in meta:
            assert value >= meta["min"], path
        if "max" in meta:
            assert value <= meta["max"], path
        if "choices" in meta:
            assert value in meta["choices"], path


def test_field_meta_unknown():
    with pytest.raises(ConfigError):
        field_meta("train.nope")


@pytest.mark.parametrize("recipe", RECIPES, ids=[p.stem for p in RECIPES])
def test_recipes_load_and_validate(recipe):
    import yaml

    cfg = load_recipe(recipe)
    validate(cfg)
    # Every value the recipe sets arrives in the config (after the same coercion the loader applies).
    full = cfg.to_dict()
    for section, values in (yaml.safe_load(recipe.read_text()) or {}).items():
        if isinstance(values, dict):
            for key, value in values.items():
                assert full[section][key] == value, f"{section}.{key}"
        else:
            assert full[section] == values, section
    # The header gives the command that runs it.
    assert "python -m tuner train" in recipe.read_text()


def test_there_is_at_least_one_recipe():
    assert RECIPES, "recipes/*.yaml is empty"


def test_unquoted_on_off_reach_an_on_off_choice():
    """YAML 1.1 reads `compile: on` as true; a setting whose choices are on/off takes it as "on"."""
    from tuner.config import apply_overrides

    assert RunConfig.from_yaml("train:\n  compile: on\n").train.compile == "on"
    assert apply_overrides(RunConfig(), ["train.compile=off"]).train.compile == "off"
    assert "'name' must be text" in config_error({"name": True})  # free text still refuses a bare boolean
