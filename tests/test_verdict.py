"""Issue #22: the classical baseline, the language check, the verdict, the time estimate and the schedule rules."""

from __future__ import annotations

import csv
import io
import json
import random
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from tuner import classical, language, verdict
from tuner.config import RunConfig
from tuner.tasks import get_task
from tuner.tasks.common import Splits

CLS = get_task("classification")

# A fixed file: each label has its own words, so a TF-IDF model scores exactly 1.0 on the held-out rows.
FIXED_TRAIN = [("the food was great and tasty", "pos"), ("great service, tasty food", "pos"),
               ("tasty and great, would come back", "pos"), ("awful food, terrible service", "neg"),
               ("terrible and awful, never again", "neg"), ("the service was awful and terrible", "neg")]
FIXED_VALID = [("great tasty lunch", "pos"), ("awful terrible dinner", "neg"), ("tasty, great", "pos"),
               ("terrible", "neg")]
ZH_POS = ["很好吃，送餐很快", "味道不错，分量足", "好吃，下次还点", "服务好，送得快，好吃", "菜很新鲜，味道好"]
ZH_NEG = ["太难吃了，送得很慢", "送餐慢，菜凉了", "味道差，不会再点", "等了两个小时，太慢", "难吃，分量少"]


def splits_of(train, valid) -> Splits:
    names = sorted({lab for _, lab in train})
    index = {n: i for i, n in enumerate(names)}
    return Splits(train={"text": [t for t, _ in train], "label": [index[lab] for _, lab in train]},
                  validation={"text": [t for t, _ in valid], "label": [index[lab] for _, lab in valid]},
                  meta={"task": "classification", "labels": names})


# ---- the classical baseline ----------------------------------------------------------------------
def test_classical_baseline_scores_a_small_fixed_file():
    floor = CLS.classical_floor(splits_of(FIXED_TRAIN, FIXED_VALID))["classical"]
    assert floor["accuracy"] == 1.0 and floor["macro_f1"] == 1.0
    assert floor["name"] == "TF-IDF word + character n-grams + linear SVM"
    assert 0 <= floor["fit_seconds"] < 30


def test_classical_baseline_reads_words_it_never_saw_as_a_floor_not_an_oracle():
    # Validation words never seen in training: the floor cannot know them (it scores what it can, no more).
    floor = CLS.classical_floor(splits_of(FIXED_TRAIN, [("zzz qqq", "pos"), ("xxx yyy", "neg")]))["classical"]
    assert floor["accuracy"] == 0.5


def test_classical_baseline_uses_character_ngrams_for_chinese():
    train = [(t, "pos") for t in ZH_POS] + [(t, "neg") for t in ZH_NEG]
    valid = [("好吃，很快", "pos"), ("太慢，难吃", "neg")]
    floor = CLS.classical_floor(splits_of(train, valid))["classical"]
    assert floor["name"] == "TF-IDF character n-grams + linear SVM"
    assert floor["accuracy"] == 1.0
    # word n-grams would see each Chinese sentence as one or two "words": nothing shared with validation
    assert not language.spaced_text(ZH_POS) and language.spaced_text([t for t, _ in FIXED_TRAIN])


def test_classical_baseline_with_one_label_predicts_it():
    model = classical.ClassicalBaseline(["a b", "c d"], [1, 1])
    assert model.predict(["x", "y z"]) == [1, 1]


# ---- the language check --------------------------------------------------------------------------
ENGLISH = ["I was charged twice for my order and want a refund", "The parcel never arrived, where is it?",
           "this film is a great piece of work"]


def test_language_detection_by_script_and_common_words():
    assert language.detect(ZH_POS)["code"] == "zh"
    assert language.detect(ENGLISH)["code"] == "en"
    assert language.detect(["これはとても美味しいです", "配達が遅かったです"])["code"] == "ja"
    assert language.detect(["Der Kuchen war sehr lecker und frisch", "Lieferung kam viel zu spät"])["code"] == ""
    assert language.detect(["", "12345 !!!"])["name"] == "unknown"


def test_language_warning_fires_for_chinese_with_the_english_default_model():
    found = language.check(ZH_POS + ZH_NEG, "default")
    assert found and found["text"]["code"] == "zh" and found["model_languages"] == ["en"]
    assert "Chinese" in found["sentence"] and "English" in found["sentence"] and "network" in found["sentence"]
    ids = [hub_id for hub_id, _ in found["suggestions"]]
    assert "google-bert/bert-base-chinese" in ids and any("multilingual" in i for i in ids)


def test_language_warning_stays_quiet_for_english_text_and_for_suitable_models(chinese_model_dir):
    assert language.check(ENGLISH, "default") is None
    assert language.check(ZH_POS, str(chinese_model_dir)) is None  # its card says language: zh
    assert language.check(ZH_POS, "hfl/rbt3") is None
    assert language.check(ZH_POS, "FacebookAI/xlm-roberta-base") is None
    assert language.check(ZH_POS, "tiny:llama") is None  # unknown languages: nothing said
    assert language.check(ENGLISH, str(chinese_model_dir))["text"]["code"] == "en"  # English text, Chinese model


@pytest.fixture(scope="module")
def chinese_model_dir(tmp_path_factory) -> Path:
    """A tiny BERT whose WordPiece vocabulary is Chinese characters, with a model card saying `language: zh`."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    out = tmp_path_factory.mktemp("tiny-zh-bert")
    chars = sorted({c for t in ZH_POS + ZH_NEG + ["好吃很快太慢难吃"] for c in t if not c.isspace()})
    vocab = {tok: i for i, tok in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars])}
    tokenizer = BertTokenizerFast(vocab=vocab)
    tokenizer.save_pretrained(str(out))
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=64)).save_pretrained(str(out))
    (out / "README.md").write_text("---\nlanguage: zh\nlicense: apache-2.0\n---\n# tiny Chinese BERT\n", encoding="utf-8")
    assert tokenizer.tokenize("好吃") == ["好", "吃"]
    return out


# ---- the verdict ---------------------------------------------------------------------------------
def report_with(score: float, classical_score: float = 0.80, majority: float = 0.40, n: int = 1000) -> dict:
    return {"macro_f1": score, "accuracy": score, "n_examples": n,
            "classical": {"name": "TF-IDF", "macro_f1": classical_score},
            "baseline": {"name": "majority class ('a')", "macro_f1": majority}}


def test_verdict_levels_against_the_classical_floor():
    good = verdict.judge(report_with(0.90), {}, "macro_f1")
    assert good["level"] == "good" and good["sentence"].startswith("Worth using: it beats the classical baseline")
    assert "by 10.0 points" in good["sentence"]
    weak = verdict.judge(report_with(0.805), {}, "macro_f1")
    assert weak["level"] == "weak" and weak["sentence"].startswith("No better than the classical baseline")
    bad = verdict.judge(report_with(0.70), {}, "macro_f1")
    assert bad["level"] == "bad" and "beats it by 10.0 points" in bad["sentence"]


def test_verdict_margin_is_one_standard_error_of_the_floor():
    assert verdict.judge(report_with(0.995, 0.985, n=5000), {}, "macro_f1")["level"] == "good"
    assert verdict.judge(report_with(0.995, 0.985, n=50), {}, "macro_f1")["level"] == "weak"


def test_a_model_no_better_than_the_majority_class_is_never_a_plain_success():
    judged = verdict.judge(report_with(0.41, classical_score=0.30), {}, "macro_f1")
    assert judged["level"] == "bad" and judged["sentence"].startswith("Not usable: the model learned almost nothing")
    from tuner.ui.common import progress_html

    html = progress_html({"state": "completed", "verdict": judged["level"], "message": judged["sentence"]})
    assert "<b>completed</b>" in html and "not usable" in html and "learned almost nothing" in html
    zh = progress_html({"state": "completed", "verdict": "bad", "message": judged["sentence_zh"], "lang": "zh"})
    assert "不可用" in zh and "not usable" not in zh and "模型几乎什么都没学到" in zh
    from tuner.cli import summarize

    text = summarize({**report_with(0.41, classical_score=0.30), "verdict": judged})
    assert "verdict: Not usable" in text and "classical" in text and "majority" in text


def test_a_run_cut_by_the_time_limit_gets_the_stopped_early_verdict():
    facts = {"planned_steps": 625, "steps": 72, "time_limited": True, "seconds_per_step": 2.0, "epochs_seen": 0.11}
    judged = verdict.judge(report_with(0.70), facts, "macro_f1")
    assert judged["level"] == "bad"
    assert "the time limit stopped training after 72 of 625 planned steps (12%)" in judged["sentence"]
    assert judged["action"]["kind"] == "no_time_limit" and judged["action"]["overrides"] == {"train.max_minutes": 0}
    assert "about 21 min on this machine" in judged["action"]["label"]


def test_verdict_names_the_language_few_rows_and_a_rising_score():
    lang = language.check(ZH_POS, "default")
    facts = {"language": lang, "label_rows": {"a": 300, "b": 4}, "evals": [{"macro_f1": 0.5}, {"macro_f1": 0.6}]}
    judged = verdict.judge(report_with(0.70), facts, "macro_f1")
    assert judged["reasons"][0].startswith("The text is in Chinese")
    assert judged["action"]["kind"] == "model" and judged["action"]["overrides"]["model.name"] == "hfl/rbt3"
    assert any("1 label(s) have fewer than 10 training rows: 'b' (4)" in r for r in judged["reasons"])
    assert any("still rising" in r for r in judged["reasons"])
    assert verdict.judge(report_with(0.9), {"evals": [{"macro_f1": 0.6}, {"macro_f1": 0.5}]}, "macro_f1")["reasons"] == []


def test_entity_tagging_verdict_reads_the_dictionary_floor():
    report = {"f1": 0.80, "n_examples": 500, "baseline": {"name": "dictionary", "f1": 0.50}}
    judged = verdict.judge(report, {}, get_task("ner").headline_metric, get_task("ner").floors)
    assert judged["level"] == "good" and "entity F1" in judged["sentence"]


# ---- schedules -----------------------------------------------------------------------------------
def test_default_recipe_trains_every_row_at_least_once_on_any_size():
    from tuner.config import load_recipe
    from tuner.train import grown_batch, plan_steps

    cfg = load_recipe(Path(__file__).resolve().parents[1] / "recipes" / "classification.yaml")
    for rows in (450, 5_000, 65_000, 1_000_000):
        grown = grown_batch(cfg, rows)
        assert plan_steps(grown, rows)["examples"] >= rows, rows


def test_an_explicit_example_cap_that_cuts_the_first_pass_is_named():
    judged = verdict.judge(report_with(0.70), {"epochs_seen": 0.25, "steps": 10, "planned_steps": 10}, "macro_f1")
    assert "training saw only 25% of the training rows once" in judged["sentence"]


def test_default_recipe_has_no_time_limit_and_stops_early(tmp_path):
    from tuner.config import load_recipe

    root = Path(__file__).resolve().parents[1] / "recipes"
    cfg = load_recipe(root / "classification.yaml")
    assert cfg.train.max_minutes == 0 and cfg.train.early_stopping > 0 and cfg.train.evals > cfg.train.early_stopping
    quick = load_recipe(root / "classification-quick.yaml")
    assert quick.train.max_minutes > 0 and quick.task == "classification"


class _State:
    def __init__(self, epoch, step=10):
        self.epoch, self.global_step, self.max_steps = epoch, step, 100
        self.best_metric, self.is_world_process_zero = 0.9, True


def test_early_stopping_waits_for_one_full_pass(tmp_path):
    from transformers import TrainerControl, TrainingArguments

    from tuner.callbacks import EarlyStopCallback
    from tuner.runs import Run

    run = Run(tmp_path)
    args = TrainingArguments(output_dir=str(tmp_path), metric_for_best_model="macro_f1", greater_is_better=True,
                             eval_strategy="steps", load_best_model_at_end=True, report_to=[])
    cb = EarlyStopCallback(1, run)
    control = TrainerControl()
    cb.on_evaluate(args, _State(epoch=0.5), control, metrics={"eval_macro_f1": 0.8})  # worse, but first pass
    assert not control.should_training_stop and cb.fired_at is None
    cb.on_evaluate(args, _State(epoch=1.2, step=60), control, metrics={"eval_macro_f1": 0.8})
    assert control.should_training_stop and cb.fired_at == 60
    assert [e["type"] for e in run.events()] == ["early_stop"]


def test_mfu_is_measured_in_the_runs_precision_and_never_above_100_percent():
    from tuner.cpu.throughput import SpeedMeter, TokenCounter

    class FakeCounter(TokenCounter):
        def __init__(self):
            super().__init__(lambda f: f)

    import torch

    model = torch.nn.Sequential(torch.nn.Linear(64, 64))
    meter = SpeedMeter(FakeCounter(), model, "cpu", 1, precision="fp32")
    meter.start()
    assert meter.peak > 1e8
    meter.peak = 1.0  # a probe that missed the peak: the reading leaves MFU out instead of 1e9 %
    meter.counter.processed, meter.counter.real, meter.counter.rows = 10_000, 10_000, 100
    assert "mfu" not in meter.reading()


# ---- the time estimate ---------------------------------------------------------------------------
def write_csv(path: Path, rows) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["text", "label"])
        w.writerows(rows)
    return path


def tiny_cfg(model_dir, train_file, **train) -> RunConfig:
    return RunConfig.from_dict({"data": {"train_file": str(train_file)}, "model": {"name": str(model_dir), "max_length": 32},
                                "adapter": {"r": 4, "alpha": 8},
                                "train": {"epochs": 2, "batch_size": 8, "evals": 2, "precision": "fp32", **train}})


def test_estimate_times_real_steps_of_the_model_on_this_data(tiny_model_dir, sample_csv):
    from tuner.estimate import estimate
    from tuner.train import plan_steps

    cfg = tiny_cfg(tiny_model_dir, sample_csv)
    est = estimate(cfg)
    n_train = len(CLS.load_splits(cfg).train["text"])
    plan = plan_steps(cfg, n_train)
    assert est.steps == plan["steps"] and est.evals == plan["steps"] // plan["eval_steps"] >= 2
    assert 0 < est.seconds_per_step < 5 and est.seconds > est.steps * est.seconds_per_step
    assert abs(est.epochs - 2.0) < 0.05 and est.limit_share is None
    assert est.sentence().startswith("Estimated training time on this machine: about ")
    limited = estimate(tiny_cfg(tiny_model_dir, sample_csv, epochs=500, max_minutes=0.01))
    assert limited.limit_share is not None and limited.limit_share < 1
    assert "The time limit covers only about" in limited.sentence()


def test_estimate_for_a_chinese_model_on_chinese_text(chinese_model_dir, tmp_path):
    from tuner.estimate import estimate

    rows = [(t, "pos") for t in ZH_POS * 4] + [(t, "neg") for t in ZH_NEG * 4]
    random.Random(0).shuffle(rows)
    cfg = tiny_cfg(chinese_model_dir, write_csv(tmp_path / "zh.csv", rows))
    assert estimate(cfg).steps > 0
    assert language.check([t for t, _ in rows], cfg.model.name) is None


def test_cli_estimate_prints_time_before_anything_runs(tiny_model_dir, sample_csv, runs_dir):
    from tuner import cli

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = cli.main(["train", "classification", "--estimate", "--set", f"data.train_file={sample_csv}",
                         "--set", f"model.name={tiny_model_dir}", "--set", "model.max_length=32",
                         "--set", "train.precision=fp32"])
    assert code == 0, err.getvalue()
    assert "Estimated training time on this machine" in out.getvalue() and "Estimated memory" in out.getvalue()
    assert not any(runs_dir.iterdir())  # --estimate starts nothing


def test_cli_warns_about_the_language_in_its_first_lines(tmp_path, runs_dir):
    from tuner.config import load_recipe, recipe_path
    from tuner.start import data_warnings

    rows = [(t, "pos") for t in ZH_POS * 4] + [(t, "neg") for t in ZH_NEG * 4]
    path = write_csv(tmp_path / "zh.csv", rows)
    cfg = load_recipe(recipe_path("classification"), [f"data.train_file={path}"])
    assert any("The text is in Chinese" in w for w in data_warnings(cfg))
    english = write_csv(tmp_path / "en.csv", [(t, lab) for t, lab in FIXED_TRAIN * 3])
    assert data_warnings(load_recipe(recipe_path("classification"), [f"data.train_file={english}"])) == []


def test_evaluate_tab_leads_with_the_verdict_and_shows_both_floors():
    from tuner.ui.evaluate_tab import report_views

    report = {**report_with(0.9), "per_label": [], "labels": ["a", "b"], "steps": 10, "train_seconds": 5.0,
              "verdict": verdict.judge(report_with(0.9), {}, "macro_f1")}
    report["classical"]["fit_seconds"] = 1.5
    summary, headline, _, _ = report_views(report)
    assert summary.startswith("### ✅ Worth using")
    assert list(headline.columns) == ["metric", "finetuned", "classical baseline", "majority class ('a')"]
    assert "The classical baseline (TF-IDF) took 1.5 s to fit." in summary


def test_runs_table_and_model_card_carry_the_classical_floor(runs_dir):
    from tuner import model_card, runs
    from tuner.runs import write_json_atomic
    from tuner.ui.runs_tab import runs_table

    run = runs.create_run(RunConfig())
    report = {**report_with(0.9), "verdict": verdict.judge(report_with(0.9), {}, "macro_f1")}
    write_json_atomic(run.metrics_path, report)
    table = runs_table()
    assert table.loc[0, "classical macro_f1"] == 0.8 and table.loc[0, "verdict"] == "good"
    card = model_card.metrics_table(json.loads(run.metrics_path.read_text()))
    assert "classical baseline: TF-IDF" in card and "**Verdict:** Worth using" in card


def test_unknown_tokens_count_against_a_model_whatever_its_card_says(tiny_model_dir, tmp_path):
    from tuner import models

    tokenizer = models.load_tokenizer(str(tiny_model_dir))  # the MiniLM vocabulary: few Chinese characters
    share = language.unknown_share(ZH_POS + ZH_NEG, tokenizer)
    assert share is not None and share > 0.3
    assert language.unknown_share(ENGLISH, tokenizer) == 0.0
    found = language.check(ZH_POS + ZH_NEG, str(tiny_model_dir), tokenizer)  # no card: languages unknown
    assert found and f"{100 * share:.0f}% of its tokens are unknown to the model's vocabulary" in found["sentence"]
    assert language.check(ENGLISH, str(tiny_model_dir), tokenizer) is None


def test_data_tab_warns_about_the_language_before_training(tmp_path):
    pytest.importorskip("gradio")
    from tuner.ui.data_tab import inspect_files

    rows = [(t, "pos") for t in ZH_POS * 4] + [(t, "neg") for t in ZH_NEG * 4]
    path = write_csv(tmp_path / "zh.csv", rows)
    summary = inspect_files(str(path), None, "classification", None, None, True)[3]
    assert "The text is in Chinese" in summary and "hfl/rbt3" in summary
    english = write_csv(tmp_path / "en.csv", [(t, lab) for t, lab in FIXED_TRAIN * 3])
    assert "The text is in" not in inspect_files(str(english), None, "classification", None, None, True)[3]
