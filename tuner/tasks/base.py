"""The task contract: what every task folder provides, and all that the rest of Tuner asks of a task.

A task is one package, `tuner/tasks/<name>/`, of the same shape:

    __init__.py   the task's class: its description (the attributes below) over the four hook modules, registered
    reading.py    read / propose / inspect / check_validation / load_splits: an upload -> `Splits`
    model.py      build_model / modules_to_save / encode / collator: the model with its head, the Trainer's batches
    metrics.py    compute_metrics / report_from_output or evaluate / evaluate_file / summarize: the evaluation report
    predict.py    predict / format_prediction / predict_file / demo_view: Try it, the CLI and file predictions

Each hook module holds a plain class of methods (a mixin); `__init__.py` stacks them over `Task`, which states
every hook with its signature and gives the optional ones a default. Outside `tasks/`, code holds a task object
(`tasks.get_task(name)`) and reads these attributes or calls these hooks: it never compares task names. Pieces
several tasks use are in `tasks/common.py`; a task never imports another task, `tuner.inference` or `tuner.ui`
(tests/test_imports.py).

Adding a task = adding its folder, importing it in `tasks/__init__.py`, and a recipe in recipes/.
"""

from __future__ import annotations

import abc
from typing import Any, Callable, ClassVar

from .. import data as data_mod
from ..errors import DataError
from .common import MAX_FILE_ROWS, Splits


class Task(abc.ABC):
    """A task's description and hooks. Subclasses set the identity and description attributes and implement the
    abstract hooks; every other hook has a default here, so callers never ask `hasattr`."""

    # ---- identity ------------------------------------------------------------------------------------------
    name: ClassVar[str]                 # registry key, the config's `task:` value, saved in tuner_meta.json
    title: ClassVar[str]                # what the page calls it ("Text classification")
    title_zh: ClassVar[str] = ""        # the title on the page's Chinese view

    # ---- description: what the rest of Tuner asks ----------------------------------------------------------
    peft_task_type: ClassVar[str]       # peft's TaskType for the adapter: "SEQ_CLS", "TOKEN_CLS" or "CAUSAL_LM";
                                        # tuner.methods decides by it which methods can train the task
    auto_class: ClassVar[str]           # the transformers Auto class of the model (model card's load code, memory)
    hub_tag: ClassVar[str]              # the Hub pipeline tag in a model card ("text-classification")
    head_kwargs: ClassVar[dict[str, str]] = {}  # from_pretrained kwargs the model card's load code adds for the head
    label_head: ClassVar[bool] = True   # the model ends in a new head, one output per meta["labels"] (num_labels)
    generative: ClassVar[bool] = False  # a causal LM that writes text: loss over the vocabulary at every token
                                        # (memory estimate; averaged over tokens across processes), text at inference
    compares_with_base: ClassVar[bool] = False  # the report and the demo also answer with the adapter disabled: full
                                        # and freeze runs keep the base tensors, inference keeps the adapter unmerged
    demo: ClassVar[str] = "classifier"  # the demo for its runs: "classifier" (Try it: label scores + chosen labels),
                                        # "tagger" (Try it: entities in the text) or "chat" (the Chat tab)
    noun: ClassVar[str] = ""            # a run of it in a sentence ("a classifier"); empty = the title
    settings_fields: ClassVar[tuple[str, ...]] = ()  # config paths only this task reads: the Train tab shows them in
                                        # a "<name> settings" accordion while a recipe of this task is chosen
    column_roles: ClassVar[dict[str, str]] = {"text_columns": "Text column(s)", "label_column": "Label column"}
                                        # the Data tab's two column pickers: their labels for this task
    count_word: ClassVar[str] = "labels"  # what the Data tab counts in inspect()'s label_counts ("entity types")
    held_out: ClassVar[str] = "a random 10%"  # the Data tab's words for the rows held out when no validation file
    selection_metric: ClassVar[str]     # validation metric that picks the best checkpoint (ends in "loss": lower wins)
    headline_metric: ClassVar[str]      # the report metric the verdict compares (tuner.verdict)
    floors: ClassVar[tuple[str, ...]] = ("baseline",)  # report keys of the scores the model must beat, in order
    baseline_title: ClassVar[str] = "baseline"  # the CLI summary's column title for report["baseline"]
    sort_validation: ClassVar[bool] = False  # validation rows are scored in length order (tight batches); only for
                                        # order-free metrics
    prediction_suffix: ClassVar[str] = ".csv"  # the file `python -m tuner predict --file` writes
    translations: ClassVar[dict[str, str]] = {}  # this task's page text, English -> Chinese (tuner.ui.i18n adds them)

    # ---- data ----------------------------------------------------------------------------------------------
    def read(self, path) -> data_mod.Table:
        """An upload as a table (default: `tuner.data.read_table`; CoNLL or plain text for tasks that take them)."""
        return data_mod.read_table(path)

    @abc.abstractmethod
    def propose(self, df) -> dict:
        """Guess this task's columns in a table: {"text_columns": [...], "label_column": str, ...}."""

    @abc.abstractmethod
    def inspect(self, df, cfg) -> dict:
        """The Data tab's look at an upload: {task, rows, text_columns, label_column, label_counts, length_chars,
        length_tokens_approx, warnings, skipped, ...}; raises DataError on a blocking problem."""

    def check_validation(self, vdf, info: dict, cfg) -> tuple[int, Any]:
        """The Data tab's look at a validation file read by the training's rules: (usable rows, tuner.skipped
        list or None). Default: every row, nothing left out."""
        return len(vdf), None

    @abc.abstractmethod
    def load_splits(self, cfg) -> Splits:
        """The configured file(s) as train/validation examples plus the meta saved with the adapter
        (meta["task"], meta["labels"], the columns, ...)."""

    def texts(self, split: dict) -> list[str]:
        """Text of a split's rows for the language check (tuner.language); default: its "text" list."""
        return list(split.get("text") or [])

    def rows_per_label(self, splits: Splits) -> dict[str, int]:
        """{label: training rows} for the verdict's advice on rare labels; default {} (not counted)."""
        return {}

    # ---- model ---------------------------------------------------------------------------------------------
    @abc.abstractmethod
    def build_model(self, source: str, meta: dict, dtype=None, attn_implementation: str | None = None,
                    **config_overrides):
        """The base model with this task's head (config_overrides: from_pretrained kwargs, e.g. dropout 0)."""

    @abc.abstractmethod
    def modules_to_save(self, model) -> list[str]:
        """Modules trained in full beside the adapter (the new head)."""

    @abc.abstractmethod
    def encode(self, split: dict, tokenizer, max_length: int):
        """A split as a tokenized `datasets.Dataset` (input_ids, attention_mask, labels, ...)."""

    @abc.abstractmethod
    def collator(self, tokenizer) -> Callable:
        """Batches for the Trainer from encoded rows."""

    # ---- metrics -------------------------------------------------------------------------------------------
    @abc.abstractmethod
    def compute_metrics(self, meta: dict) -> Callable | None:
        """The Trainer's metric hook during training (None: eval_loss only)."""

    def evaluate(self, trainer, val_ds, splits: Splits, cfg) -> dict | None:
        """The full report when it needs the model itself (generation, the base model, whole sentences);
        default None: `report_from_output` on `trainer.predict(val_ds)`."""
        return None

    def report_from_output(self, output, splits: Splits) -> dict:
        """The report from a `Trainer.predict` output on the validation split (when `evaluate` returns None)."""
        raise NotImplementedError(f"The {self.name} task has no report_from_output; its evaluate() makes the report.")

    classical_floor: Callable[..., dict] | None = None
    """Optional: a method `(splits, texts=None, refs=None) -> {"classical": scores}` scoring a classical model fitted
    on the training rows (on the validation rows, or the given ones); None = the task has no classical floor."""

    def evaluate_file(self, predictor, path) -> dict:
        """The report for a labelled file (`python -m tuner eval RUN FILE`); `predictor` is the loaded run
        (tuner.inference.Predictor: .meta, .run, .predict, .compute, .model, .tokenizer)."""
        raise DataError(f"A {self.title.lower()} run cannot be scored on a file.")

    def summarize(self, report: dict) -> str | None:
        """The CLI's text for a report; default None: the CLI's table of headline metrics beside each floor."""
        return None

    def report_notes(self, report: dict) -> str:
        """Sentences the Evaluate tab adds to its summary line; default none."""
        return ""

    def report_rows(self, report: dict) -> list[dict] | None:
        """Rows of the Evaluate tab's second table; default the per-label report."""
        return report.get("per_label") or None

    # ---- error analysis (tuner.analysis) ---------------------------------------------------------------------
    analyses: ClassVar[tuple[str, ...]] = ()  # what tuner.analysis offers for this task's runs: "mistakes" (the
                                        # validation rows it gets wrong), "label_issues" (suspected label errors)
    mistakes_kind: ClassVar[str] = "labels"  # the view `mistakes` makes (its result's "kind"): "labels" (rows with
                                        # true and predicted labels), "entities" (sentences, spans marked), "answers"
    mistakes_cap: ClassVar[int] = 0     # validation rows `mistakes` scores at most (0 = all): generation is slow

    def analysis_splits(self, cfg) -> Splits:
        """The run's rows as training reads them, each split with "row" (positions in its file) beside its lists."""
        raise DataError(f"Error analysis is not available for {self.title.lower()} runs.",
                        zh=f"{self.title_zh or self.title}运行暂不支持错误分析。")

    def mistakes(self, predictor, split: dict, meta: dict) -> dict | None:
        """The mistakes view of a run on its validation split (`predictor`: the loaded run, tuner.inference), as a
        JSON-ready dict with "kind" ("entities": sentences with entity errors; "answers": answers scored against
        their references) that the page and the CLI show by kind. Default None: the label view, made by
        tuner.analysis.mistakes from `label_probabilities`."""
        return None

    def label_probabilities(self, predictor, texts: list[str]):
        """The finetuned model's label probabilities for `texts`: a (rows, labels) numpy array in meta["labels"]
        order (mistakes view, label issues)."""
        raise DataError(f"Error analysis is not available for {self.title.lower()} runs.",
                        zh=f"{self.title_zh or self.title}运行暂不支持错误分析。")

    # ---- prediction ----------------------------------------------------------------------------------------
    @abc.abstractmethod
    def predict(self, model, tokenizer, texts: list[str], meta: dict, max_length: int, **kw) -> list:
        """One prediction per text (a {label: score} mapping for the classifier demo, {text, entities, ...} for
        the tagger, a reply for chat)."""

    @abc.abstractmethod
    def format_prediction(self, text: str, prediction) -> str:
        """The CLI's line(s) for one prediction."""

    def demo_note(self, meta: dict) -> str:
        """The Try-it tab's line about a run of this task; default its title."""
        return self.title

    def demo_view(self, prediction) -> dict:
        """What the classifier demo shows for a prediction: {"scores": {label: score}, "chosen": [labels] or None}.
        `chosen` None: the scores say it all (the top one is the answer); a list: the labels the model picks
        (e.g. every label over its threshold), shown above the scores."""
        return {"scores": prediction, "chosen": None}

    def chosen_labels(self, prediction) -> list[str]:
        """The labels a prediction picks (counted in file predictions); default: the top one of a {label: score}
        mapping, highest first."""
        return [next(iter(prediction))] if prediction else []

    def file_columns(self, prediction) -> dict:
        """The columns one row gets in a predicted CSV (`predict_file`); None: a row left out, blank cells.
        Default: the top label and its score."""
        if prediction is None:
            return {"predicted_label": "", "confidence": None}
        top = next(iter(prediction))
        return {"predicted_label": top, "confidence": round(prediction[top], 4)}

    def predict_file(self, predictor, path, out_path, text_columns: list[str] | None = None) -> dict:
        """Predict every row of a table; writes a CSV with `file_columns` added: {rows, path, label_counts[,
        left_out]}. A row with no text keeps its place with blank cells, and is counted."""
        import csv

        import pandas as pd

        from .. import skipped as skip

        df = self.read(path).df
        if len(df) > MAX_FILE_ROWS:
            raise DataError(f"The file has {len(df):,} rows; prediction takes at most {MAX_FILE_ROWS:,} per file.")
        cols = text_columns or [c for c in predictor.meta.get("text_columns", []) if c in df.columns]
        if not cols:
            cols = self.propose(df)["text_columns"]
        missing = [c for c in cols if c not in df.columns]
        if missing or not cols:
            raise DataError(f"The file has no column '{(missing or ['text'])[0]}'; it needs the same text column(s) as the training data.")
        texts = ["\n".join(str(v).strip() for v in row if str(v).strip()) for row in df[cols].itertuples(index=False)]
        skipped = data_mod.skipped_of(df, "prediction file")
        usable = [i for i, t in enumerate(texts) if t]
        for i in range(len(texts)):
            if not texts[i]:
                skipped.add(data_mod.row_name(df, i), skip.no_text(cols))
        skipped.settle(data_mod.records_read(df))
        preds = dict(zip(usable, predictor.predict([texts[i] for i in usable]))) if usable else {}
        out = df.copy()
        cells = [self.file_columns(preds.get(i)) for i in range(len(texts))]
        for column in self.file_columns(None):
            out[column] = [c[column] for c in cells]
        data_mod.neutralise_formulas(out).to_csv(out_path, index=False, quoting=csv.QUOTE_MINIMAL)
        chosen = pd.Series([label for i in usable for label in self.chosen_labels(preds[i])], dtype=object)
        result = {"rows": len(out), "path": str(out_path), "label_counts": chosen.value_counts().to_dict()}
        if skipped:
            result["left_out"] = skipped.as_report()
        return result

    def __repr__(self) -> str:
        return f"<task {self.name}>"
