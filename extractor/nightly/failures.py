"""A run that failed after some of its batches were committed: what failed, and what is already in the
database (so the command line can say "rerun to finish" rather than "nothing written")."""
from __future__ import annotations


class RunFailedAfterCommit(Exception):
    """``cause`` ended run ``run_id`` after batches were committed: their documents are in the database and
    the rerun goes on from them (it skips what they hold)."""

    def __init__(self, cause: Exception, run_id: int, n_processed: int, n_skipped: int, n_quarantined: int):
        self.cause, self.run_id = cause, run_id
        self.n_processed, self.n_skipped, self.n_quarantined = n_processed, n_skipped, n_quarantined
        super().__init__(f"run {run_id} failed after committing {self.committed()}: "
                         f"{type(cause).__name__}: {cause}")

    def committed(self) -> str:
        """What the committed batches hold, in words."""
        counts = f"{self.n_processed} document{'s' * (self.n_processed != 1)} processed"
        if self.n_skipped:
            counts += f", {self.n_skipped} unchanged skipped"
        if self.n_quarantined:
            counts += f", {self.n_quarantined} quarantined"
        return counts
