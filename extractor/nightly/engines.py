"""Which engine runs a pipeline: ``local`` (this process, ``runner.Runner``) or ``ray`` (a Ray cluster,
``ray_engine.RayRunner``). Both check records, keep the ledger, commit, write sinks and reports with the
same code and predict with the same ``batch.FieldPredictor``; Ray is an optional extra, imported only
when asked for."""
from __future__ import annotations

from typing import Optional

ENGINES = ("local", "ray")


class EngineError(RuntimeError):
    """An engine cannot run (Ray not installed, cluster unreachable, the distributed job failed).
    ``exit_code`` is what the command line exits with: 1, or 3 when the cluster cannot be reached."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code


def run(cfg, engine: str = "local", full_refresh: bool = False, limit: Optional[int] = None,
        progress: bool = False, address: Optional[str] = None):
    """Run pipeline ``cfg`` on ``engine``; returns the ``RunSummary``."""
    if engine == "local":
        from extractor.nightly.runner import run_pipeline

        return run_pipeline(cfg, full_refresh=full_refresh, limit=limit, progress=progress)
    if engine == "ray":
        from extractor.nightly.ray_engine import run_pipeline_ray

        return run_pipeline_ray(cfg, full_refresh=full_refresh, limit=limit, progress=progress, address=address)
    raise ValueError(f"unknown engine {engine!r}; expected one of {', '.join(ENGINES)}")
