"""The learning-rate schedule and the time budget of a training run, as small pure pieces."""
from __future__ import annotations

import logging
from typing import Optional

log = logging.getLogger("extractor.model.train")  # its records are the training run's, and keep that logger's name


def lr_factor(step: int, warmup_steps: int, total_steps: int) -> float:
    """The learning rate's multiplier at ``step``: linear warmup, then linear decay to 0 at ``total_steps``."""
    return min((step + 1) / warmup_steps, max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps)))


class TimeBudget:
    """``--max-minutes``: no epoch starts that would end past the budget, and the learning rate decays
    to zero by the last epoch that fits rather than by an epoch never reached.

    Paces are the latest epoch's (with its evaluation): the pace of a shared machine drifts, and a
    slow first epoch should not shrink the whole plan.
    """

    def __init__(self, max_minutes: Optional[float], epochs: int):
        self.max_minutes = max_minutes
        self.planned_epochs = epochs  # the epoch by which the learning rate reaches zero
        self.epochs = epochs

    def another_epoch_fits(self, elapsed_minutes: float, epoch_minutes: float) -> bool:
        return self.max_minutes is None or elapsed_minutes + epoch_minutes <= self.max_minutes

    def epochs_that_fit(self, epoch: int, elapsed_minutes: float, epoch_minutes: float) -> int:
        """After ``epoch``: how many epochs in all the run can have, at ``epoch_minutes`` each."""
        if self.max_minutes is None:
            return self.epochs
        return min(self.epochs, epoch + max(1, int((self.max_minutes - elapsed_minutes) / epoch_minutes)))

    def continue_after(self, epoch: int, elapsed_minutes: float, epoch_minutes: float) -> bool:
        """Whether to start another epoch; if so, re-plan ``planned_epochs`` to what fits."""
        if not self.another_epoch_fits(elapsed_minutes, epoch_minutes):
            log.info("stopping after epoch %d: another would exceed the %.1f-minute budget", epoch, self.max_minutes)
            return False
        self.planned_epochs = self.epochs_that_fit(epoch, elapsed_minutes, epoch_minutes)
        return True
