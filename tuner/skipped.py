"""Rows left out of a file: collect them, count them, decide whether the rest is still the file the person meant,
and say so in one sentence (English and Chinese).

Every reader of a person's file (training, validation, evaluation and prediction files of every task) follows the
same rules, the way a spreadsheet import dialog does:

* blank lines are ignored without a word (`tuner.data`);
* a row that cannot be used (no label, no text, a record broken over lines, too many fields, a label the model
  does not know) is left out, and one warning counts them, names the first few and points to the full list;
* the file is refused only when more than `MAX_SHARE` of its rows are unusable, when no row is left, or when
  strict checking is on (`data.strict`, `--strict`); the sentence then says how many and which.

A reader makes a `Skipped(source)`, calls `add(where, reason)` for each unusable row and `settle(total, strict)`
when done; `settle` raises the refusal or returns the warning (or nothing).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

from .errors import DataError

MAX_SHARE = 0.10  # more unusable rows than this and the file is probably not what the person meant
EXAMPLES = 3      # rows named in a sentence; the rest are in the list

SOURCE_ZH = {"training file": "训练文件", "validation file": "验证文件", "evaluation file": "评估文件",
             "file": "文件", "prediction file": "预测文件"}


@dataclass(frozen=True)
class Reason:
    """Why a row is left out, in both languages."""

    en: str
    zh: str


# ---- the reasons every reader shares -----------------------------------------------------------------
def no_label(column: str) -> Reason:
    return Reason(f"the label ('{column}') is empty", f"标签（“{column}”）为空")


def no_text(columns) -> Reason:
    cols = " + ".join(map(str, columns)) if not isinstance(columns, str) else columns
    return Reason(f"the text ({cols}) is empty", f"文本（{cols}）为空")


def field_count(saw: int, expected: int) -> Reason:
    return Reason(f"{saw} fields where the header has {expected}; a record broken over lines or an unquoted delimiter",
                  f"有 {saw} 个字段而表头有 {expected} 个；可能是一条记录被拆成了多行，或分隔符没有加引号")


def bad_json(why: str) -> Reason:
    return Reason(f"not valid JSON ({why})", f"不是有效的 JSON（{why}）")


def not_object(kind: str) -> Reason:
    return Reason(f"a JSON {kind}, not an object with named fields", f"是 JSON {kind}，不是带字段名的对象")


_FROM_ZH = {"the training file": "训练文件", "the model's training data": "模型的训练数据"}


def unknown_label(label: str, known_from: str) -> Reason:
    return Reason(f"the label '{label}' never occurs in {known_from}", f"标签“{label}”从未出现在{_FROM_ZH.get(known_from, known_from)}中")


def unknown_type(entity_type: str, known_from: str) -> Reason:
    return Reason(f"the entity type '{entity_type}' never occurs in {known_from}",
                  f"实体类型“{entity_type}”从未出现在{_FROM_ZH.get(known_from, known_from)}中")


def label_like_text(label: str) -> Reason:
    short = label[:40] + ("…" if len(label) > 40 else "")
    return Reason(f"the label '{short}' looks like text (a record broken over lines, or shifted columns)",
                  f"标签“{short}”看起来像正文（可能是一条记录被拆成了多行，或列错位）")


def problem(text_en: str, text_zh: str | None = None) -> Reason:
    """A task's own reason (a bad tag, a broken conversation) as it reads in the task's error sentences."""
    return Reason(text_en, text_zh or text_en)


# ---- collecting and deciding --------------------------------------------------------------------------
@dataclass
class Skipped:
    source: str = "training file"
    rows: list[tuple[str, Reason]] = field(default_factory=list)  # (where: 'row 12' / 'line 40', why)
    total: int = 0
    unit: str = "rows"  # what the file is counted in: rows, or sentences (CoNLL)

    def add(self, where: str, reason: Reason) -> None:
        self.rows.append((str(where), reason))

    def extend(self, other: "Skipped") -> None:
        self.rows.extend(other.rows)
        self.unit = other.unit

    def __len__(self) -> int:
        return len(self.rows)

    def settle(self, total: int, strict: bool = False, at_least: int = 1) -> list[str]:
        """Raise DataError when the file must be refused; else the warning list ([] when nothing was left out).
        `total` counts every non-blank row read (usable + left out); `at_least` is the fewest usable rows a
        reader can work with."""
        self.total = total
        bad = len(self.rows)
        if not bad:
            return []
        left = total - bad
        if strict:
            raise self._refusal(
                f"{bad:,} {self.unit} of the {self.source} cannot be used and strict checking is on: {self._examples('en')}; "
                "fix those rows, or turn strict checking off to leave them out with a warning.",
                f"{self._src_zh()}有 {bad:,} 行无法使用，且已开启严格检查：{self._examples('zh')}；"
                "请修正这些行，或关闭严格检查，让它们在警告后被略过。")
        if left < at_least:
            raise self._refusal(
                f"None of the {total:,} {self.unit} of the {self.source} can be used: {self._examples('en')}; "
                "check that the right columns are chosen.",
                f"{self._src_zh()}的 {total:,} 行都无法使用：{self._examples('zh')}；请检查是否选对了列。")
        if bad > MAX_SHARE * total:
            pct = 100 * bad / total
            raise self._refusal(
                f"{bad:,} of the {total:,} {self.unit} of the {self.source} ({pct:.0f}%) cannot be used, more than the "
                f"{MAX_SHARE:.0%} that are left out with a warning: {self._examples('en')}; check that the right "
                "columns are chosen, or fix those rows.",
                f"{self._src_zh()}的 {total:,} 行中有 {bad:,} 行（{pct:.0f}%）无法使用，超过了可在警告后略过的 "
                f"{MAX_SHARE:.0%}：{self._examples('zh')}；请检查是否选对了列，或修正这些行。")
        return [self.warning("en")]

    def warnings(self) -> list[str]:
        """The warning of a settled list, as a list ([] when nothing was left out)."""
        return [self.warning("en")] if self.rows else []

    def as_report(self, limit: int = 1000) -> dict:
        """What a report or metrics.json keeps: counts, the warning in both languages, the first `limit` rows."""
        return {"rows": len(self.rows), "of": self.total, "warning": self.warning("en"), "warning_zh": self.warning("zh"),
                "list": [[where, reason.en] for where, reason in self.rows[:limit]]}

    def warning(self, lang: str = "en") -> str:
        bad, total = len(self.rows), self.total or len(self.rows)
        if lang == "zh":
            return (f"{self._src_zh()}的 {total:,} 行中有 {bad:,} 行无法使用，已略过：{self._examples('zh')}。"
                    "完整列表可以下载。")
        return (f"Left out {bad:,} of {total:,} {self.unit} of the {self.source} that cannot be used: "
                f"{self._examples('en')}; the full list can be downloaded.")

    def _examples(self, lang: str) -> str:
        shown = [f"{where_zh(where)}（{reason.zh}）" if lang == "zh" else f"{where} ({reason.en})"
                 for where, reason in self.rows[:EXAMPLES]]
        more = len(self.rows) - EXAMPLES
        if more > 0:
            shown.append(f"还有 {more:,} 行" if lang == "zh" else f"and {more:,} more")
        return "；".join(shown) if lang == "zh" else "; ".join(shown)

    def _src_zh(self) -> str:
        return SOURCE_ZH.get(self.source, self.source)

    def _refusal(self, en: str, zh: str) -> DataError:
        err = DataError(en, zh=zh)
        err.skipped = self
        return err


_WHERE_ZH = {"row": "行", "line": "行", "record": "条记录", "sentence": "句"}


def where_zh(where: str) -> str:
    """'row 12' -> '第 12 行' (the other words the readers use likewise)."""
    m = re.match(r"(row|line|record|sentence) ([\d,]+)(.*)\Z", where)
    return f"第 {m.group(2)} {_WHERE_ZH[m.group(1)]}{m.group(3)}" if m else where


def write_lists(lists: list[Skipped], path: str | Path) -> Path | None:
    """All readers' lists in one CSV (None when nothing was left out)."""
    rows = [r for s in lists if s for r in ((s.source, w, why) for w, why in s.rows)]
    if not rows:
        return None
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["file", "where", "reason"])
        for source, where, why in rows:
            w.writerow([source, where, why.en])
    return path
