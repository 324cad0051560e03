"""The learning-rate schedule and the time budget, checked apart from any training."""
from __future__ import annotations

import pytest
import torch

from extractor.model.schedule import TimeBudget, lr_factor
from extractor.model.train import TrainConfig, parameter_groups, takes_weight_decay


def closure_schedule(total: int, warmup: int):
    """The schedule as train() wrote it inline before it became ``lr_factor``."""
    plan = {"total": total}

    def schedule(step: int) -> float:
        return min((step + 1) / warmup, max(0.0, (plan["total"] - step) / max(1, plan["total"] - warmup)))

    return schedule, plan


def test_warmup_rises_linearly_to_one():
    assert lr_factor(0, warmup_steps=10, total_steps=100) == pytest.approx(0.1)
    assert lr_factor(4, warmup_steps=10, total_steps=100) == pytest.approx(0.5)
    assert lr_factor(9, warmup_steps=10, total_steps=100) == 1.0  # the warmup's last step


def test_decay_falls_linearly_to_zero_at_the_end():
    assert lr_factor(10, warmup_steps=10, total_steps=100) == 1.0
    assert lr_factor(55, warmup_steps=10, total_steps=100) == pytest.approx(0.5)  # halfway through the decay
    assert lr_factor(100, warmup_steps=10, total_steps=100) == 0.0
    assert lr_factor(130, warmup_steps=10, total_steps=100) == 0.0  # never negative past the end


def test_a_single_step_plan_does_not_divide_by_zero():
    assert lr_factor(0, warmup_steps=1, total_steps=1) == 1.0
    assert lr_factor(1, warmup_steps=1, total_steps=1) == 0.0


@pytest.mark.parametrize("total,warmup", [(100, 6), (30, 1), (7, 7), (1, 1), (450, 27)])
def test_equal_to_the_old_closure(total, warmup):
    schedule, _ = closure_schedule(total, warmup)
    for step in range(total + 20):
        assert lr_factor(step, warmup, total) == schedule(step)


def test_equal_to_the_old_closure_when_the_total_is_replanned():
    schedule, plan = closure_schedule(300, 18)
    for step in range(400):
        if step == 100:
            plan["total"] = 160  # the budget allows fewer epochs than planned
        assert lr_factor(step, 18, plan["total"]) == schedule(step)


def test_no_budget_always_continues_and_keeps_the_plan():
    budget = TimeBudget(None, epochs=30)
    assert budget.continue_after(1, elapsed_minutes=1e6, epoch_minutes=1e6)
    assert budget.planned_epochs == 30


def test_an_epoch_that_would_end_past_the_budget_is_not_started():
    budget = TimeBudget(10.0, epochs=30)
    assert budget.another_epoch_fits(elapsed_minutes=6.0, epoch_minutes=4.0)  # ends exactly at the budget
    assert not budget.another_epoch_fits(elapsed_minutes=6.0, epoch_minutes=4.5)
    assert not budget.continue_after(3, elapsed_minutes=6.0, epoch_minutes=4.5)
    assert budget.planned_epochs == 30  # nothing re-planned on stopping


def test_the_decay_is_replanned_to_the_last_epoch_that_fits():
    budget = TimeBudget(10.0, epochs=30)
    assert budget.continue_after(1, elapsed_minutes=2.0, epoch_minutes=2.0)
    assert budget.planned_epochs == 5  # 8 minutes left: 4 more epochs of 2
    # The latest epoch's pace counts, not the mean: a faster second epoch widens the plan.
    assert budget.continue_after(2, elapsed_minutes=3.0, epoch_minutes=1.0)
    assert budget.planned_epochs == 9
    # A slower one narrows it; at least one more epoch is planned while one fits.
    assert budget.continue_after(3, elapsed_minutes=6.0, epoch_minutes=3.9)
    assert budget.planned_epochs == 4


def test_the_plan_never_exceeds_the_configured_epochs():
    budget = TimeBudget(600.0, epochs=3)
    assert budget.continue_after(1, elapsed_minutes=1.0, epoch_minutes=1.0)
    assert budget.planned_epochs == 3


def old_budget_decision(max_minutes, epochs, steps_per_epoch, epoch, elapsed, pace, total):
    """train()'s inline budget code before ``TimeBudget``: (continue?, planned total steps)."""
    if elapsed + pace > max_minutes:
        return False, total
    fits = epoch + max(1, int((max_minutes - elapsed) / pace))
    return True, steps_per_epoch * min(epochs, fits)


def test_decisions_equal_the_old_inline_code_over_a_grid_of_paces():
    for epochs in (1, 5, 30):
        for epoch in range(1, epochs + 1):
            for elapsed in (0.1, 1.0, 2.5, 7.0, 9.9):
                for pace in (0.05, 0.3, 1.0, 2.4, 5.0):
                    budget = TimeBudget(10.0, epochs)
                    goes_on = budget.continue_after(epoch, elapsed, pace)
                    assert (goes_on, 7 * budget.planned_epochs) == old_budget_decision(
                        10.0, epochs, 7, epoch, elapsed, pace, 7 * epochs)


class TwoPart(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = torch.nn.Module()
        self.encoder.proj, self.encoder.norm = torch.nn.Linear(3, 3), torch.nn.LayerNorm(3)
        self.head = torch.nn.Linear(3, 2)


def test_parameter_groups_split_learning_rates_and_decay():
    model = TwoPart()
    groups = parameter_groups(model, encoder_lr=1e-3, head_lr=5e-3, weight_decay=0.01)
    assert [(g["lr"], g["weight_decay"], len(g["params"])) for g in groups] == [
        (1e-3, 0.01, 1), (1e-3, 0.0, 3), (5e-3, 0.01, 1), (5e-3, 0.0, 1)]
    assert groups[0]["params"][0] is model.encoder.proj.weight
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
    assert not takes_weight_decay("encoder.layer.0.LayerNorm.weight")
    assert not takes_weight_decay("encoder.norm1.weight")
    assert takes_weight_decay("head.dense.weight")


def test_budget_cut_short_names_an_unusable_model_and_nothing_else():
    from extractor.model.checkpoints import budget_cut_short

    def metrics(stopped_by, epochs, f1):
        return {"stopped_by": stopped_by, "history": [{}] * epochs,
                "dev": None if f1 is None else {"micro": {"f1": f1}}}

    assert "0.120" in budget_cut_short(metrics("time budget", 3, 0.12))
    assert "after 1 epoch" in budget_cut_short(metrics("time budget", 1, None))
    assert budget_cut_short(metrics("time budget", 3, 0.9)) is None
    assert budget_cut_short(metrics("patience", 1, 0.1)) is None  # not the budget's doing
    assert budget_cut_short(metrics("epochs", 1, 0.1)) is None


@pytest.mark.parametrize("patience, max_minutes, used", [
    (None, None, 6),  # no budget: stop after 6 epochs without improvement
    (None, 19.0, None),  # a budget: it stops the run, and the last low-rate epochs get their chance
    (4, 19.0, 4),  # asked for: kept
    (4, None, 4),
])
def test_patience_defaults_to_none_under_a_time_budget(patience, max_minutes, used):
    cfg = TrainConfig(patience=patience, max_minutes=max_minutes)
    assert cfg.early_stop_patience() == used and cfg.record()["patience"] == used


def test_without_patience_no_run_stops_early(tmp_path):
    from extractor.model.checkpoints import CheckpointKeeper

    keeper = CheckpointKeeper(TrainConfig(max_minutes=19.0, checkpoint="last"), tmp_path, None)
    history = []
    for epoch, f1 in enumerate([0.9] + [0.1] * 12, start=1):
        history.append({"loss": 1.0})
        keeper.record(epoch, {"micro": {"f1": f1}}, history, 1.0)
        assert not keeper.patience_exhausted()
    bounded = CheckpointKeeper(TrainConfig(checkpoint="last"), tmp_path, None)
    for epoch, f1 in enumerate([0.9] + [0.1] * 6, start=1):
        bounded.record(epoch, {"micro": {"f1": f1}}, history, 1.0)
    assert bounded.patience_exhausted()
