"""One exception family. Each carries a sentence a user can act on; logs keep the traceback."""


class TunerError(Exception):
    """Base class: `str(err)` is the one sentence shown to a person; `zh`, when the raiser wrote it, is the same
    sentence in Chinese (otherwise the page translates by pattern, tuner.ui.i18n)."""

    def __init__(self, *args, zh: str | None = None):
        super().__init__(*args)
        self.zh = zh


class ConfigError(TunerError):
    """A config value, recipe or YAML document is invalid."""


class DataError(TunerError):
    """An uploaded dataset cannot be used as it is."""


class ModelError(TunerError):
    """A model cannot be resolved or loaded."""


class RunError(TunerError):
    """A run folder is missing, busy or in the wrong state."""


def user_message(exc: BaseException) -> str:
    """The sentence to show for any exception: ours verbatim, others generic (details go to the log)."""
    if isinstance(exc, TunerError):
        return str(exc)
    return "Something went wrong on the server; the details are in the log. Please try again."
