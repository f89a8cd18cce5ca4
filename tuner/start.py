"""Starting a run: the checks a run must pass before its folder exists, then the folder and the training queue.

The page's Train and Train again buttons and `python -m tuner train` all start runs through `start_run`, so they
refuse the same settings with the same sentence before anything is written, and warn about the same things:

1. the config's own range and choice checks (`config.validate`);
2. the model: a folder inside the roots the caller allows (the page: TUNER_MODEL_DIRS; the CLI: any folder), or a
   Hub id that is cached or can be fetched (`models.check_available`);
3. the GPUs asked for are visible (`jobs.run_launch`), and 8/4-bit loading works on the device the run trains on;
4. every name in `adapter.target_modules` is a layer of this model;
5. the training data: a file refused for its unusable rows is refused here (`data_warnings`); the rows left out
   and a language the model was not made for are warnings;
6. memory: a run that may not fit is a warning sentence, never a refusal.

Then `runs.create_run` makes the run folder (config.yaml, the data) and `jobs.manager().submit` queues it.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from .config import RunConfig, validate
from .errors import ConfigError, ModelError, TunerError

if TYPE_CHECKING:
    from .memory import Estimate
    from .runs import Run

log = logging.getLogger(__name__)


@dataclasses.dataclass
class Checked:
    """What `check_run` found for a config that may start."""

    source: str  # the resolved model: a folder or a Hub id
    device: str  # where the run trains: cuda or cpu
    data_warnings: list[str]  # the data check's sentences (the page shows them on its Data tab at upload)
    warnings: list[str]  # the other sentences every caller shows: the memory fit
    memory: Estimate | None = None  # None when it could not be made
    warnings_zh: list[str] = dataclasses.field(default_factory=list)  # `warnings` in Chinese, for the page


@dataclasses.dataclass
class StartedRun:
    """A run `start_run` made and queued."""

    run: Run
    position: int  # 0 = training now, N = N-th in the training queue
    warnings: list[str]
    data_warnings: list[str]
    warnings_zh: list[str] = dataclasses.field(default_factory=list)  # `warnings` in Chinese, for the page

    @property
    def message(self) -> str:
        return "Training started." if self.position == 0 else f"Queued: position {self.position}."


def check_run(cfg: RunConfig, *, model_roots: list[Path] | None = None, data_checked: bool = False,
              estimate_memory: bool = True) -> Checked:
    """Every check of the module docstring; raises the first problem as one sentence, writes nothing.

    `model_roots`: the folders local models may come from (None = any folder, as `models.resolve`).
    `data_checked`: the caller has already checked this training file by the same rules (the page's Data tab does
    when the file is uploaded, and the Train button refuses a file it refused), so it is not read again here."""
    from . import jobs, models

    validate(cfg)
    source = models.check_available(cfg.model.name, model_roots)
    device = "cuda" if jobs.run_launch(cfg.train)["use_gpu"] else "cpu"
    if cfg.train.quantization != "none":
        from . import quantize

        quantize.check_available(cfg.train.quantization, device)
    check_targets(cfg, source)
    found = [] if data_checked else data_warnings(cfg)
    estimate, warnings, warnings_zh = (memory_fit(cfg, source, device) if estimate_memory else (None, [], []))
    return Checked(source, device, found, warnings, estimate, warnings_zh)


def memory_fit(cfg: RunConfig, source: str, device: str) -> tuple[Estimate | None, list[str], list[str]]:
    """(the memory estimate, [its sentence] and [its Chinese] when the run may not fit); an estimate that cannot
    be made never blocks a run."""
    try:
        from . import memory

        estimate = memory.estimate(cfg, source=source, device=device)
    except Exception:
        return None, [], []
    if estimate.fits:
        return estimate, [], []
    return estimate, [estimate.sentence(cfg)], [estimate.sentence(cfg, "zh")]


def warn_later(run: Run, cfg: RunConfig, checked: Checked) -> None:
    """The memory check after the run is queued, in a thread: it loads the heavy libraries (seconds on a busy
    machine), and a run that may not fit is a warning, never a refusal, so the Train button answers without
    waiting for it. A run that may not fit gets a `warning` event the page shows beside its status."""
    import threading

    def check():
        _, warnings, warnings_zh = memory_fit(cfg, checked.source, checked.device)
        for sentence, sentence_zh in zip(warnings, warnings_zh):
            try:
                run.append_event({"type": "warning", "message": sentence, "message_zh": sentence_zh})
            except OSError:
                log.warning("could not record the memory warning of run %s", run.id)

    threading.Thread(target=check, name=f"memory-{run.id}", daemon=True).start()


def start_run(cfg: RunConfig, *, name: str = "", owner: str | None = None, source_files: dict | None = None,
              estimate: dict | None = None, model_roots: list[Path] | None = None, data_checked: bool = False,
              checked: Checked | None = None, memory_later: bool = False) -> StartedRun:
    """Check `cfg` (`check_run`, unless the caller passes what it returned), make the run folder and queue it.

    `memory_later`: the memory check runs after the run is queued (`warn_later`), so a caller answers at once.
    `owner`: who the run belongs to ('' or None = the local user); `source_files`: the names of the files the
    data came from, shown for the run (default: the data files' own names); `estimate`: the time estimate to keep
    with the run (the CLI's speed probe)."""
    from . import jobs, runs

    checked = checked or check_run(cfg, model_roots=model_roots, data_checked=data_checked,
                                   estimate_memory=not memory_later)
    run = runs.create_run(cfg, name=name, owner=owner or "")
    kept = {key: value for key, value in (("source_files", source_files), ("estimate", estimate)) if value}
    if kept:
        run.set_status(**kept)
    position = jobs.manager().submit(run)
    if memory_later:  # the page: its status line shows the queued run at once, the memory sentence soon after
        warn_later(run, cfg, checked)
    return StartedRun(run, position, list(checked.warnings), list(checked.data_warnings), list(checked.warnings_zh))


def check_targets(cfg: RunConfig, source: str) -> None:
    """Refuse a name in `adapter.target_modules` that matches no layer of the model (training would skip it); a
    crafted page call or a typo on the command line may name one."""
    if not cfg.adapter.target_modules:
        return
    from . import models

    try:
        model = models.meta_base_model(source)
    except Exception as exc:  # a model that cannot be built on the meta device: the run says why
        log.warning("could not list the layers of %s: %r", source, exc)
        return
    for name in cfg.adapter.target_modules:
        try:
            models.target_module_paths(model, [name])
        except ModelError:
            known = models.detect_target_modules(model)
            raise ConfigError(f"'adapter.target_modules' has '{name}', which this model does not have; "
                              f"choose from: {', '.join(known)}.") from None


def data_warnings(cfg: RunConfig) -> list[str]:
    """What the person should know about the training data before a run starts: the rows that will be left out
    (tuner.skipped) and the language check (tuner.language). A file that must be refused for its unusable rows is
    refused here, before a run folder is made; the data's other problems are reported by the run."""
    from . import language
    from .tasks import get_task

    out = []
    try:
        task = get_task(cfg.task)
        table = task.read(cfg.data.train_file)
        info = task.inspect(table.df, cfg)
        if info.get("skipped"):
            out += info["skipped"].warnings()
        found = language.check_table(table.df, info.get("text_columns") or [], cfg.model.name)
        out += [found["sentence"]] if found else []
    except TunerError as exc:
        if getattr(exc, "skipped", None) is not None:
            raise
    except Exception:  # the data's own problems are reported by the run, in one sentence
        pass
    return out


def train_device(cfg: RunConfig) -> str:
    """Where the run will train: cuda when its GPU choice selects any visible GPU, else cpu."""
    from . import jobs

    return "cuda" if jobs.selected_gpus(cfg.train.gpus) else "cpu"
