"""The nightly runner's database: runs, the processed-documents ledger, field values, quarantine.

Tables are declared here once (SQLAlchemy Core) and created only by the Alembic
migrations in ``migrations/``; ``ensure_schema`` applies them on first use.
"""
from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Optional

from sqlalchemy import (
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
)
from sqlalchemy import (
    exc as sa_exc,
)
from sqlalchemy.engine import Engine

from extractor.paths import MIGRATIONS_DIR

log = logging.getLogger(__name__)



class DatabaseError(RuntimeError):
    """A database cannot be reached or used (bad URL, server down, permission)."""


metadata = MetaData()

runs = Table(
    "extractor_runs", metadata,
    Column("run_id", Integer, primary_key=True, autoincrement=True),
    Column("pipeline", String(200), nullable=False),
    Column("model_version", String(64), nullable=False),
    Column("rules_version", String(64), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True)),
    # running -> succeeded | failed; a run found still 'running' by the next one was killed: 'interrupted'.
    Column("status", String(20), nullable=False),
    Column("full_refresh", Integer, nullable=False, default=0),
    Column("n_read", Integer, nullable=False, default=0),
    Column("n_processed", Integer, nullable=False, default=0),
    Column("n_skipped", Integer, nullable=False, default=0),
    Column("n_quarantined", Integer, nullable=False, default=0),
    Column("n_windows", Integer, nullable=False, default=0),
    Column("message", Text),
    Column("runtime", String(32)),  # what ran the network: torch, onnx-int8, ... (migration 0004)
    Column("engine", String(16)),  # local | ray (migration 0004)
    # 1 while the run owes an accuracy report (it collects one and has not written it yet): a killed or
    # failed run's documents go into the next run's report (migration 0005). NULL: owes none.
    Column("report_pending", Integer),
)

# One row per document ever processed: what was processed, with which model and rules.
processed_documents = Table(
    "extractor_processed_documents", metadata,
    Column("doc_id", String(255), primary_key=True),
    Column("content_hash", String(64), nullable=False),
    Column("model_version", String(64), nullable=False),
    Column("rules_version", String(64), nullable=False),
    Column("run_id", Integer, ForeignKey("extractor_runs.run_id"), nullable=False),
    # The last run that read this doc_id: a second sighting in the same run is a duplicate.
    Column("seen_run_id", Integer, nullable=False),
    Column("updated_at", String(64)),
)

field_values = Table(
    "extractor_field_values", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("doc_id", String(255), nullable=False),
    Column("field", String(64), nullable=False),
    Column("ordinal", Integer, nullable=False),  # 0 for single-value fields; 0..n-1 for select: all
    Column("value", Text, nullable=False),
    Column("code", String(16)),
    Column("raw", Text, nullable=False),
    Column("start", Integer, nullable=False),
    Column("end", Integer, nullable=False),
    Column("score", Float),
    Column("rule", String(200), nullable=False),
    Column("confidence", Float),  # the rule's own confidence, where it has one (migration 0002)
    Column("model_version", String(64), nullable=False),
    Column("rules_version", String(64), nullable=False),
    Column("run_id", Integer, ForeignKey("extractor_runs.run_id"), nullable=False),
    UniqueConstraint("doc_id", "field", "model_version", "ordinal", name="uq_field_values_key"),
    Index("ix_field_values_model_doc", "model_version", "doc_id"),
)

quarantine = Table(
    "extractor_quarantine", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("extractor_runs.run_id"), nullable=False),
    Column("doc_id", String(255)),
    Column("position", Integer, nullable=False),  # record number in the source, from 0
    Column("reason", String(32), nullable=False),
    Column("detail", Text, nullable=False),
    Column("text_preview", Text),
    Column("quarantined_at", DateTime(timezone=True), nullable=False),
    Index("ix_quarantine_run", "run_id"),
)


# One row per pipeline whose run holds the lease (extractor/nightly/lease.py; migration 0003).
leases = Table(
    "extractor_leases", metadata,
    Column("pipeline", String(200), primary_key=True),
    Column("owner", String(300), nullable=False),  # host:pid:uuid of the holding process
    Column("run_id", Integer),  # the holder's run, once its row is written
    Column("acquired_at", DateTime(timezone=True), nullable=False),
    Column("heartbeat_at", DateTime(timezone=True), nullable=False),
)


def make_engine(url: str) -> Engine:
    """An engine for ``url``; raises DatabaseError with the URL (password hidden) when unusable."""
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except sa_exc.ArgumentError as exc:
        raise DatabaseError(f"not a database URL: {url!r} ({exc})") from None
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    try:
        engine = create_engine(url, pool_pre_ping=True)
    except (ImportError, sa_exc.NoSuchModuleError) as exc:
        raise DatabaseError(f"{safe_url(url)}: no driver for this database ({exc}); "
                            "for PostgreSQL install psycopg (pip install 'psycopg[binary]')") from None
    if parsed.get_backend_name() == "sqlite":
        from sqlalchemy import event

        @event.listens_for(engine, "connect")
        def _sqlite_wal(dbapi_conn, _record) -> None:
            # WAL: the source cursor that streams all night does not block the batch commits, even when
            # source and results share one SQLite file; writers wait for each other instead of failing.
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA busy_timeout=30000")
            _switch_to_wal(cur)
            cur.close()
    return engine


def _switch_to_wal(cursor: Any, wait_seconds: float = 30.0) -> None:
    """``PRAGMA journal_mode=WAL``, retried while the file is locked: on a new file another process's
    switch can answer SQLITE_BUSY at once, without the busy timeout (two runs starting on a new
    database together failed "database is locked")."""
    import sqlite3

    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except sa_exc.ArgumentError:
        return url


def check_connection(engine: Engine) -> None:
    try:
        with engine.connect():
            pass
    except sa_exc.SQLAlchemyError as exc:
        raise DatabaseError(f"{safe_url(str(engine.url.render_as_string(hide_password=False)))}: "
                            f"cannot connect: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def alembic_config(url: str):
    from alembic.config import Config

    if not (MIGRATIONS_DIR / "env.py").exists():
        raise DatabaseError(f"{MIGRATIONS_DIR}: migrations not found; install the package from its repository "
                            "(pip install -e .), which keeps migrations/ beside extractor/")
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Alembic's config is an INI file: '%' must be doubled.
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    from alembic import command

    _alembic(command.upgrade, url, revision)


def downgrade(url: str, revision: str) -> None:
    from alembic import command

    _alembic(command.downgrade, url, revision)


def current(url: str) -> Optional[str]:
    """The revision the database is at, or None for a database without the runner's tables."""
    from alembic.runtime.migration import MigrationContext

    engine = make_engine(url)
    check_connection(engine)
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def ensure_schema(engine: Engine) -> None:
    """Apply pending migrations (first use of a database, or after an upgrade of the package). Two runs
    starting on a new database at once must not both migrate it: the check and the upgrade hold a lock."""
    url = engine.url.render_as_string(hide_password=False)
    check_connection(engine)
    if _revision(engine) == head():
        return
    with migration_lock(engine):
        at = _revision(engine)  # again: the run that held the lock before may have migrated it
        if at != head():
            log.info("database %s at revision %s: upgrading to %s", safe_url(url), at, head())
            upgrade(url)


def _revision(engine: Engine) -> Optional[str]:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


# pg_advisory_lock's key for "migrating this database" (any constant shared by every extractor process).
MIGRATION_LOCK_KEY = 0x6578747261637472  # "extractr"


@contextmanager
def migration_lock(engine: Engine) -> Iterator[None]:
    """Held while migrating: an exclusive fcntl lock on ``<database>.migrate.lock`` beside a SQLite file, a
    session-level ``pg_advisory_lock`` on PostgreSQL; nothing elsewhere (an in-memory database)."""
    backend, database = engine.url.get_backend_name(), engine.url.database
    if backend == "sqlite" and database and database != ":memory:":
        import fcntl

        with open(f"{database}.migrate.lock", "a") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock_file, fcntl.LOCK_UN)
    elif backend == "postgresql":
        from sqlalchemy import text

        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
                conn.commit()
    else:
        yield


def _alembic(fn, url: str, revision: str) -> None:
    check_connection(make_engine(url))
    try:
        fn(alembic_config(url), revision)
    except sa_exc.OperationalError as exc:
        raise DatabaseError(f"{safe_url(url)}: {_first_line(exc)}") from None
