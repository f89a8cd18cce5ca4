"""Suspected label errors (tuner.analysis.label_issues) and the corrections that follow (tuner.analysis.corrections):
planted flipped labels rank at the top, accepting the suggestions writes a corrected copy and never touches the
upload, and the page's Chinese covers the section."""

from __future__ import annotations

import ast
import csv
import hashlib
import re
from pathlib import Path

import numpy as np
import pytest

from conftest import make_rows
from tuner.analysis import corrections, evidence, label_issues
from tuner.config import RunConfig

REPO = Path(__file__).resolve().parents[1]
LABELS = ["billing", "shipping", "technical"]
FLIPPED = [3, 17, 42, 77, 101, 150]  # data rows (0-based) whose label is planted wrong


def planted_csv(path: Path) -> tuple[Path, dict[int, str]]:
    """180 support tickets with the labels of FLIPPED rows moved to the next label; {row: true label}."""
    rows = make_rows(per_label=60, seed=1)
    truth = {}
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["text", "label"])
        for i, (text, label) in enumerate(rows):
            if i in FLIPPED:
                truth[i] = label
                label = LABELS[(LABELS.index(label) + 1) % 3]
            w.writerow([text, label])
    return path, truth


def digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_planted_flips_rank_at_the_top(tmp_path):
    path, truth = planted_csv(tmp_path / "planted.csv")
    rows = list(csv.DictReader(open(path, encoding="utf-8")))
    texts = [r["text"] for r in rows]
    labels = [LABELS.index(r["label"]) for r in rows]
    probs = evidence.classical_probs(texts, labels, 3)
    quality, flagged = label_issues.rank_issues(labels, probs)
    top = set(np.argsort(quality, kind="stable")[:len(FLIPPED)].tolist())
    assert top == set(FLIPPED)
    assert len(set(np.flatnonzero(flagged).tolist()) & set(FLIPPED)) >= len(FLIPPED) - 1  # cleanlab's own threshold
    suggested = label_issues.suggestions(labels, probs)
    assert all(LABELS[suggested[i]] == truth[i] for i in FLIPPED)


def test_advice_relabels_only_where_the_evidence_is_sure():
    """Accepting a suggestion relabels a row only where the evidence is at least as sure of the new label as it is,
    on average, of the labels it agrees with; elsewhere it drops the row."""
    labels = np.array([0] * 10 + [1] * 10 + [2] * 3 + [0, 0, 0])
    probs = np.full((26, 3), 0.05)
    probs[np.arange(20), labels[:20]] = 0.9  # agrees with labels 0 and 1 at 0.9
    probs[20:23] = [0.6, 0.3, 0.1]  # label 2: the evidence never agrees with it
    probs[23] = [0.03, 0.95, 0.02]  # given 0; sure it is 1 (0.95 >= 0.9): relabel
    probs[24] = [0.3, 0.65, 0.05]  # given 0; thinks 1, less sure than it usually is of a 1: drop
    probs[25] = [0.1, 0.1, 0.8]  # given 0; thinks 2, a label it never agreed with: drop
    assert np.allclose(label_issues.sure_at(labels, probs)[:2], [0.9, 0.9], atol=0.01)
    assert label_issues.sure_at(labels, probs)[2] > 1
    suggest = label_issues.suggestions(labels, probs)
    assert suggest[23:].tolist() == [1, 1, 2]
    assert label_issues.advice(labels, probs, suggest)[23:].tolist() == ["relabel", "drop", "drop"]


def planted_rows(tmp_path):
    path, truth = planted_csv(tmp_path / "planted.csv")
    rows = list(csv.DictReader(open(path, encoding="utf-8")))
    return [r["text"] for r in rows], [LABELS.index(r["label"]) for r in rows], truth


def test_embeddings_evidence_ranks_planted_flips_at_the_top(tmp_path):
    """The bundled MiniLM's sentence embeddings, cross-validated: the planted rows are the lowest label quality."""

    texts, labels, truth = planted_rows(tmp_path)
    vectors = evidence.embed(texts)
    assert vectors.shape == (len(texts), 384) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)
    probs = evidence.embedding_probs(texts, labels, 3, vectors=vectors)
    quality, flagged = label_issues.rank_issues(labels, probs)
    top = set(np.argsort(quality, kind="stable")[:len(FLIPPED)].tolist())
    assert len(top & set(FLIPPED)) >= len(FLIPPED) - 1
    suggested = label_issues.suggestions(labels, probs)
    assert sum(LABELS[suggested[i]] == truth[i] for i in FLIPPED) >= len(FLIPPED) - 1


def test_combination_weighs_each_evidence_by_what_it_tells_beyond_the_label_shares():

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 300)
    labels[:30] = (labels[:30] + 1) % 3  # 10% given wrong: a sharp evidence disagrees with them
    truth = (labels - (np.arange(300) < 30)) % 3
    sharp = np.full((300, 3), 0.05)
    sharp[np.arange(300), truth] = 0.9
    shares = np.bincount(labels, minlength=3) / 300
    blind = np.tile(shares, (300, 1))  # knows only the label shares, as a model that cannot read the text
    w = evidence.weights(labels, {"classical": sharp, "embeddings": blind})
    assert w["embeddings"] == 0.0 and w["classical"] == 1.0
    probs, w2 = evidence.combine(labels, {"classical": sharp, "embeddings": blind})
    assert w2 == w and np.allclose(probs, sharp)
    worse = 0.5 * sharp + 0.5 / 3  # informative, but less sure: it weighs less, not nothing
    w3 = evidence.weights(labels, {"classical": sharp, "embeddings": worse})
    assert 0 < w3["embeddings"] < w3["classical"] and abs(sum(w3.values()) - 1) < 1e-9
    quality, _ = label_issues.rank_issues(labels, evidence.combine(labels, {"a": sharp, "b": worse})[0])
    assert set(np.argsort(quality, kind="stable")[:30].tolist()) == set(range(30))
    assert evidence.weights(labels, {"a": blind, "b": blind}) == {"a": 0.5, "b": 0.5}  # none gains: equal
    assert evidence.parts_of("embeddings+classical") == ("classical", "embeddings")
    assert evidence.parts_of("both") == ("classical", "model")
    assert evidence.parts_of("classical+bogus") == () and evidence.parts_of("") == ()


@pytest.fixture
def planted_run(tmp_path, runs_dir, tiny_model_dir):
    from tuner import runs

    path, truth = planted_csv(tmp_path / "upload.csv")
    cfg = RunConfig.from_dict({"name": "planted", "data": {"train_file": str(path), "validation_fraction": 0.2},
                               "model": {"name": str(tiny_model_dir), "max_length": 32}})
    return runs.create_run(cfg), path, truth


def test_accepting_suggestions_writes_a_corrected_copy_and_leaves_the_upload(planted_run, tmp_path):
    run, upload, truth = planted_run
    before = {p: digest(p) for p in (upload, run.config().data.train_file)}
    from tuner.tasks import get_task

    found = label_issues.find(run, evidence="classical")
    held_out = set(get_task("classification").analysis_splits(run.config()).validation["row"])
    planted_in_train = set(FLIPPED) - held_out
    assert planted_in_train, "some planted rows are training rows"
    flagged = {r["row"]: r for r in found["rows"]}
    assert planted_in_train <= set(flagged)
    assert {r["row"] for r in found["rows"][:len(planted_in_train)]} == planted_in_train  # ranked first
    # every flagged row contradicts its label, the planted ones among them; the clear rows agree with theirs
    assert 0.5 < found["agreement"] <= 1 - found["flagged"] / found["rows_checked"] + 1e-4  # rounded to 4 places
    advised = {r["row"]: r["advice"] for r in found["rows"]}
    # the evidence is sure of most planted rows' true labels (about as sure as of the labels it agrees with: 0.83)
    assert sum(advised[r] == "relabel" for r in planted_in_train) > len(planted_in_train) / 2
    counts = corrections.decide_all(run)  # accept every suggestion: its advice
    assert counts["relabelled"] == found["to_relabel"] == sum(a == "relabel" for a in advised.values())
    assert counts["relabelled"] + counts["dropped"] == found["flagged"]
    corrections.decide(run, [{"row": found["rows"][0]["row"], "action": "drop"}])
    assert corrections.load(run)[str(found["rows"][0]["row"])]["action"] == "drop"  # a later decision wins
    dropped_rows = {int(r) for r, d in corrections.load(run).items() if d["action"] == "drop"}
    files = corrections.corrected_files(run, corrections.load(run), tmp_path / "out")
    original = list(csv.DictReader(open(upload, encoding="utf-8")))
    fixed = list(csv.DictReader(open(files["train_file"], encoding="utf-8")))
    by_text = {r["text"]: r["label"] for r in fixed}
    dropped = found["rows"][0]["row"]
    assert original[dropped]["text"] not in by_text
    for row in planted_in_train - dropped_rows:
        assert by_text[original[row]["text"]] == truth[row]
    assert len(fixed) == len(original) - len(held_out) - len(dropped_rows)
    assert not any(original[r]["text"] in by_text for r in dropped_rows)
    validation = list(csv.DictReader(open(files["validation_file"], encoding="utf-8")))
    assert validation == [original[i] for i in sorted(held_out)]  # the same rows, labels as uploaded
    assert {p: digest(p) for p in before} == before  # the upload and the run's copy are unchanged
    saved = list(csv.DictReader(open(corrections.csv_for(run), encoding="utf-8")))
    assert {int(r["row"]) - 1 for r in saved} == set(flagged)
    assert any(r["action"] == "drop" for r in saved)


def test_cli_evidence_option(planted_run, capsys):
    """`python -m tuner label-issues <run> --evidence ...`: parts joined by +, the default, and a refusal."""
    from tuner import cli

    run, _, _ = planted_run
    assert cli.main(["label-issues", run.id, "--evidence", "classical+embeddings", "--json", "--limit", "3"]) == 0
    found = __import__("json").loads(capsys.readouterr().out)
    assert found["evidence"] == "classical+embeddings" and set(found["weights"]) == {"classical", "embeddings"}
    assert abs(sum(found["weights"].values()) - 1) < 0.01 and len(found["rows"]) <= 3
    assert cli.main(["label-issues", run.id, "--evidence", "classical"]) == 0
    out = capsys.readouterr().out
    assert "evidence: classical," in out and "training rows look mislabelled" in out
    saved = label_issues.latest(run)
    assert f"Suggested: relabel {saved['to_relabel']:,}, drop {saved['flagged'] - saved['to_relabel']:,}." in out
    assert out.count("drop (maybe ") == sum(r["advice"] == "drop" for r in saved["rows"][:50])  # the rows printed
    assert f"The evidence agrees with {label_issues.latest(run)['agreement']:.0%} of the given labels" in out
    assert label_issues.latest(run)["evidence"] == "classical"  # what the page's Accept all acts on: the last shown
    assert label_issues.find(run)["evidence"] == label_issues.DEFAULT_EVIDENCE  # a new ranking: the default
    with pytest.raises(SystemExit) as exc:
        cli.main(["label-issues", run.id, "--evidence", "classical+magic"])
    assert exc.value.code == 2 and "unknown evidence 'classical+magic'" in capsys.readouterr().err


def test_evidence_the_run_cannot_give_is_skipped(planted_run, tmp_path):
    """Beside other evidence: embeddings from a base model that cannot read the text's language (Chinese for the
    bundled MiniLM's vocabulary), and the finetuned model's from a run with no trained adapter, are left out."""
    from tuner import runs

    run, _, _ = planted_run
    found = label_issues.find(run, evidence="classical+embeddings+model")
    assert found["skipped"] == ["model"] and set(found["weights"]) == {"classical", "embeddings"}
    # a trained run that the classical baseline beats on its validation rows (verdict "bad") is not asked
    (run.path / "adapter").mkdir()
    (run.path / "adapter" / "adapter_model.safetensors").write_bytes(b"x")
    assert run.has_adapter()
    run.metrics_path.write_text('{"verdict": {"level": "bad"}}', encoding="utf-8")
    found = label_issues.find(run, evidence="classical+model", refresh=True)  # would fail to load the fake adapter
    assert found["skipped"] == ["model_worse"] and found["weights"] == {"classical": 1.0}
    path = tmp_path / "zh.csv"
    good, bad = ["这家店的菜很好吃，送餐也快", "味道不错，下次还点"], ["太难吃了，再也不点了", "送得太慢，菜都凉了"]
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["text", "label"])
        for i in range(60):
            w.writerow([f"{(good if i % 2 else bad)[i % 4 // 2]} {i}", "好评" if i % 2 else "差评"])
    cfg = RunConfig.from_dict({"name": "zh", "data": {"train_file": str(path), "validation_fraction": 0.2},
                               "model": {"name": "default", "max_length": 32}})
    found = label_issues.find(runs.create_run(cfg), evidence="classical+embeddings")
    assert found["skipped"] == ["embeddings"] and found["weights"] == {"classical": 1.0}
    assert label_issues.describe(found) == "classical"


def test_cli_write_drop_leaves_the_flagged_rows_out(planted_run, tmp_path, capsys):
    """`label-issues <run> --write FILE --drop`: every flagged row is left out of the corrected copy, every other
    training row kept with its label as uploaded; without --drop they are relabelled (the test above)."""
    from tuner import cli
    from tuner.tasks import get_task

    run, upload, _ = planted_run
    out = tmp_path / "fixed.csv"
    assert cli.main(["label-issues", run.id, "--evidence", "classical", "--write", str(out), "--drop"]) == 0
    found = label_issues.latest(run)
    flagged = {r["row"] for r in found["rows"]}
    assert flagged and set(corrections.load(run)) == {str(r) for r in flagged}
    assert {d["action"] for d in corrections.load(run).values()} == {"drop"}
    original = list(csv.DictReader(open(upload, encoding="utf-8")))
    held_out = set(get_task("classification").analysis_splits(run.config()).validation["row"])
    kept = [original[i] for i in range(len(original)) if i not in flagged and i not in held_out]
    assert list(csv.DictReader(open(out, encoding="utf-8"))) == kept
    assert f"0 rows relabelled, {len(flagged):,} dropped" in capsys.readouterr().err
    assert cli.main(["label-issues", run.id, "--evidence", "classical", "--write", str(out), "--relabel"]) == 0
    assert f"{len(flagged):,} rows relabelled, 0 dropped" in capsys.readouterr().err  # every row, sure or not
    assert cli.main(["label-issues", run.id, "--evidence", "classical", "--write", str(out)]) == 0
    sure = found["to_relabel"]
    assert f"{sure:,} rows relabelled, {len(flagged) - sure:,} dropped" in capsys.readouterr().err  # the advice
    assert len(list(csv.DictReader(open(out, encoding="utf-8")))) == len(original) - len(held_out) - (len(flagged) - sure)


def test_train_again_starts_a_run_on_the_corrected_copy(planted_run, monkeypatch):
    from tuner import jobs

    run, upload, _ = planted_run
    submitted = []
    monkeypatch.setattr(jobs.manager(), "submit", lambda r, **kw: submitted.append(r) or 0)
    label_issues.find(run, evidence="classical")
    with pytest.raises(Exception, match="no corrections yet"):
        corrections.train_again(run)
    corrections.decide_all(run)
    new = corrections.train_again(run).run
    assert submitted == [new]
    cfg, old = new.config(), run.config()
    assert Path(cfg.data.train_file).parent == new.data_dir and cfg.data.validation_file
    assert cfg.train == old.train and cfg.model == old.model and cfg.adapter == old.adapter
    work = corrections.data_work(new)
    assert work["from_run"] == run.id and work["relabelled"] >= 1
    assert work["relabelled"] + work["dropped"] == label_issues.latest(run)["flagged"]
    assert (new.path / corrections.CORRECTIONS_CSV).is_file()
    assert "flagged as suspected label errors" in corrections.data_work_sentence(work)
    from tuner.model_card import data_summary

    card = data_summary(new, {}, {})  # the model card's Data section says what was done to the labels
    assert f"{work['relabelled']:,} were relabelled and {work['dropped']:,} dropped" in card and run.id in card
    assert "flagged as suspected label errors; " in data_summary(run, {}, {})  # the checked run says so too


def test_section_text_is_translated():
    from tuner.ui import i18n

    source = (REPO / "tuner" / "ui" / "mistakes.py").read_text(encoding="utf-8")
    tree = ast.parse(source)
    said, labels = [], []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "say" and node.args:
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                said.append(arg.value)
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") in (
                "Accordion", "Dropdown", "Button", "Dataframe", "Radio", "Number", "Textbox", "File", "Markdown"):
            for kw in node.keywords:
                if kw.arg == "label" and isinstance(kw.value, ast.Constant):
                    labels.append(kw.value.value)
            if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                labels.append(node.args[0].value)
    columns = [v for d in ("MISTAKE_COLUMNS", "PAIR_COLUMNS", "ISSUE_COLUMNS")
               for v in re.findall(r'"\w+": "([^"]+)"', source.split(f"{d} = ", 1)[1].split("\n\n")[0])]
    assert len(said) >= 8 and len(labels) >= 15
    said += list(label_issues.SKIPPED.values()) + [label_issues.AGREES, label_issues.DROP_SUGGESTION]  # by name
    missing = [s for s in said + columns if i18n.say(s, "zh") == s]
    missing += [s for s in labels if i18n.t(s, "zh") == s]
    assert not missing, missing
    zh = i18n.say("{n} rows match the filter.", "zh", n="12")
    assert zh == "12 行符合筛选条件。"


@pytest.mark.slow
def test_fix_and_retrain_through_the_page(tmp_path, tiny_model_dir, monkeypatch):
    """gradio_client drives the page: find suspected label errors on a finished run, accept every suggestion,
    train again; the new run trains on the corrected copy, the upload is untouched, the Runs tab compares the two."""
    pytest.importorskip("gradio_client")
    from gradio_client import Client

    from apphelpers import running_app, wait_finished
    from tuner import runs
    from tuner.train import train

    runs_dir = tmp_path / "runs"
    runs_dir.mkdir()
    monkeypatch.setenv("TUNER_RUNS_DIR", str(runs_dir))
    upload, truth = planted_csv(tmp_path / "upload.csv")
    before = digest(upload)
    cfg = RunConfig.from_dict({
        "name": "noisy", "data": {"train_file": str(upload), "validation_fraction": 0.2},
        "model": {"name": str(tiny_model_dir), "max_length": 32}, "adapter": {"r": 4, "alpha": 8},
        "train": {"epochs": 1, "batch_size": 16, "evals": 0, "learning_rate": 1e-3, "precision": "fp32"}})
    first = runs.create_run(cfg)
    train(cfg, first)  # in-process; the retrain below goes through the page and a real training child
    first.set_status(state="completed")
    env = {"TUNER_RUNS_DIR": str(runs_dir), "TUNER_MODEL_DIRS": str(tiny_model_dir.parent)}
    with running_app(tmp_path / "app.log", env, timeout=120) as (url, _):
        client = Client(url, verbose=False)
        summary, table, _csv = client.predict(first.id, "classical", api_name="/label_issues")
        assert "training rows look mislabelled" in summary
        flagged = [int(r[0]) - 1 for r in table["data"]]
        assert flagged and set(flagged) & set(truth)
        sure = {int(r[0]) - 1 for r in table["data"] if not str(r[2]).startswith("drop (")}  # the suggestion column
        summary, table, csv_file = client.predict(first.id, api_name="/accept_all")
        relabelled, dropped = len(sure), len(flagged) - len(sure)
        assert f"Suggested: relabel {relabelled}, drop {dropped}." in summary and csv_file
        assert f"{relabelled} relabelled, {dropped} dropped" in summary
        new_id, message = client.predict(first.id, api_name="/train_corrected")
        assert new_id != first.id and first.id in message
        html = wait_finished(client, new_id, timeout=600, poll=2)
        assert "<b>completed</b>" in html, html
    from tuner.ui.runs_tab import compare_runs  # the Runs tab's comparison (its dropdown is filled by the page)

    new = runs.get_run(new_id)
    diff, metrics, _chart = compare_runs([first, new])
    assert list(metrics["run"]) == [first.id, new.id]
    assert metrics["label corrections"].iloc[1].startswith(f"{relabelled} relabelled, {dropped} dropped (run {first.id})")
    changed = dict(zip(diff["setting"], diff[new.id]))
    assert changed["data.train_file"] == "upload (corrected).csv" and "validation rows" in changed["data.validation_file"]
    fixed = {r["text"]: r["label"] for r in csv.DictReader(open(new.config().data.train_file, encoding="utf-8"))}
    original = list(csv.DictReader(open(upload, encoding="utf-8")))
    assert sure & set(truth)
    for row in set(flagged) & set(truth):
        assert fixed.get(original[row]["text"]) == (truth[row] if row in sure else None)  # relabelled or dropped
    assert digest(upload) == before and (new.path / corrections.CORRECTIONS_CSV).is_file()
    assert new.status()["corrections"]["from_run"] == first.id
