"""Checks for weight files that come from outside (an uploaded adapter or checkpoint): safetensors only.

    check_weights_file(path)  -> refuses pickle formats (.bin/.pt/.pth/.pkl/.ckpt, or pickle/zip content under
                                 any name) and a safetensors file whose header lies (size, JSON, offsets, dtypes)
    check_adapter_dir(folder) -> the same for every file in a PEFT adapter folder; it needs
                                 adapter_config.json and adapter_model.safetensors

Both raise `ModelError` with one sentence and read only the header (never unpickle, never load tensors).
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

from .errors import ModelError

PICKLE_SUFFIXES = {".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".joblib", ".npy", ".npz", ".h5", ".msgpack"}
DTYPE_BYTES = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1, "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
               "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8, "C64": 8}
MAX_HEADER = 100 * 1024 * 1024


def check_weights_file(path: str | Path) -> dict:
    """Validate a .safetensors file's header against the file; returns {tensor name: (dtype, shape)}."""
    path = Path(path)
    name = path.name
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise ModelError(f"'{name}' is a pickle-format weights file, which can run code when loaded; only .safetensors weights are accepted.")
    if path.suffix.lower() != ".safetensors":
        raise ModelError(f"'{name}' is not a .safetensors file; only safetensors weights are accepted.")
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(8)
            if head[:2] == b"PK" or head[:1] == b"\x80":
                raise ModelError(f"'{name}' holds pickle/zip data under a .safetensors name; only real safetensors weights are accepted.")
            if len(head) < 8:
                raise ModelError(f"'{name}' is too short to be a safetensors file; export the weights again.")
            (n,) = struct.unpack("<Q", head)
            if n < 2 or n > min(MAX_HEADER, size - 8):
                raise ModelError(f"'{name}' has a damaged safetensors header (its length does not fit the file); export the weights again.")
            raw = fh.read(n)
    except OSError:
        raise ModelError(f"'{name}' could not be read; upload it again.") from None
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ModelError(f"'{name}' has a damaged safetensors header (not valid JSON); export the weights again.") from None
    if not isinstance(header, dict):
        raise ModelError(f"'{name}' has a damaged safetensors header; export the weights again.")
    data_size = size - 8 - n
    tensors, spans = {}, []
    for key, info in header.items():
        if key == "__metadata__":
            if info is not None and not (isinstance(info, dict) and all(isinstance(v, str) for v in info.values())):
                raise ModelError(f"'{name}' has damaged metadata in its safetensors header; export the weights again.")
            continue
        try:
            dtype, shape, (begin, end) = info["dtype"], info["shape"], info["data_offsets"]
            ok = (dtype in DTYPE_BYTES and isinstance(shape, list) and all(isinstance(d, int) and d >= 0 for d in shape)
                  and isinstance(begin, int) and isinstance(end, int) and 0 <= begin <= end <= data_size
                  and end - begin == DTYPE_BYTES[dtype] * math.prod(shape))
        except (KeyError, TypeError, ValueError):
            ok = False
        if not ok:
            raise ModelError(f"'{name}' has a safetensors header that does not match its data (tensor '{str(key)[:80]}'); export the weights again.")
        tensors[key] = (dtype, tuple(shape))
        spans.append((begin, end))
    spans.sort()
    for (_, end_a), (begin_b, _) in zip(spans, spans[1:]):
        if begin_b < end_a:
            raise ModelError(f"'{name}' has overlapping tensors in its safetensors header; export the weights again.")
    return tensors


def check_adapter_dir(folder: str | Path) -> None:
    """Every weights file in an adapter folder must be a valid safetensors file; pickles are refused."""
    folder = Path(folder)
    files = [p for p in folder.rglob("*") if p.is_file()]
    bad = [p for p in files if p.suffix.lower() in PICKLE_SUFFIXES]
    if bad:
        raise ModelError(f"The adapter contains '{bad[0].name}', a pickle-format file that can run code when loaded; only safetensors adapters are accepted.")
    if not (folder / "adapter_config.json").is_file() or not (folder / "adapter_model.safetensors").is_file():
        raise ModelError("The adapter needs adapter_config.json and adapter_model.safetensors (a PEFT adapter saved with safetensors).")
    for p in files:
        if p.suffix.lower() == ".safetensors":
            check_weights_file(p)
