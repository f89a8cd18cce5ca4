"""Large-data schedule: the batch that grows with the data (`train.max_batch_size`) and the time budget
(`train.max_minutes`, tuner.callbacks.TimeBudgetCallback), on a fake clock and transformers' real schedulers."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
from transformers import TrainerControl, TrainerState
from transformers.optimization import get_cosine_schedule_with_warmup, get_linear_schedule_with_warmup

from tuner import runs
from tuner.callbacks import TimeBudgetCallback
from tuner.config import RunConfig
from tuner.train import GROWN_BATCH_MIN_STEPS, grown_batch, plan_steps


def cfg_with(**train) -> RunConfig:
    return RunConfig.from_dict({"train": {"batch_size": 32, "learning_rate": 1e-3, "epochs": 4, **train}})


# ---- small data: a floor on the optimizer steps (`train.min_steps`) ------------------------------------
def test_small_data_gets_more_passes_up_to_the_step_floor():
    cfg = cfg_with(epochs=3, min_steps=120)
    assert plan_steps(cfg, 450)["steps"] == 120       # 3 passes would be 43 steps
    assert plan_steps(cfg, 5_016)["steps"] == 471     # enough steps already: the recipe's 3 passes
    assert plan_steps(cfg, 100)["steps"] == math.ceil(10 * 100 / 32)  # never more than 10 passes


def test_an_example_cap_still_wins_over_the_step_floor():
    assert plan_steps(cfg_with(epochs=3, min_steps=120, max_examples=640), 450)["steps"] == 20
    assert plan_steps(cfg_with(epochs=3), 450)["steps"] == 43  # off by default


# ---- the batch that grows with the data ---------------------------------------------------------------
def test_small_data_keeps_the_recipe_batch():
    cfg = cfg_with(max_batch_size=128, max_examples=160_000)
    for rows in (450, 5_016):  # the bundled sample, SMS spam: 57 and 627 steps at 32
        assert grown_batch(cfg, rows) is cfg


def test_big_data_grows_the_batch_and_the_rate_with_its_square_root():
    cfg = cfg_with(max_batch_size=128, max_examples=160_000)
    grown = grown_batch(cfg, 65_349)  # SST-2: 160k examples -> 1,250 steps at 128
    assert grown.train.batch_size == 128
    assert grown.train.learning_rate == pytest.approx(2e-3)
    assert plan_steps(grown, 65_349)["steps"] == 1250 >= GROWN_BATCH_MIN_STEPS
    assert cfg.train.batch_size == 32  # the caller's config is untouched


def test_growth_stops_where_fewer_steps_would_remain():
    cfg = cfg_with(max_batch_size=4096, epochs=1)
    grown = grown_batch(cfg, 100_000)  # 64 -> 1,563 steps, 128 -> 782 (< 1,000)
    assert grown.train.batch_size == 64
    assert grown.train.learning_rate == pytest.approx(1e-3 * math.sqrt(2))


def test_growth_counts_devices_and_is_off_by_default():
    assert grown_batch(cfg_with(max_examples=160_000), 65_349).train.batch_size == 32
    cfg = cfg_with(max_batch_size=128, max_examples=160_000)
    assert grown_batch(cfg, 65_349, world_size=2).train.batch_size == 64  # 2 x 64 per step -> 1,250 steps


# ---- the time budget --------------------------------------------------------------------------------------
class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class Loop:
    """The Trainer's calls into a callback, step by step, with a real optimizer and scheduler."""

    def __init__(self, minutes, planned=1000, evals=3, schedule=get_linear_schedule_with_warmup, warmup=60):
        self.clock = Clock()
        self.cb = TimeBudgetCallback(minutes, evals, clock=self.clock)
        self.opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        self.sched = schedule(self.opt, warmup, planned)
        self.args = SimpleNamespace(eval_strategy="steps" if evals else "no", save_strategy="steps")
        self.state = TrainerState(max_steps=planned, eval_steps=math.ceil(planned / (evals + 1)) if evals else planned,
                                  save_steps=math.ceil(planned / (evals + 1)) if evals else planned)
        self.control = TrainerControl()
        self.evaluations = []
        self.cb.on_train_begin(self.args, self.state, self.control)

    def step(self, seconds=1.0, eval_seconds=0.0):
        s = self.state
        self.cb.on_step_begin(self.args, s, self.control)
        self.clock.now += seconds
        self.opt.step()
        self.sched.step()
        s.global_step += 1
        # what the DefaultFlowCallback asks for before the budget's hook runs
        self.control.should_training_stop = s.global_step >= s.max_steps
        self.control.should_evaluate = self.control.should_save = s.global_step % s.eval_steps == 0
        self.cb.on_step_end(self.args, s, self.control, lr_scheduler=self.sched)
        if s.global_step % s.eval_steps == 0:
            self.evaluations.append(s.global_step)
            self.cb.on_evaluate(self.args, s, self.control)
            self.clock.now += eval_seconds

    def run(self, **kw):
        while not self.control.should_training_stop:
            self.step(**kw)
        return self.state.global_step

    def lr(self):
        return self.opt.param_groups[0]["lr"]


def test_a_slow_run_is_shortened_to_end_inside_its_budget_at_the_end_of_its_schedule():
    loop = Loop(minutes=200 / 60)  # 1,000 planned steps of 1 s each against a 200 s budget
    steps = loop.run(seconds=1.0, eval_seconds=5.0)
    assert 150 <= steps < 200 and loop.clock.now <= 200  # it fits, with the evaluations' time
    assert loop.state.max_steps == steps and not loop.cb.hit_limit
    assert loop.lr() == pytest.approx(0.0, abs=1e-9)  # the decay reached its end, not cut off part way down
    mid_run = [e for e in loop.evaluations if e < steps]
    assert len(mid_run) == 3, loop.evaluations  # the planned number of evaluations, spread over the shorter run
    assert mid_run[0] > 20 and steps - mid_run[-1] < steps / 3


def test_steps_an_early_slow_estimate_took_are_given_back():
    loop = Loop(minutes=300 / 60, evals=0)
    for _ in range(30):
        loop.step(seconds=2.0)  # the first steps build kernels for every new length
    early = loop.state.max_steps
    assert early < 200  # at 2 s per step about 140 steps fit
    steps = loop.run(seconds=0.5)
    assert steps > 400 and loop.clock.now <= 300 and not loop.cb.hit_limit
    assert loop.lr() == pytest.approx(0.0, abs=1e-9)


def test_a_plan_is_not_changed_on_the_step_that_ends_the_run():
    # 20 slow steps plan 100 in all; the faster steps after would fit more, and the next re-plan falls on step 100,
    # where the loop ends: the run's total must stay the steps it ran (CI once saw a 252-step plan end at 241).
    loop = Loop(minutes=102 / 60, evals=0)
    for _ in range(20):
        loop.step(seconds=1.0)
    assert loop.state.max_steps == 100
    steps = loop.run(seconds=0.2)
    assert steps == loop.state.max_steps == 100
    assert loop.sched.lr_lambdas[0].keywords["num_training_steps"] == 100


def test_the_warm_up_and_a_cosine_decay_shrink_in_proportion():
    loop = Loop(minutes=100 / 60, schedule=get_cosine_schedule_with_warmup, warmup=200)
    steps = loop.run(seconds=1.0)
    fn = loop.sched.lr_lambdas[0]
    assert fn.keywords["num_training_steps"] == steps
    assert fn.keywords["num_warmup_steps"] == round(200 * steps / 1000)
    assert loop.lr() == pytest.approx(0.0, abs=1e-9)


def test_a_fast_run_keeps_its_plan():
    loop = Loop(minutes=10.0)
    assert loop.run(seconds=0.1) == 1000
    assert loop.sched.lr_lambdas[0].keywords["num_training_steps"] == 1000


def test_a_run_that_slows_down_stops_at_the_budget_saved():
    loop = Loop(minutes=200 / 60, evals=0)
    for _ in range(100):
        loop.step(seconds=0.1)  # calibrates on fast steps: the whole plan (100 s) fits
    assert loop.state.max_steps == 1000
    steps = loop.run(seconds=5.0)  # then every step takes 5 s
    assert loop.cb.hit_limit and steps < 1000
    assert loop.clock.now <= 200 + 5 * TimeBudgetCallback.CHECK_EVERY
    assert loop.control.should_save and loop.state.max_steps == steps


def test_a_stop_at_the_budget_keeps_the_evaluation_due_at_that_step():
    loop = Loop(minutes=1.0)  # evaluations every 250 steps
    loop.state.global_step = 249
    loop.clock.now = 61.0
    loop.step()
    assert loop.cb.hit_limit and loop.control.should_training_stop
    assert loop.control.should_evaluate and loop.control.should_save


def test_budget_events_update_the_progress_total(tmp_path, monkeypatch, sample_csv):
    monkeypatch.setenv("TUNER_RUNS_DIR", str(tmp_path))
    run = runs.create_run(RunConfig.from_dict({"data": {"train_file": str(sample_csv)}}))
    loop = Loop(minutes=200 / 60)
    loop.cb.run = run
    loop.run(seconds=1.0)
    run.append_event({"type": "start", "total_steps": 1000})
    assert run.progress()["total_steps"] == 1000
    loop.cb.run.append_event({"type": "budget", "step": 50, "total_steps": 190, "planned_steps": 1000})
    assert run.progress()["total_steps"] == 190
    budget = [e for e in run.events() if e["type"] == "budget"]
    assert budget[0]["planned_steps"] == 1000 and budget[0]["total_steps"] < 200
