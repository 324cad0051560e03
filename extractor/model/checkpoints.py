"""What a training run keeps: an exponential moving average of the weights (evaluated and saved instead
of any single step's), and the checkpoint left in the output directory (the best dev epoch's, or the last)."""
from __future__ import annotations

import copy
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import torch

from extractor.model.directory import LoadedModel, save_model

if TYPE_CHECKING:
    from extractor.model.train_config import TrainConfig

log = logging.getLogger(__name__)


class WeightEMA:
    """Exponential moving average of the weights, bias-corrected like Adam's moments.

    avg_t = sum_k (1 - d) d^{t-k} w_k / (1 - d^t): from the first step it is an average of
    trained weights, never a blend with the random initialisation, so short runs benefit too.
    """

    def __init__(self, model: torch.nn.Module, decay: float):
        self.module = copy.deepcopy(model)
        self.decay, self.steps = decay, 0
        self.sums = [torch.zeros_like(p) for p in model.parameters()]

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        self.steps += 1
        torch._foreach_mul_(self.sums, self.decay)
        torch._foreach_add_(self.sums, [p.detach() for p in model.parameters()], alpha=1 - self.decay)

    @torch.no_grad()
    def materialize(self) -> torch.nn.Module:
        """Write the averaged weights into ``self.module`` (before evaluating or saving it)."""
        correction = 1 - self.decay ** max(1, self.steps)
        for avg, total in zip(self.module.parameters(), self.sums):
            avg.copy_(total / correction)
        return self.module


class CheckpointKeeper:
    """Chooses the weights left in ``out_dir``: the best dev epoch's (saved as it happens) or the last
    epoch's (``cfg.checkpoint``), and says when ``cfg.patience`` epochs have passed without improvement."""

    def __init__(self, cfg: "TrainConfig", out_dir: str | Path, scored: LoadedModel):
        self.cfg, self.out_dir, self.scored = cfg, out_dir, scored
        self.best_score, self.best_epoch, self.best_dev, self.stale = float("-inf"), 0, None, 0

    def record(self, epoch: int, dev: Optional[dict], history: list[dict], train_seconds: float) -> bool:
        """Note an epoch's result (the last row of ``history``); returns whether it is the best so far."""
        row = history[-1]
        score = dev["micro"]["f1"] if dev else -row["loss"]  # without dev documents, the training loss
        improved = score > self.best_score
        log.info("epoch %d loss %.4f dev micro-F1 %s (%.1fs)%s", epoch, row["loss"],
                 f"{dev['micro']['f1']*100:.2f}" if dev else "-", train_seconds, "  *best*" if improved else "")
        if not improved:
            self.stale += 1
            return False
        self.best_score, self.best_epoch, self.best_dev, self.stale = score, epoch, dev, 0
        if self.cfg.checkpoint == "best":
            metrics = {"config": self.cfg.record(), "best_epoch": epoch, "dev": dev, "history": history}
            save_model(self.out_dir, self.scored, metrics)
        return True

    def patience_exhausted(self) -> bool:
        patience = self.cfg.early_stop_patience()
        if patience is not None and self.stale >= patience:
            log.info("early stop: no dev improvement for %d epochs", self.stale)
            return True
        return False

    def finish(self, epoch: int, dev: Optional[dict]) -> None:
        if self.cfg.checkpoint == "last":  # the final epoch's weights, whatever dev said
            self.best_epoch, self.best_dev = epoch, dev
            save_model(self.out_dir, self.scored)


# Below this dev micro-F1 a model is not usable: it finds almost nothing.
USABLE_DEV_F1 = 0.5


def budget_cut_short(metrics: dict) -> Optional[str]:
    """Why the time budget left an unusable model (stopped by it after fewer than 2 epochs, or with a best
    dev micro-F1 under ``USABLE_DEV_F1``), or None."""
    if metrics.get("stopped_by") != "time budget":
        return None
    epochs, dev = len(metrics["history"]), metrics.get("dev")
    if dev is not None and dev["micro"]["f1"] < USABLE_DEV_F1:
        return (f"the --max-minutes budget stopped training after {epochs} epoch(s) with a best dev micro-F1 of "
                f"{dev['micro']['f1']:.3f}: this model is not usable; give it more minutes or train by --epochs")
    if epochs < 2:
        return (f"the --max-minutes budget stopped training after {epochs} epoch: the model is barely trained; "
                "give it more minutes or train by --epochs")
    return None


def write_training_metrics(out_dir: str | Path, metrics: dict) -> dict:
    """metrics.json with the whole history (the weights stay those of the chosen epoch), and a loud warning
    in the log and in the metrics when the time budget cut training short of a usable model."""
    warning = budget_cut_short(metrics)
    if warning:
        log.warning("WARNING: %s", warning)
        metrics["warning"] = warning
    (Path(out_dir) / "metrics.json").write_text(json.dumps(metrics, indent=2, ensure_ascii=False), encoding="utf-8")
    return metrics
