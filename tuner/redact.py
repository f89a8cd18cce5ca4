"""Mask secrets (Hugging Face tokens, passwords) in logs, files, events, model cards and the page.

API (for export/push and anything else that handles a token):

    mask(text)                 -> text with every token-looking substring (hf_..., api_org_..., Bearer ...,
                                  token=/password= values) and every registered secret replaced by '***'
    register(secret)           -> remember a secret value (e.g. a token a user typed) so mask() hides it
                                  verbatim everywhere, even when it does not look like a token
    Secret(value)              -> a wrapper whose str()/repr()/format() is '***'; .reveal() gives the value
                                  (pass Secret objects around instead of raw strings)
    mask_mapping(d)            -> a copy of a dict/list with values under secret-looking keys (token,
                                  password, secret, authorization, api_key) and token-looking strings masked
    install_log_filter(logger) -> attach SecretFilter to a logger (default: the root logger and its handlers)
                                  so every record's message and args are masked before they are written
    SecretFilter               -> the logging.Filter itself
"""

from __future__ import annotations

import logging
import re
import threading

MASK = "***"
# Hugging Face user/org tokens, OAuth/Bearer headers, and key=value pairs whose key names a secret.
TOKEN_PATTERNS = [
    re.compile(r"\bhf_[A-Za-z0-9]{8,}"),
    re.compile(r"\bapi_org_[A-Za-z0-9]{8,}"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"(?i)\b((?:hf_|hugging_?face_)?(?:token|password|passwd|secret|api_key)[\"']?\s*[:=]\s*[\"']?)([^\s\"',;&]+)"),
    re.compile(r"(?i)(https?://[^\s:/@]+:)([^\s@/]+)(@)"),  # credentials inside a URL
]
SECRET_KEYS = re.compile(r"(?i)(token|password|passwd|secret|authorization|api_key|apikey)")

_registered: set[str] = set()
_lock = threading.Lock()


def register(secret: str | None) -> None:
    """Remember `secret` so mask() replaces it wherever it appears (values shorter than 6 characters are
    ignored: masking them would garble ordinary text)."""
    if secret and len(str(secret)) >= 6:
        with _lock:
            _registered.add(str(secret))


def mask(text) -> str:
    """`text` as a string with every secret replaced by '***'."""
    out = str(text)
    with _lock:
        known = sorted(_registered, key=len, reverse=True)
    for value in known:
        out = out.replace(value, MASK)
    for pattern in TOKEN_PATTERNS:
        if pattern.groups >= 3:
            out = pattern.sub(lambda m: m.group(1) + MASK + m.group(3), out)
        elif pattern.groups == 2:
            out = pattern.sub(lambda m: m.group(1) + MASK, out)
        elif pattern.groups == 1:
            out = pattern.sub(lambda m: m.group(1) + MASK, out)
        else:
            out = pattern.sub(MASK, out)
    return out


def mask_mapping(data):
    """A copy of `data` (dicts, lists, strings) safe to write to a file, an event or a model card."""
    if isinstance(data, dict):
        return {k: (MASK if SECRET_KEYS.search(str(k)) and v not in (None, "", False) else mask_mapping(v))
                for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return type(data)(mask_mapping(v) for v in data)
    if isinstance(data, Secret):
        return MASK
    if isinstance(data, str):
        return mask(data)
    return data


class Secret:
    """A secret value that never prints itself: str, repr and f-strings give '***'."""

    __slots__ = ("_value",)

    def __init__(self, value: str | None):
        self._value = value or ""
        register(self._value)

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __str__(self) -> str:
        return MASK if self._value else ""

    __repr__ = lambda self: f"Secret({MASK!r})"  # noqa: E731

    def __format__(self, spec) -> str:
        return format(str(self), spec)

    def __eq__(self, other) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __reduce__(self):  # never pickled with its value
        raise TypeError("Secret values cannot be pickled")


class SecretFilter(logging.Filter):
    """Masks secrets in a record's message, arguments and formatted traceback before any handler writes it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string still gets logged (masked)
            message = str(record.msg)
        record.msg, record.args = mask(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask(record.exc_text)
        if record.stack_info:
            record.stack_info = mask(record.stack_info)
        return True


_FILTER = SecretFilter()


def install_log_filter(logger: logging.Logger | None = None) -> SecretFilter:
    """Attach the filter to `logger` (default: root) and to every handler it has, idempotently. Handler
    filters also cover records from child loggers, which logger filters do not."""
    logger = logger if logger is not None else logging.getLogger()
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
    for handler in logger.handlers:
        if _FILTER not in handler.filters:
            handler.addFilter(_FILTER)
    return _FILTER
