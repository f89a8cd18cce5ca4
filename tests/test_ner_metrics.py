"""Entity-level scoring (the local `seqeval` evaluate module) on hand-computed cases, sub-word label alignment,
the case feature, constrained decoding of long texts, the report and its dictionary baseline."""

from __future__ import annotations

import numpy as np
import pytest

from tuner import metrics
from tuner.tasks import get_task
from tuner.tasks.ner.metrics import DictionaryBaseline
from tuner.tasks.ner.tagging import _pieces, first_subtoken_labels, tag_words, word_shape

TASK = get_task("ner")
LABELS = ["O", "B-LOC", "I-LOC", "B-MISC", "I-MISC", "B-PER", "I-PER"]
META = {"task": "ner", "labels": LABELS, "types": ["LOC", "MISC", "PER"], "case_feature": True}


@pytest.fixture(scope="module")
def seqeval():
    return metrics.load("seqeval")


def test_the_seqeval_readme_example(seqeval):
    # seqeval's README case. Reference entities: MISC(3-5), PER(0-1). Predicted: MISC(2-5) (wrong start: not a
    # match), PER(0-1). Per type: MISC P 0/1 R 0/1, PER P 1/1 R 1/1; micro P = R = F1 = 1/2; 8 of 10 tags right.
    refs = [["O", "O", "O", "B-MISC", "I-MISC", "I-MISC", "O"], ["B-PER", "I-PER", "O"]]
    preds = [["O", "O", "B-MISC", "I-MISC", "I-MISC", "I-MISC", "O"], ["B-PER", "I-PER", "O"]]
    s = seqeval.compute(predictions=preds, references=refs)
    assert s["MISC"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "number": 1}
    assert s["PER"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "number": 1}
    assert s["overall_precision"] == s["overall_recall"] == s["overall_f1"] == 0.5
    assert s["overall_accuracy"] == pytest.approx(0.8)
    assert s["macro_f1"] == pytest.approx(0.5)


def test_hand_counted_micro_and_macro(seqeval):
    # Reference: PER(0-1) LOC(3) LOC(5) | PER(1) MISC(3-4).  Prediction: PER(0-1) ok, LOC(3) ok, LOC(5) missed,
    # PER(5-6) spurious | PER(1) ok, MISC(3) wrong end, LOC(4) spurious.
    refs = [["B-PER", "I-PER", "O", "B-LOC", "O", "B-LOC", "O"], ["O", "B-PER", "O", "B-MISC", "I-MISC"]]
    preds = [["B-PER", "I-PER", "O", "B-LOC", "O", "B-PER", "I-PER"], ["O", "B-PER", "O", "B-MISC", "B-LOC"]]
    s = seqeval.compute(predictions=preds, references=refs)
    # PER: 2 right of 3 predicted, 2 references -> P 2/3, R 1, F1 0.8
    assert (s["PER"]["precision"], s["PER"]["recall"], s["PER"]["f1"]) == pytest.approx((2 / 3, 1.0, 0.8))
    # LOC: 1 right of 2 predicted, 2 references -> P R F1 = 1/2
    assert (s["LOC"]["precision"], s["LOC"]["recall"], s["LOC"]["f1"]) == pytest.approx((0.5, 0.5, 0.5))
    assert (s["MISC"]["precision"], s["MISC"]["recall"], s["MISC"]["f1"]) == (0.0, 0.0, 0.0)
    # micro: 3 right, 6 predicted, 5 references -> P 1/2, R 3/5, F1 = 2 * .5 * .6 / 1.1
    assert s["overall_precision"] == pytest.approx(0.5) and s["overall_recall"] == pytest.approx(0.6)
    assert s["overall_f1"] == pytest.approx(0.6 / 1.1)
    assert s["macro_f1"] == pytest.approx((0.8 + 0.5 + 0.0) / 3)
    assert s["macro_precision"] == pytest.approx((2 / 3 + 0.5) / 3)
    assert s["overall_accuracy"] == pytest.approx(9 / 12)


@pytest.mark.parametrize("pred, ref, f1", [
    (["I-PER", "I-PER", "O"], ["B-PER", "I-PER", "O"], 1.0),    # a stray I- starts an entity (conlleval)
    (["B-PER", "I-LOC"], ["B-PER", "I-PER"], 0.0),              # a type change ends the entity
    (["B-PER", "B-PER"], ["B-PER", "I-PER"], 0.0),              # two entities are not one
    (["B-PER", "E-PER", "S-LOC"], ["B-PER", "I-PER", "B-LOC"], 1.0),  # BIOES reads as the same entities
])
def test_exact_match_chunk_rules(seqeval, pred, ref, f1):
    assert seqeval.compute(predictions=[pred], references=[ref])["overall_f1"] == pytest.approx(f1)


def test_no_predictions_scores_zero_not_an_error(seqeval):
    s = seqeval.compute(predictions=[["O", "O"]], references=[["B-PER", "O"]])
    assert s["overall_precision"] == 0.0 and s["overall_recall"] == 0.0 and s["overall_f1"] == 0.0
    assert s["PER"]["number"] == 1 and s["overall_accuracy"] == 0.5


def test_types_only_predicted_count_in_the_macro_average(seqeval):
    s = seqeval.compute(predictions=[["B-PER", "B-LOC"]], references=[["B-PER", "O"]])
    assert s["LOC"]["number"] == 0 and s["macro_f1"] == pytest.approx(0.5)


def test_first_subtoken_labels():
    #          [CLS] wash ##ing ##ton  is  [SEP]
    word_ids = [None, 0, 0, 0, 1, None]
    assert first_subtoken_labels(word_ids, [3, 0]) == [-100, 3, -100, -100, 0, -100]


def test_encode_aligns_labels_and_marks_capitals(tiny_model_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    split = {"tokens": [["Washingtonians", "visited", "EU", "headquarters"]], "tags": [[5, 0, 3, 0]],
             "case_feature": True}
    ds = TASK.encode(split, tok, max_length=32)
    row = ds[0]
    pieces = tok.convert_ids_to_tokens(row["input_ids"])
    assert pieces[0] == "[CLS]" and pieces[-1] == "[SEP]" and len(pieces) > 6  # sub-words exist
    labelled = [(p, lab) for p, lab in zip(pieces, row["labels"]) if lab != -100]
    assert [lab for _, lab in labelled] == [5, 0, 3, 0]
    assert [p for p, _ in labelled] == [p for p in pieces if p not in ("[CLS]", "[SEP]") and not p.startswith("##")]
    enc = tok(split["tokens"], is_split_into_words=True)
    shapes = {"Washingtonians": 1, "visited": 0, "EU": 2, "headquarters": 0}  # Capitalised, lower, ALL CAPS
    expected_types = [0 if w is None else shapes[split["tokens"][0][w]] for w in enc.word_ids(0)]
    assert row["token_type_ids"] == expected_types
    plain = TASK.encode({**split, "case_feature": False}, tok, max_length=32)[0]
    assert set(plain["token_type_ids"]) == {0}
    short = TASK.encode(split, tok, max_length=4)[0]  # truncated: the cut words simply carry no label
    assert len(short["input_ids"]) == 4 and short["labels"][0] == -100 and short["labels"][1] == 5


@pytest.mark.parametrize("word, shape", [("the", 0), ("1996-08-22", 0), (",", 0), ("iPhone", 0), ("Paris", 1),
                                         ("McDonald", 1), ("A", 1), ("EU", 2), ("U.S.", 2), ("JAPAN", 2)])
def test_word_shape(word, shape):
    assert word_shape(word) == shape


def test_case_rows_are_added_and_trained(tiny_model_dir):
    model = TASK.build_model(str(tiny_model_dir), META)
    emb = model.bert.embeddings.token_type_embeddings
    assert emb.weight.shape[0] == 3 and model.config.type_vocab_size == 3
    assert (emb.weight[2] == emb.weight[1]).all()  # the ALL CAPS row starts as the Capitalised one
    assert "token_type_embeddings" in TASK.modules_to_save(model)
    plain = TASK.build_model(str(tiny_model_dir), {**META, "case_feature": False})
    assert plain.bert.embeddings.token_type_embeddings.weight.shape[0] == 2
    assert TASK.modules_to_save(plain) == ["classifier"]


def test_pieces_split_long_sentences_at_word_boundaries():
    assert _pieces([1, 1, 1], 5) == [(0, 3)]
    assert _pieces([2, 2, 2, 1], 4) == [(0, 2), (2, 4)]
    assert _pieces([7, 1], 4) == [(0, 1), (1, 2)]  # one over-long word gets a piece of its own


@pytest.fixture(scope="module")
def tiny_tagger(tiny_model_dir):
    from transformers import AutoTokenizer

    model = TASK.build_model(str(tiny_model_dir), META).eval()
    return model, AutoTokenizer.from_pretrained(str(tiny_model_dir))


def test_tag_words_covers_every_word_of_long_sentences(tiny_tagger):
    model, tok = tiny_tagger
    long = [f"Word{i}" for i in range(150)]  # several pieces at max_length 16
    sents = [long, ["Paris"], [], ["\u200b", "Rome"]]  # an empty sentence, a word with no sub-token
    out = tag_words(model, tok, sents, META, max_length=16, batch_size=4)
    assert [len(tags) for tags, _ in out] == [150, 1, 0, 2]
    allowed = set(LABELS)
    for tags, probs in out:
        assert set(tags) <= allowed and all(0.0 <= p <= 1.0 for p in probs)
        for a, b in zip(["O", *tags], tags):  # Viterbi never continues nothing
            assert not (b.startswith("I-") and a[2:] != b[2:])
    assert out[3][0][0] == "O" and out[3][1][0] == 1.0
    # the same sentence scored alone or in a batch gives the same tags (padding does not leak)
    assert tag_words(model, tok, [long], META, max_length=16)[0][0] == out[0][0]


def test_predict_returns_character_spans(tiny_tagger):
    model, tok = tiny_tagger
    text = "Angela Merkel met Tim Cook in Berlin."
    res = TASK.predict(model, tok, [text, ""], META, max_length=32)
    assert res[1] == {"text": "", "entities": [], "tokens": [], "tags": []}
    r = res[0]
    assert r["tokens"] == ["Angela", "Merkel", "met", "Tim", "Cook", "in", "Berlin", "."]
    for e in r["entities"]:
        assert text[e["start"]:e["end"]] == e["text"] and e["label"] in META["types"] and 0 <= e["score"] <= 1
    line = TASK.format_prediction(text, r)
    assert line.splitlines()[0] == text


def test_compute_metrics_decodes_logits_at_labelled_positions():
    fn = TASK.compute_metrics(META)
    logits = np.full((2, 5, len(LABELS)), -5.0, dtype=np.float32)
    # sentence 1: [CLS] Paris ##x is [SEP] -> gold B-LOC O, predicted B-LOC O
    logits[0, 1, 1] = logits[0, 3, 0] = 5.0
    # sentence 2: [CLS] Bob Smith [SEP] pad -> gold B-PER I-PER, predicted I-PER I-PER (decoded as B-PER I-PER)
    logits[1, 1, 6] = logits[1, 2, 6] = 5.0
    labels = np.array([[-100, 1, -100, 0, -100], [-100, 5, 6, -100, -100]])
    out = fn((logits, labels))
    assert out["f1"] == 1.0 and out["precision"] == 1.0 and out["recall"] == 1.0 and out["accuracy"] == 1.0


def test_report_and_dictionary_baseline():
    train_tokens = [["Paris", "is", "big"], ["New", "York", "and", "Paris"], ["Bob", "Smith", "left"]]
    train_tags = [["B-LOC", "O", "O"], ["B-LOC", "I-LOC", "O", "B-LOC"], ["B-PER", "I-PER", "O"]]
    base = DictionaryBaseline(train_tokens, train_tags)
    assert base.tag(["I", "love", "New", "York", "and", "Bob", "Smith"]) == \
        ["O", "O", "B-LOC", "I-LOC", "O", "B-PER", "I-PER"]
    assert base.tag(["York", "paris"]) == ["O", "O"]  # exact, case-sensitive matches only

    refs = [["B-LOC", "O", "B-PER", "I-PER"], ["O", "B-MISC"]]
    preds = [["B-LOC", "O", "B-PER", "O"], ["O", "O"]]
    tokens = [["Paris", "and", "Bob", "Smith"], ["the", "Euro"]]
    r = TASK.report(refs, preds, META, tokens, base)
    assert r["f1"] == r["micro_f1"]  # 1 right of 2 predicted, 3 references: P 1/2, R 1/3
    assert r["precision"] == pytest.approx(0.5) and r["recall"] == pytest.approx(1 / 3)
    assert r["f1"] == pytest.approx(2 * 0.5 * (1 / 3) / (0.5 + 1 / 3))
    assert r["accuracy"] == pytest.approx(4 / 6)
    assert [row["label"] for row in r["per_label"]] == ["LOC", "MISC", "PER"]
    assert [row["support"] for row in r["per_label"]] == [1, 1, 1]
    assert r["labels"] == ["LOC", "MISC", "PER", "O"]
    matrix = np.array(r["confusion_matrix"])
    assert matrix.sum() == 6 and matrix[0, 0] == 1 and matrix[2, 2] == 1 and matrix[2, 3] == 1 and matrix[1, 3] == 1
    assert r["baseline"]["name"].startswith("dictionary") and r["baseline"]["f1"] == pytest.approx(0.8)
    assert r["n_examples"] == 2 and r["n_entities"] == 3
    no_base = TASK.report(refs, preds, META)
    assert no_base["baseline"]["f1"] == 0.0 and no_base["baseline"]["accuracy"] == pytest.approx(2 / 6)
