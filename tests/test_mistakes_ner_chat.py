"""The mistakes view for entity tagging and chat (issue #26 item 1): a tagger's validation sentences with the most
entity errors, worst first, missed / spurious / wrong-type spans as seqeval counts them; a chat model's answers with
the lowest ROUGE-L first, capped; the CLI prints them and the page handler returns the view of the run's task."""

from __future__ import annotations

from pathlib import Path

import pytest

from tuner.analysis import mistakes
from tuner.config import RunConfig
from tuner.tasks import get_task
from tuner.tasks.ner import analysis as ner_analysis
from tuner.tasks.ner import schemes as ts

ASSETS = Path(__file__).resolve().parents[1] / "assets"

# ---- the entity view on hand-made tags ------------------------------------------------------------------------------
TOKENS = [
    ["Angela", "Merkel", "visited", "Paris", "."],
    ["Tim", "Cook", "works", "at", "Apple", "."],
    ["The", "office", "in", "New", "York", "opened", "."],
    ["Siemens", "hired", "Maria", "."],
]
REFS = [
    ["B-PER", "I-PER", "O", "B-LOC", "O"],
    ["B-PER", "I-PER", "O", "O", "B-ORG", "O"],
    ["O", "O", "O", "B-LOC", "I-LOC", "O", "O"],
    ["B-ORG", "O", "B-PER", "O"],
]
PREDS = [
    ["B-PER", "I-PER", "O", "B-LOC", "O"],       # right
    ["B-PER", "I-PER", "B-ORG", "O", "B-LOC", "O"],  # Apple ORG read as LOC; "works" spurious ORG
    ["O", "O", "O", "O", "B-LOC", "O", "O"],     # New York found as York: other boundaries
    ["O", "O", "B-PER", "O"],                    # Siemens missed
]


def test_sentence_errors_marks_missed_spurious_and_wrong_type_spans():
    found = ner_analysis.sentence_errors(TOKENS[1], REFS[1], PREDS[1])
    assert found["missed"] == [["ORG", 4, 5]]  # seqeval's false negatives
    assert found["spurious"] == [["ORG", 2, 3], ["LOC", 4, 5]]  # and false positives
    assert [(m["kind"], m["text"], m["true"], m["predicted"]) for m in found["marks"]] == [
        ("correct", "Tim Cook", "PER", "PER"), ("spurious", "works", None, "ORG"), ("wrong_type", "Apple", "ORG", "LOC")]
    assert found["errors"] == 2 and found["types"] == ["LOC", "ORG"]
    york = ner_analysis.sentence_errors(TOKENS[2], REFS[2], PREDS[2])
    assert york["missed"] == [["LOC", 3, 5]] and york["spurious"] == [["LOC", 4, 5]]
    assert [(m["kind"], m["text"], m.get("predicted_spans")) for m in york["marks"]] == [
        ("boundary", "New York", [{"type": "LOC", "text": "York"}])]
    assert ner_analysis.sentence_errors(TOKENS[0], REFS[0], PREDS[0])["errors"] == 0


def test_rank_lists_the_wrong_sentences_worst_first_and_agrees_with_seqeval():
    from tuner.tasks.ner.metrics import entity_scores

    found = ner_analysis.rank_sentences(TOKENS, REFS, PREDS)
    assert [r["sentence"] for r in found["rows"]] == [1, 2, 3]  # 2 errors, then 1 (1+1 spans), then 1 (1 span)
    assert found["n_wrong"] == 3 and found["n_validation"] == 4
    assert (found["n_entities"], found["n_predicted"], found["n_missed"], found["n_spurious"]) == (7, 7, 3, 3)
    s = entity_scores(PREDS, REFS)
    assert found["recall"] == pytest.approx(s["overall_recall"]) and found["precision"] == pytest.approx(s["overall_precision"])
    kinds = {(k["kind"], k["true"], k["predicted"]): k["spans"] for k in found["kinds"]}
    assert kinds == {("wrong_type", "ORG", "LOC"): 1, ("spurious", None, "ORG"): 1, ("boundary", "LOC", None): 1,
                     ("missed", "ORG", None): 1}
    assert [r["sentence"] for r in mistakes.with_type(found["rows"], "PER")] == []
    assert [r["sentence"] for r in mistakes.with_type(found["rows"], "ORG")] == [1, 3]


class FakeTagger:
    """What the NER hook reads of a Predictor, answering with fixed tags (a tiny random model's tags are noise)."""

    def __init__(self, tags, meta):
        self.tags, self.meta, self.model, self.tokenizer, self.max_length = tags, meta, None, None, 32

    def compute(self, fn, model, tokenizer, tokens, meta, max_length):
        assert [len(t) for t in tokens] == [len(t) for t in self.tags]
        return [(tags, None) for tags in self.tags]


def test_ner_hook_scores_the_split_with_the_predictor():
    task = get_task("ner")
    labels = ts.label_list(["LOC", "ORG", "PER"])
    meta = {"labels": labels, "types": ["LOC", "ORG", "PER"]}
    split = {"tokens": TOKENS, "tags": [[labels.index(t) for t in s] for s in REFS]}
    found = task.mistakes(FakeTagger(PREDS, meta), split, meta)
    assert found["kind"] == "entities" == task.mistakes_kind and found["types"] == ["LOC", "ORG", "PER"]
    assert [r["sentence"] for r in found["rows"]] == [1, 2, 3]
    assert found["rows"][2]["missed"] == [["ORG", 0, 1]] and found["rows"][2]["spurious"] == []


# ---- a tiny tagger run --------------------------------------------------------------------------------------------
def conll(n: int) -> str:
    return "\n\n".join("\n".join(f"{w} {t}" for w, t in zip(TOKENS[i % 4], REFS[i % 4])) for i in range(n)) + "\n"


def first_words(path: Path, place: str) -> list[str]:
    """The words of the sentence that starts at `place` ('line 12') of a CoNLL file."""
    lines = path.read_text(encoding="utf-8").splitlines()[int(place.split()[1].replace(",", "")) - 1:]
    return [ln.split()[0] for ln in lines[:next((i for i, ln in enumerate(lines) if not ln.strip()), len(lines))]]


def test_each_validation_sentence_knows_its_line_in_the_file(tmp_path):
    """The held-out sentences (shuffled out of the file, then sorted by length) keep where they are in the file,
    so the mistakes view can say 'line 1,204' instead of a rank."""
    sentences = [TOKENS[i % 4] + [f"w{i}"] for i in range(30)]  # every sentence different
    path = tmp_path / "train.conll"
    path.write_text("\n\n".join("\n".join(f"{w} {t}" for w, t in zip(s, REFS[i % 4] + ["O"]))
                                for i, s in enumerate(sentences)) + "\n", encoding="utf-8")
    cfg = RunConfig.from_dict({"task": "ner", "data": {"train_file": str(path), "validation_fraction": 0.3}})
    splits = get_task("ner").analysis_splits(cfg)
    for part in (splits.train, splits.validation):
        assert len(part["place"]) == len(part["tokens"]) > 0
        for place, tokens in zip(part["place"], part["tokens"]):
            assert first_words(path, place) == tokens
    assert "place" not in get_task("ner").load_splits(cfg).validation  # training reads no such column


@pytest.fixture(scope="module")
def ner_run(tmp_path_factory, tiny_model_dir):
    from tuner import runs
    from tuner.train import train

    root = tmp_path_factory.mktemp("mistakes-ner")
    (root / "runs").mkdir()
    (root / "train.conll").write_text(conll(24), encoding="utf-8")
    (root / "valid.conll").write_text(conll(8), encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TUNER_RUNS_DIR", str(root / "runs"))
        cfg = RunConfig.from_dict({
            "task": "ner", "name": "tiny ner mistakes",
            "data": {"train_file": str(root / "train.conll"), "validation_file": str(root / "valid.conll")},
            "model": {"name": str(tiny_model_dir), "max_length": 32}, "adapter": {"r": 4, "alpha": 8},
            "train": {"epochs": 1, "batch_size": 8, "evals": 0, "learning_rate": 1e-3, "precision": "fp32"}})
        run = runs.create_run(cfg)
        train(cfg, run)
        yield run


@pytest.mark.slow
def test_tiny_tagger_lists_exactly_the_sentences_whose_spans_differ(ner_run):
    from tuner.inference import get_predictor
    from tuner.tasks.ner.tagging import tag_words

    found = mistakes.find(ner_run)
    task = get_task("ner")
    splits = task.analysis_splits(ner_run.config())
    predictor = get_predictor(ner_run)
    preds = [t for t, _ in tag_words(predictor.model, predictor.tokenizer, splits.validation["tokens"], predictor.meta, 32)]
    labels = splits.meta["labels"]
    refs = [[labels[j] for j in s] for s in splits.validation["tags"]]
    differ = {k for k, (r, p) in enumerate(zip(refs, preds)) if set(ts.bio_to_spans(r)) != set(ts.bio_to_spans(p))}
    assert found["kind"] == "entities" and found["n_validation"] == 8
    assert {r["sentence"] for r in found["rows"]} == differ and found["n_wrong"] == len(differ)
    valid = Path(ner_run.config().data.validation_file)
    assert all(first_words(valid, r["place"]) == r["tokens"] for r in found["rows"])
    worst = [(r["errors"], len(r["missed"]) + len(r["spurious"])) for r in found["rows"]]
    assert worst == sorted(worst, reverse=True)
    report = ner_run.metrics()  # the counts agree with the Evaluate tab's scores
    assert found["recall"] == pytest.approx(report["recall"]) and found["precision"] == pytest.approx(report["precision"])
    assert mistakes.find(ner_run) == found  # kept in the run's analysis/ folder


@pytest.mark.slow
def test_cli_prints_the_entity_view(ner_run, capsys, monkeypatch):
    from tuner.cli import main

    monkeypatch.setenv("TUNER_RUNS_DIR", str(ner_run.path.parent))
    found = mistakes.find(ner_run)
    assert main(["mistakes", str(ner_run.path), "--type", "PER"]) == 0
    out = capsys.readouterr().out
    assert f"{found['n_wrong']:,} of 8 validation sentences have entity errors." in out
    n_per = len(mistakes.with_type(found["rows"], "PER"))
    assert f"{n_per:,} sentences have an error involving PER." in out
    assert out.count("\n#") == n_per


@pytest.mark.slow
def test_page_handler_returns_the_entity_view(ner_run, monkeypatch):
    import pandas as pd

    from tuner.ui import mistakes as page

    monkeypatch.setenv("TUNER_RUNS_DIR", str(ner_run.path.parent))
    found = mistakes.find(ner_run)
    summary, wrong, pairs, *_, kinds, html, type_pick, answers = page.on_mistakes(ner_run.id)
    assert f"{found['n_wrong']:,} of 8 validation sentences have entity errors" in summary
    assert isinstance(kinds, pd.DataFrame) and len(kinds) == len(found["kinds"])
    assert html.count("<li") == len(found["rows"])
    labels_box, entities_box, answers_box, issues_box, why, note = page.sections(ner_run)
    assert entities_box["visible"] and not labels_box["visible"] and not issues_box["visible"]
    assert "one label per row" in why


# ---- chat ---------------------------------------------------------------------------------------------------------
def test_rank_answers_lowest_rouge_first():
    from tuner.tasks.chat.analysis import rank_answers

    rows = rank_answers(["a", "b", "c"], ["the parcel ships today", "refund in five days", "hello there"],
                        ["the parcel ships today", "no idea", "hello"])
    assert [r["row"] for r in rows] == [1, 2, 0]
    assert [r["rouge_l"] for r in rows] == [0.0, pytest.approx(2 / 3, abs=1e-4), 1.0]


@pytest.fixture(scope="module")
def chat_run(tmp_path_factory):
    """A finished chat run on the bundled sample whose adapter is random (saved through training's own code)."""
    import torch

    from tuner import models, runs, tiny_models
    from tuner import train as train_mod

    root = tmp_path_factory.mktemp("mistakes-chat")
    (root / "runs").mkdir()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TUNER_RUNS_DIR", str(root / "runs"))
        mp.setenv("TUNER_CACHE_DIR", str(root / "cache"))
        tiny_models.build("llama")
        cfg = RunConfig.from_dict({"task": "chat", "data": {"train_file": str(ASSETS / "support_chat.jsonl")},
                                   "model": {"name": "tiny:llama", "max_length": 128}, "chat": {"max_new_tokens": 8}})
        run = runs.create_run(cfg, name="tiny chat mistakes")
        source = models.resolve(cfg.model.name)
        model = models.attach_adapter(get_task("chat").build_model(source, {}), cfg.adapter, "CAUSAL_LM", [])
        torch.manual_seed(0)
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.data.normal_(0, 0.5)
        meta = {"task": "chat", "shape": "messages", "template": "auto", "system_prompt": "", "max_new_tokens": 8}
        train_mod.save_adapter(model, models.load_tokenizer(source), run, cfg, meta)
        run.set_status(state="completed", message="made by hand for a test")
        yield run


@pytest.mark.slow
def test_chat_view_scores_the_first_prompts_lowest_first(chat_run, monkeypatch):
    from tuner.tasks.chat import analysis as chat_analysis

    monkeypatch.setattr(get_task("chat"), "mistakes_cap", 4)
    found = mistakes.find(chat_run, refresh=True)
    split = get_task("chat").analysis_splits(chat_run.config()).validation
    first = [c for c in split["conversations"] if c[-1]["role"] == "assistant"][:4]
    assert found["kind"] == "answers" and found["n_scored"] == 4 == found["cap"] and len(found["rows"]) == 4
    assert [r["rouge_l"] for r in found["rows"]] == sorted(r["rouge_l"] for r in found["rows"])
    assert sorted(r["reference"] for r in found["rows"]) == sorted(c[-1]["content"] for c in first)
    for r in found["rows"]:
        assert r["rouge_l"] == round(chat_analysis.rouge_l(r["answer"], r["reference"]), 4)


@pytest.mark.slow
def test_chat_view_in_the_cli_and_the_page(chat_run, capsys, monkeypatch):
    from tuner.cli import main
    from tuner.ui import mistakes as page

    monkeypatch.setenv("TUNER_RUNS_DIR", str(chat_run.path.parent))
    found = mistakes.find(chat_run)
    assert main(["mistakes", chat_run.id, "--limit", "2"]) == 0
    out = capsys.readouterr().out
    assert f"{found['n_scored']} validation answers scored, the lowest ROUGE-L first" in out
    assert f"Only the first {found['cap']} validation prompts are answered" in out and out.count("ROUGE-L 0") + out.count("ROUGE-L 1") == 2
    summary, *_, answers = page.on_mistakes(chat_run.id)
    assert f"first {found['cap']} validation prompts" in summary
    import re

    assert [float(x) for x in re.findall(r"ROUGE-L ([0-9.]+)", answers)] == [r["rouge_l"] for r in found["rows"]]
    assert answers.count("model's answer") == len(found["rows"])
    labels_box, entities_box, answers_box, issues_box, why, note = page.sections(chat_run)
    assert answers_box["visible"] and not issues_box["visible"] and "first 50 validation prompts" in note


@pytest.mark.slow
def test_views_in_chinese(ner_run, chat_run, monkeypatch):
    import re

    from gradio.context import LocalContext

    from tuner.ui import i18n
    from tuner.ui import mistakes as page
    from zh_checker import untranslated

    class Request:
        session_hash, username = "views-zh", None

    i18n.remember(Request.session_hash, "zh")
    token = LocalContext.request.set(Request())
    try:
        found = []
        for run in (ner_run, chat_run):
            monkeypatch.setenv("TUNER_RUNS_DIR", str(run.path.parent))
            out = page.on_mistakes(run.id, request=Request())
            summary, kinds, answers = out[0], out[5], out[8]
            found.append(("summary", summary))
            if kinds is not None and hasattr(kinds, "columns"):
                found += [("header", str(c)) for c in kinds.columns]
            if isinstance(answers, str) and answers:  # the boxes' titles (the texts are the data's)
                found += [("answer titles", t) for t in re.findall(r'font-weight:600;opacity:.7;margin-bottom:2px">([^<]*)<', answers)]
            if kinds is not None and hasattr(kinds, "columns"):
                found += [("kind", str(v)) for v in kinds.iloc[:, 0]]
            found += [("note", x) for x in page.sections(run)[4:] if x]
            html = out[6]
            if isinstance(html, str) and html:
                found.append(("legend", html.split("<ol")[0]))
    finally:
        LocalContext.request.reset(token)
    assert {w for w, _ in found} >= {"summary", "header", "kind", "note", "legend", "answer titles"}
    assert ("answer titles", "模型的回答") in found
    assert not untranslated(found, {"per", "loc", "org"}), untranslated(found)
