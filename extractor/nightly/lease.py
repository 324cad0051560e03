"""One run of a pipeline at a time: a lease, one row per pipeline name in ``extractor_leases``.

A run takes the lease before it writes its run row, heartbeats it while it runs (a background thread,
and every batch commit in the batch's own transaction, so a run that lost its lease commits nothing more)
and releases it at the end, failed or not. A second run waits up to ``wait_seconds`` and then gives up
with ``LeaseHeld`` (exit code 6). A lease whose holder stopped heartbeating for ``stale_seconds``, or
whose holder is a process of this host that no longer exists (a run killed with SIGKILL), is taken over;
only then are the old holder's 'running' rows marked interrupted (``runner.PipelineRun``).

Taking is a compare-and-swap in one transaction: INSERT where there is no row, or UPDATE ... WHERE
owner = <the stale holder seen>, so of two runs that both saw the same stale lease exactly one wins.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Optional

from sqlalchemy import Connection, and_, delete, insert, select, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine

from extractor.nightly import database as db
from extractor.nightly.engines import EngineError

log = logging.getLogger(__name__)

EXIT_LEASE_HELD = 6


@dataclass(frozen=True)
class LeaseConfig:
    """A pipeline's ``lease:`` section."""

    wait_seconds: float = 0.0  # how long a second run waits for the lease before exiting 6
    stale_seconds: float = 300.0  # a holder silent this long is taken to be dead


@dataclass(frozen=True)
class LeaseToken:
    """What a batch commit renews: this run's hold on its pipeline's lease."""

    pipeline: str
    owner: str


class LeaseHeld(EngineError):
    """Another live run of the pipeline holds the lease (exit code 6)."""

    def __init__(self, message: str):
        super().__init__(message, exit_code=EXIT_LEASE_HELD)


class LeaseLost(RuntimeError):
    """This run's lease was taken over (it was silent for too long): it must write nothing more."""


def parse_lease(raw: Any, where: str) -> LeaseConfig:
    """The ``lease:`` section of a pipeline file (``{wait_seconds: 0, stale_seconds: 300}``)."""
    from extractor.nightly.config import PipelineError

    if raw is None:
        return LeaseConfig()
    if not isinstance(raw, dict) or set(raw) - {"wait_seconds", "stale_seconds"}:
        raise PipelineError(f"{where}: lease must be a mapping with wait_seconds and stale_seconds, got {raw!r}")
    values = {}
    for key, value in raw.items():
        try:
            values[key] = float(value)
        except (TypeError, ValueError):
            values[key] = -1.0
        if values[key] < 0 or (key == "stale_seconds" and values[key] == 0):
            raise PipelineError(f"{where}: lease.{key} must be a {'positive' if key == 'stale_seconds' else 'non-negative'}"
                                f" number of seconds, got {value!r}")
    return LeaseConfig(**values)


def new_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def holder_process_gone(owner: str) -> bool:
    """Whether ``owner`` (host:pid:uuid) is a process of this host that no longer exists."""
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, someone else's
        return False
    return False


def _utc(value: datetime) -> datetime:
    # SQLite gives back naive datetimes; they were written in UTC.
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


class PipelineLease:
    """The lease of one pipeline, as one run holds it: ``acquire``, then ``release`` (also on failure)."""

    def __init__(self, engine: Engine, pipeline: str, config: LeaseConfig = LeaseConfig()):
        self.engine, self.pipeline, self.config = engine, pipeline, config
        self.token = LeaseToken(pipeline, new_owner())
        self.taken_over: Optional[dict] = None  # the stale holder this run took the lease from, if any
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def acquire(self) -> None:
        """Take the lease, waiting up to ``wait_seconds``; raises ``LeaseHeld`` naming the holder."""
        deadline = time.monotonic() + self.config.wait_seconds
        while True:
            holder = self._try_take()
            if holder is None:
                break
            if time.monotonic() >= deadline:
                age = (datetime.now(timezone.utc) - _utc(holder["heartbeat_at"])).total_seconds()
                raise LeaseHeld(f"another run of pipeline {self.pipeline!r} holds the lease: {holder['owner']} "
                                f"(run {holder['run_id']}, last heartbeat {age:.0f}s ago); waited "
                                f"{self.config.wait_seconds:g}s (lease.wait_seconds)")
            time.sleep(min(1.0, max(0.05, deadline - time.monotonic())))
        self._start_heartbeat()

    def _try_take(self) -> Optional[dict]:
        """Take the lease if free or stale: None, or the live holder's row."""
        leases, now = db.leases, datetime.now(timezone.utc)
        mine = {"owner": self.token.owner, "run_id": None, "acquired_at": now, "heartbeat_at": now}
        try:
            with self.engine.begin() as conn:
                row = conn.execute(select(leases).where(leases.c.pipeline == self.pipeline)).mappings().first()
                if row is None:
                    conn.execute(insert(leases).values(pipeline=self.pipeline, **mine))
                    return None
                holder = dict(row)
                silent = now - _utc(holder["heartbeat_at"]) > timedelta(seconds=self.config.stale_seconds)
                if not (silent or holder_process_gone(holder["owner"])):
                    return holder
                # Compare-and-swap on the holder seen: of two runs taking over the same stale lease, one wins.
                won = conn.execute(update(leases).where(and_(leases.c.pipeline == self.pipeline,
                                                             leases.c.owner == holder["owner"]))
                                   .values(**mine)).rowcount == 1
        except sa_exc.IntegrityError:  # another run inserted the row first
            return self._holder() or {"owner": "?", "run_id": None, "heartbeat_at": now}
        if not won:
            return self._holder() or {"owner": "?", "run_id": None, "heartbeat_at": now}
        self.taken_over = holder
        log.warning("pipeline %s: took over the lease of %s (run %s, last heartbeat %s): it stopped heartbeating",
                    self.pipeline, holder["owner"], holder["run_id"], holder["heartbeat_at"])
        return None

    def _holder(self) -> Optional[dict]:
        with self.engine.connect() as conn:
            row = conn.execute(select(db.leases).where(db.leases.c.pipeline == self.pipeline)).mappings().first()
        return dict(row) if row else None

    def set_run(self, conn: Connection, run_id: int) -> None:
        """Name the run holding the lease (in the transaction that writes its run row)."""
        renew(conn, self.token, run_id)

    def heartbeat(self) -> None:
        with self.engine.begin() as conn:
            renew(conn, self.token)

    def _start_heartbeat(self) -> None:
        interval = max(0.05, self.config.stale_seconds / 5)

        def beat() -> None:
            while not self._stop.wait(interval):
                try:
                    self.heartbeat()
                except LeaseLost as exc:
                    log.error("%s", exc)
                    return
                except Exception as exc:  # a database hiccup: the next beat or batch commit tries again
                    log.warning("lease heartbeat of %s failed: %s", self.pipeline, exc)

        self._thread = threading.Thread(target=beat, name=f"lease-{self.pipeline}", daemon=True)
        self._thread.start()

    def release(self) -> None:
        """Give the lease back (only if still ours); never raises, as it runs while a failure propagates."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        try:
            with self.engine.begin() as conn:
                conn.execute(delete(db.leases).where(and_(db.leases.c.pipeline == self.pipeline,
                                                          db.leases.c.owner == self.token.owner)))
        except Exception as exc:  # the lease then goes stale and the next run takes it over
            log.error("could not release the lease of %s: %s", self.pipeline, exc)


def renew(conn: Connection, token: LeaseToken, run_id: Optional[int] = None) -> None:
    """Refresh the heartbeat in ``conn``'s transaction; raises ``LeaseLost`` when the lease is no longer ours,
    so the batch committing with it rolls back."""
    values: dict[str, Any] = {"heartbeat_at": datetime.now(timezone.utc)}
    if run_id is not None:
        values["run_id"] = run_id
    leases = db.leases
    n = conn.execute(update(leases).where(and_(leases.c.pipeline == token.pipeline, leases.c.owner == token.owner))
                     .values(**values)).rowcount
    if n != 1:
        raise LeaseLost(f"pipeline {token.pipeline!r}: this run ({token.owner}) lost its lease to another run "
                        "(it was silent longer than lease.stale_seconds); stopping without committing more")
