"""Read uploaded tables (csv/tsv/json/jsonl/parquet), sniff their shape, and split them.

Everything here returns plain pandas DataFrames of strings plus a list of warnings. Problems are raised as
`DataError` with one sentence that names the row, line or column and says how to fix it. Rows are counted
from 1 below the header, as a spreadsheet user sees them; JSON Lines problems name the file line.
"""

from __future__ import annotations

import csv
import io
import json
import re
import warnings as pywarnings
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from . import environment
from .errors import DataError

TABLE_EXTENSIONS = (".csv", ".tsv", ".txt", ".json", ".jsonl", ".ndjson", ".parquet", ".conll")
SNIFF_BYTES = 64 * 1024


def max_upload_bytes() -> int:
    return int(environment.get("TUNER_MAX_UPLOAD_MB") * 1024 * 1024)


def max_rows() -> int:
    return environment.get("TUNER_MAX_ROWS")


@dataclass
class Table:
    df: pd.DataFrame
    format: str
    warnings: list[str] = field(default_factory=list)
    header: bool = True


def checked_size(path: Path, empty: str = "") -> int:
    """The file's size in bytes, or one sentence when it cannot be opened, is over the upload limit or, where
    `empty` gives the advice for that case, is empty."""
    try:
        size = path.stat().st_size
    except OSError:
        raise DataError(f"The file '{display_name(path)}' could not be opened; upload it again.") from None
    limit = max_upload_bytes()
    if size > limit:
        raise DataError(f"The file is {size / 2**20:.1f} MB, over the {limit / 2**20:.0f} MB upload limit; upload a smaller sample.")
    if size == 0 and empty:
        raise DataError(f"The file is empty (0 usable rows); {empty}.")
    return size


def read_table(path: str | Path) -> Table:
    """Read a table of strings from `path`, sniffing format, encoding, delimiter and header."""
    path = Path(path)
    checked_size(path, empty="upload a file with a header and at least a few rows")
    ext = path.suffix.lower()
    if ext == ".parquet":
        table = _read_parquet(path)
    else:
        raw = path.read_bytes()
        if raw[:4] == b"PAR1":
            table = _read_parquet(path)
        else:
            text, warnings = decode_bytes(raw, display_name(path))
            del raw  # the text is all that is needed now (a large file: its bytes would double the peak)
            kind = ext if ext in (".json", ".jsonl", ".ndjson") else _sniff_kind(text)
            if kind == ".json":
                table = _read_json(text)
            elif kind in (".jsonl", ".ndjson"):
                table = _read_jsonl(text)
            else:
                table = _read_delimited(text, ext)
            table.warnings[:0] = warnings
    return _finish(table)


def decode_bytes(raw: bytes, name: str = "file") -> tuple[str, list[str]]:
    """Bytes -> text: UTF-8 (BOM stripped), UTF-16 with a BOM, else Windows-1252 with a warning."""
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    elif raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return _normalise_newlines(raw.decode("utf-16")), []
        except UnicodeDecodeError:
            raise DataError(f"'{name}' starts like UTF-16 text but could not be decoded; save it as UTF-8 and upload it again.") from None
    if raw.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
        raise DataError(f"Could not read '{name}' as text: it looks like an Excel or other binary file; save it as CSV (UTF-8) and upload that.")
    sample = raw[:SNIFF_BYTES]
    utf16 = _bomless_utf16(sample)
    if utf16:
        try:
            return _normalise_newlines(raw.decode(utf16)), [f"The file is UTF-16 without a byte-order mark; it was read as {utf16.upper()}."]
        except UnicodeDecodeError:
            pass
    # Text has (almost) no control characters besides tab, newline, form feed and carriage return. UTF-8 text
    # with a few of them (terminal colour codes, a vertical tab pasted from Word) is text: they are removed below.
    controls = sum(sample.count(bytes([c])) for c in range(32) if c not in (9, 10, 12, 13))
    if sample.count(b"\x00") > len(sample) // 100 + 1 or (controls > len(sample) // 100 + 1 and not _is_utf8(sample)):
        raise DataError(f"Could not read '{name}' as text: it contains binary data; upload a CSV, TSV, JSON, JSONL or Parquet file.")
    warnings = []
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        text = raw.decode("cp1252", errors="replace")
        warnings.append(f"The file is not UTF-8 (first bad byte at position {exc.start}); it was read as Windows-1252/Latin-1. Check accented characters in the preview.")
    text = _normalise_newlines(text)
    if _CONTROL.search(text):
        stripped = _CONTROL.sub("", text)
        warnings.append(f"Removed {len(text) - len(stripped):,} control characters (such as NUL bytes or terminal colour codes) from the file.")
        text = stripped
    return text, warnings


_CONTROL = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|[\x00-\x08\x0b\x0e-\x1f\x7f]")  # ANSI colour codes whole


def _is_utf8(sample: bytes) -> bool:
    """True when `sample` (possibly cut inside a character at its end) is valid UTF-8."""
    try:
        sample.decode("utf-8")
        return True
    except UnicodeDecodeError as exc:
        return exc.start >= len(sample) - 3 and exc.reason == "unexpected end of data"


def _bomless_utf16(sample: bytes) -> str | None:
    """'utf-16-le' / 'utf-16-be' when the bytes look like mostly-ASCII UTF-16 text with no BOM (a NUL in
    almost every odd / even position), else None."""
    if len(sample) < 4:
        return None
    even, odd = sample[0::2], sample[1::2]
    if odd.count(0) >= 0.9 * len(odd) and even.count(0) <= 0.1 * len(even):
        return "utf-16-le"
    if even.count(0) >= 0.9 * len(even) and odd.count(0) <= 0.1 * len(odd):
        return "utf-16-be"
    return None


def _normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _sniff_kind(text: str) -> str:
    head = text.lstrip()[:1]
    if head == "[":
        return ".json"
    if head == "{":
        first = text.lstrip().split("\n", 1)[0].strip()
        try:
            json.loads(first)
            return ".jsonl"
        except ValueError:
            return ".json"
    return ".csv"


def _read_parquet(path: Path) -> Table:
    try:
        df = pd.read_parquet(path)
    except Exception:
        raise DataError(f"Could not read '{display_name(path)}' as Parquet; export it again or upload a CSV instead.") from None
    records = [{k: v.tolist() if getattr(v, "ndim", 0) else v for k, v in r.items()} for r in df.to_dict("records")]
    return Table(_records_frame(records), "parquet")  # strings, like every other format; list columns as lists


def _read_json(text: str) -> Table:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"Line {exc.lineno}: the JSON is malformed ({exc.msg}); fix that line or upload JSON Lines.") from None
    if isinstance(data, dict):
        lists = [v for v in data.values() if isinstance(v, list)]
        if len(lists) != 1:
            raise DataError("The JSON must be a list of records (or an object holding exactly one such list).")
        data = lists[0]
    if not isinstance(data, list):
        raise DataError("The JSON must be a list of records, e.g. [{\"text\": ..., \"label\": ...}, ...].")
    from .skipped import Skipped, not_object

    skipped, records, numbers = Skipped(), [], []
    for i, rec in enumerate(data, 1):
        if isinstance(rec, dict):
            records.append(rec)
            numbers.append(i)
        else:
            skipped.add(f"record {i:,}", not_object(type(rec).__name__))
    table = Table(_records_frame(records), "json")
    _number_rows(table.df, skipped, numbers if skipped else None, "record")
    return table


def _read_jsonl(text: str) -> Table:
    from .skipped import Skipped, bad_json, not_object

    skipped, records, lines = Skipped(), [], []
    for lineno, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            skipped.add(f"line {lineno:,}", bad_json(exc.msg))
            continue
        if not isinstance(rec, dict):
            skipped.add(f"line {lineno:,}", not_object(type(rec).__name__))
            continue
        records.append(rec)
        lines.append(lineno)
        if len(records) > max_rows():
            break
    if not records and skipped:
        skipped.settle(len(skipped))  # nothing usable: refuse, naming the first lines
    table = Table(_records_frame(records), "jsonl")
    _number_rows(table.df, skipped, None, "line")
    table.df.attrs["line_numbers"] = lines
    return table


def _number_rows(df: pd.DataFrame, skipped, numbers: list[int] | None, word: str = "row") -> None:
    """Remember what the reader left out and how a person finds each kept row ('record 12', 'line 40')."""
    df.attrs["skipped"] = skipped
    df.attrs["records"] = len(df) + len(skipped)
    df.attrs["row_word"] = word
    if numbers:
        df.attrs["row_numbers"] = numbers


def row_name(df: pd.DataFrame, i: int) -> str:
    """How a person finds row `i` (0-based) of an upload: 'line 42' (JSON Lines), 'record 42' (JSON), 'row 42'
    (a table, counted below the header as a spreadsheet shows it, the left-out rows included)."""
    lines = df.attrs.get("line_numbers")
    if lines and i < len(lines):
        return f"line {lines[i]:,}"
    numbers = df.attrs.get("row_numbers")
    n = numbers[i] if numbers and i < len(numbers) else i + 1
    return f"{df.attrs.get('row_word', 'row')} {n:,}"


def skipped_of(df: pd.DataFrame, source: str):
    """The reader's list of left-out rows for `df` (a fresh, empty one when it left out nothing), named for `source`."""
    from .skipped import Skipped

    found = df.attrs.get("skipped")
    out = Skipped(source)
    if found:
        out.extend(found)
    return out


def records_read(df: pd.DataFrame) -> int:
    """Non-blank rows the reader saw: the kept ones plus the ones it left out."""
    return int(df.attrs.get("records", len(df)))


def _records_frame(records: list[dict]) -> pd.DataFrame:
    if any(isinstance(v, dict) for rec in records for v in rec.values()):
        # Nested objects become columns of their own ('meta.source'), as a spreadsheet import flattens them.
        df = pd.json_normalize(records, sep=".")
    else:
        df = pd.DataFrame.from_records(records)
    # Keep lists (of messages, of tokens) as Python objects; scalars become strings.
    for col in df.columns:
        if df[col].map(lambda v: isinstance(v, (list, dict))).any():
            continue
        df[col] = df[col].map(_scalar_text)
    return df


def _scalar_text(value) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


KNOWN_HEADER_WORDS = {
    "text", "label", "labels", "sentence", "content", "body", "title", "class", "category", "message",
    "sms", "review", "target", "intent", "instruction", "input", "output", "response", "prompt", "tokens",
    "tags", "id", "question", "answer", "sentiment", "subject", "description",
}


def _read_delimited(text: str, ext: str) -> Table:
    """Comma/tab/semicolon/pipe-separated text. A record with more fields than the header (a record broken over
    lines, an unquoted delimiter) is left out and listed in `df.attrs["skipped"]` (tuner.skipped); rows keep the
    numbers a spreadsheet shows (`df.attrs["row_numbers"]`)."""
    if not text.strip():
        raise DataError("The file has no rows (0 usable rows); upload a file with a header and at least a few rows.")
    sample = text[:SNIFF_BYTES]
    delimiter = "\t" if ext == ".tsv" else _sniff_delimiter(sample)
    # The header is the whole first record, however long (a sample cut inside it would invent a column name).
    first = next(csv.reader(io.StringIO(_head(text)), delimiter=delimiter), [])
    header = _looks_like_header(first, sample, delimiter)
    names = [c.strip() for c in first]
    if header and len(set(names)) != len(names):  # pandas would silently rename the second one 'x.1'
        dupes = sorted({c for c in names if c and names.count(c) > 1})
        if dupes:
            raise DataError(f"Column '{dupes[0]}' appears twice in the header; give every column a distinct name.")
    columns = [c or f"column_{i + 1}" for i, c in enumerate(names)] if header else [f"column_{i + 1}" for i in range(len(first))]

    # pandas reads UTF-8 bytes: a StringIO of the text would hold 4 bytes per character (8x a large file's size).
    encoded = text.encode("utf-8")

    def parse(quoting):
        with pywarnings.catch_warnings(record=True) as caught:
            pywarnings.simplefilter("always", pd.errors.ParserWarning)
            df = pd.read_csv(
                io.BytesIO(encoded), encoding="utf-8", sep=delimiter, names=columns, header=0 if header else None, dtype=str,
                keep_default_na=False, skip_blank_lines=True, engine="c", nrows=max_rows() + 1, on_bad_lines="warn",
                quotechar='"', quoting=quoting, index_col=False,  # never turn extra leading fields into an index
            )
        return df, [str(w.message) for w in caught if issubclass(w.category, pd.errors.ParserWarning)]

    try:
        try:
            df, notes = parse(_tsv_quoting(sample) if delimiter == "\t" else csv.QUOTE_MINIMAL)
        except (pd.errors.ParserError, csv.Error):
            if delimiter != "\t":
                raise
            # Plain TSV (SST-2, SMS Spam) does not quote: a text that starts with '"' is just text.
            df, notes = parse(csv.QUOTE_NONE)
    except pd.errors.ParserError as exc:
        m = re.search(r"starting at row (\d+)", str(exc))
        if m:
            raise DataError(f"Row {int(m.group(1)) + (0 if header else 1)} opens a quote (\") that is never closed, so the rest of the file "
                            "reads as one cell; close the quote or remove it.") from None
        raise DataError("Could not read the file as CSV/TSV; save it as UTF-8 comma- or tab-separated text.") from None
    except (UnicodeError, ValueError, csv.Error):
        raise DataError("Could not read the file as CSV/TSV; save it as UTF-8 comma- or tab-separated text.") from None
    from .skipped import Skipped, field_count

    skipped = Skipped()
    offset = 1 if header else 0  # pandas counts records from the header; people count rows below it
    bad = []
    for note in notes:
        if note.startswith("Length of header"):  # the first data row had extra fields: pandas cut it, drop it
            df = df.iloc[1:]
            rows = csv.reader(io.StringIO(_head(text, 2)), delimiter=delimiter)
            saw = len([*rows, [], []][1 if header else 0])
            bad.append((1, field_count(saw, len(columns))))
        for line, saw in re.findall(r"Skipping line (\d+): expected \d+ fields, saw (\d+)", note):
            bad.append((int(line) - offset, field_count(int(saw), len(columns))))
    numbers = None
    if bad:
        bad.sort(key=lambda b: b[0])
        for row, reason in bad:
            skipped.add(f"row {row:,}", reason)
        numbers, b, kept = [], 0, 0
        bad_rows = [row for row, _ in bad]
        while len(numbers) < len(df):  # the kept rows' numbers, counting the left-out ones as a spreadsheet would
            kept += 1
            while b < len(bad_rows) and bad_rows[b] <= kept:
                kept, b = kept + 1, b + 1
            numbers.append(kept)
    df = df.reset_index(drop=True)
    df.attrs["skipped"] = skipped
    df.attrs["records"] = len(df) + len(skipped)
    if numbers:
        df.attrs["row_numbers"] = numbers
    fmt = {"\t": "tsv", ",": "csv"}.get(delimiter, f"delimited ({delimiter!r})")
    return Table(df, fmt, header=header)


def _head(text: str, records: int = 1) -> str:
    """The start of `text` holding its first `records` lines however long they are (a bounded slice, not a copy
    of a large file)."""
    end = -1
    for _ in range(records):
        end = text.find("\n", end + 1)
        if end < 0:
            return text
    return text[: max(end + 1, min(len(text), SNIFF_BYTES))]


def _tsv_quoting(sample: str) -> int:
    """Plain TSV (SST-2, SMS Spam) does not quote: a cell like '"Divorce Barbie" comes with…' is text. When a cell
    opens a quote, closes it and goes on, the file's quotes are literal (QUOTE_NONE); else they quote (MINIMAL)."""
    for line in sample.split("\n")[:2000]:
        for cell in line.split("\t"):
            if cell.startswith('"') and cell.count('"') % 2 == 0 and not cell.rstrip().endswith('"'):
                return csv.QUOTE_NONE
    return csv.QUOTE_MINIMAL


def _sniff_delimiter(sample: str) -> str:
    lines = [ln for ln in sample.split("\n")[:50] if ln.strip()]
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=",\t;|").delimiter
    except csv.Error:
        counts = {d: sum(ln.count(d) for ln in lines) for d in ",\t;|"}
        best = max(counts, key=counts.get)
        return best if counts[best] else ","


def _looks_like_header(first: list[str], sample: str, delimiter: str) -> bool:
    if not first:
        return True
    words = [c.strip().lower() for c in first]
    if any(w in KNOWN_HEADER_WORDS for w in words):
        return True
    if any(_is_number(w) for w in words):
        return False  # a header is names, not numbers
    if any(len(w) > 40 or len(w.split()) > 4 for w in words):
        return False  # a sentence in the first row is data
    try:
        return csv.Sniffer().has_header(sample)
    except csv.Error:
        return True


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _finish(table: Table) -> Table:
    df = table.df
    attrs = dict(df.attrs)
    if df.shape[1] == 0:
        raise DataError("The file has no columns; it needs at least a text column and a label column.")
    keep = None
    if len(df) > max_rows():
        keep = pd.Series([True] * max_rows() + [False] * (len(df) - max_rows()), index=df.index)
        table.warnings.append(f"The file has more than {max_rows():,} rows; only the first {max_rows():,} are used.")
    # Rows where every cell is blank are not rows (a spreadsheet's trailing empty lines): dropped without a word.
    blank = df.apply(lambda col: col.map(lambda v: isinstance(v, str) and not v.strip())).all(axis=1)
    if blank.any():
        keep = ~blank if keep is None else keep & ~blank
    if keep is not None:
        for key in ("row_numbers", "line_numbers"):
            if attrs.get(key):
                attrs[key] = [n for n, k in zip(attrs[key], keep.tolist()) if k]
        if not attrs.get("row_numbers") and not attrs.get("line_numbers") and not keep.all():
            attrs["row_numbers"] = [i + 1 for i, k in enumerate(keep.tolist()) if k]
        attrs["records"] = attrs.get("records", len(df)) - int((~keep).sum())
        df = df[keep.to_numpy()]
    if len(df) == 0:
        raise DataError("The file has a header but 0 usable rows; add data rows below the header.")
    table.df = df.reset_index(drop=True)
    table.df.attrs.update(attrs)
    table.df.attrs.setdefault("skipped", None)
    return table


def held_out_share(data_cfg, rows: int) -> float:
    """The share of `rows` to hold out for validation: `validation_fraction`, capped at `validation_max_rows`."""
    share = data_cfg.validation_fraction
    if data_cfg.validation_max_rows and rows * share > data_cfg.validation_max_rows:
        share = data_cfg.validation_max_rows / rows
    return share


def stratified_split(labels: list[str], fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Indices (train, validation): every label with 2+ rows gets its share in validation."""
    import random

    rng = random.Random(seed)
    by_label: dict[str, list[int]] = {}
    for i, lab in enumerate(labels):
        by_label.setdefault(lab, []).append(i)
    train, val = [], []
    for idx in by_label.values():
        rng.shuffle(idx)
        n_val = int(round(len(idx) * fraction)) if len(idx) >= 2 else 0
        n_val = max(1 if len(idx) >= 2 else 0, min(n_val, len(idx) - 1))
        val += idx[:n_val]
        train += idx[n_val:]
    return sorted(train), sorted(val)


def preview(df: pd.DataFrame, rows: int = 8, width: int = 200) -> pd.DataFrame:
    """The first rows, every cell shortened for display (the UI renders it as inert text)."""
    head = df.head(rows).copy()
    for col in head.columns:
        head[col] = head[col].map(lambda v: (str(v)[:width] + "…") if len(str(v)) > width else str(v))
    return head


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formulas(df: pd.DataFrame) -> pd.DataFrame:
    """A copy whose text cells (and column names) that a spreadsheet would run as a formula (=, +, -, @, tab,
    CR first) start with an apostrophe instead (OWASP CSV injection advice). For CSVs we write for people."""
    def safe(value):
        return "'" + value if isinstance(value, str) and value.startswith(FORMULA_START) else value

    out = df.copy()
    out.columns = [safe(str(c)) for c in out.columns]
    for col in out.columns:
        out[col] = out[col].map(safe)
    return out


def uploads_root() -> Path:
    from .runs import runs_root

    root = Path(environment.get("TUNER_UPLOADS_DIR") or runs_root() / "_uploads").resolve()
    root.mkdir(parents=True, exist_ok=True)
    return root


def store_upload(src: str | Path, role: str = "train") -> Path:
    """Copy an uploaded file into the uploads area under a server-made name (the client's name is never used
    as a path). The size limit is checked before anything is read or copied."""
    import secrets
    import shutil

    src = Path(src)
    try:
        size = src.stat().st_size
    except OSError:
        raise DataError("The uploaded file could not be opened; upload it again.") from None
    limit = max_upload_bytes()
    if size > limit:
        raise DataError(f"The file is {size / 2**20:.1f} MB, over the {limit / 2**20:.0f} MB upload limit; upload a smaller sample.")
    ext = src.suffix.lower()
    ext = ext if ext in TABLE_EXTENSIONS else ".csv"
    folder = uploads_root() / secrets.token_hex(8)
    folder.mkdir()
    dst = folder / f"{role}{ext}"
    shutil.copyfile(src, dst)
    _name_file(dst).write_text(_safe_name(src.name), encoding="utf-8")  # what the person called it, for sentences
    return dst


def _name_file(path: Path) -> Path:
    return path.with_name(path.name + ".name")


def _safe_name(name: str) -> str:
    """A file name fit for a sentence: no folders, no control characters, at most 80 characters."""
    name = _CONTROL.sub("", Path(str(name)).name).strip() or "file"
    return name if len(name) <= 80 else name[:60] + "…" + name[-19:]


def display_name(path: str | Path) -> str:
    """The name the person gave an uploaded file (its stored copy is called train.csv), else the file's own name."""
    path = Path(path)
    try:
        return _name_file(path).read_text(encoding="utf-8").strip() or path.name
    except OSError:
        return path.name


# ---- CoNLL token-per-line files (entity tagging) -------------------------------------------------------
CONLL_EXTENSIONS = (".conll", ".iob", ".bio")
TAG_LIKE = r"^(O|[BIESLUM]-\S+)$"
CONLL_HEADER_WORDS = {"token", "tokens", "word", "words", "form", "text", "tag", "tags", "ner", "ner_tag",
                      "ner_tags", "label", "labels", "pos", "chunk", "lemma", "entity"}


def _conll_fields(line: str) -> list[str]:
    """A tab-separated line splits on tabs (tokens may then hold spaces), any other on runs of whitespace."""
    line = line.strip()
    return [f.strip() for f in line.split("\t")] if "\t" in line else line.split()


def looks_like_conll(text: str) -> bool:
    """Token-per-line data: most of the first lines have 2-12 fields, one of them tag-like (O, B-PER, ...)."""
    import re

    tag = re.compile(TAG_LIKE)
    rows = [ln for ln in text.split("\n", 4000)[:4000] if ln.strip()][:500]
    if rows and all(f.lower() in CONLL_HEADER_WORDS for f in _conll_fields(rows[0])):
        rows = rows[1:]  # a header line such as 'token<TAB>tag'
    if len(rows) < 2:
        return False
    hits = 0
    for ln in rows:
        f = _conll_fields(ln)
        if f[0] == "-DOCSTART-" or (2 <= len(f) <= 12 and any(tag.match(x) for x in f[1:])):
            hits += 1
    return hits >= 0.8 * len(rows)


def read_conll(text: str) -> Table:
    """CoNLL-style text -> one row per sentence, one list-valued column per field (`tokens`, `tags`, or
    `tokens`, `column_2`, ... when there are more than two; a header line of known names is used as names).

    Blank lines end sentences; `-DOCSTART-` lines are skipped. The first file line of every sentence is kept in
    `df.attrs["ner_lines"]`, so problems can name the line of the exact token."""
    import re

    tag = re.compile(TAG_LIKE)
    sentences: list[list[list[str]]] = []
    starts: list[int] = []
    cur: list[list[str]] = []
    header = None
    ncols, first_line, docs = None, 0, 0
    warnings: list[str] = []
    limit = max_rows()
    for lineno, line in enumerate(text.split("\n"), 1):
        fields = _conll_fields(line) if line.strip() else []
        if not fields or fields[0] == "-DOCSTART-":
            docs += bool(fields)
            if cur:
                sentences.append(cur)
                cur = []
                if len(sentences) > limit:
                    break
            continue
        if ncols is None and header is None and not sentences and not cur and len(fields) >= 2 \
                and all(f.lower() in CONLL_HEADER_WORDS for f in fields) and not any(tag.match(f) for f in fields):
            header = fields
            continue
        if len(fields) < 2:
            raise DataError(f"Line {lineno} has only one column ('{fields[0][:30]}'); each line needs a token and its tag separated by a tab or space.")
        if ncols is None:
            ncols, first_line = len(fields), lineno
        elif len(fields) != ncols:
            raise DataError(f"Line {lineno} has {len(fields)} columns but line {first_line} has {ncols}; every token line needs the same columns (token, ..., tag).")
        if not cur:
            starts.append(lineno)
        cur.append(fields)
    if cur:
        sentences.append(cur)
    if len(sentences) > limit:
        sentences, starts = sentences[:limit], starts[:limit]
        warnings.append(f"The file has more than {limit:,} sentences; only the first {limit:,} are used.")
    if not sentences:
        raise DataError("The file has no token lines (0 usable rows); put one token and its tag per line, with a blank line between sentences.")
    if header is not None:
        if len(header) != ncols:
            raise DataError(f"The header line names {len(header)} columns but the token lines have {ncols}; fix the header or remove it.")
        names = [h.lower() for h in header]
        if len(set(names)) != len(names):
            raise DataError(f"Column '{next(n for n in names if names.count(n) > 1)}' appears twice in the header; give every column a distinct name.")
    else:
        names = ["tokens", "tags"] if ncols == 2 else ["tokens"] + [f"column_{k}" for k in range(2, ncols + 1)]
    df = pd.DataFrame({name: [[row[k] for row in sent] for sent in sentences] for k, name in enumerate(names)})
    df.attrs["ner_lines"] = starts
    df.attrs["ner_line_kind"] = "conll"
    return Table(df, "conll", warnings, header=header is not None)
