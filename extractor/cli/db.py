"""``extractor db``: the runner's database tables (Alembic migrations in migrations/)."""
from __future__ import annotations

from typing import Optional

import click

from extractor.cli._common import echo_json, friendly_errors

URL = click.option("--url", required=True, envvar="EXTRACTOR_DB_URL",
                   help="SQLAlchemy URL, e.g. sqlite:///demo/extracted.db or postgresql+psycopg://user@host/db "
                        "(default: EXTRACTOR_DB_URL).")


def migrate(url: str, revision: str, direction: str) -> dict:
    """Upgrade or downgrade the database at ``url`` to ``revision``; returns where it is now."""
    from extractor.nightly import database as db

    (db.upgrade if direction == "up" else db.downgrade)(url, revision)
    return {"url": db.safe_url(url), "revision": db.current(url)}


def revisions(url: str) -> dict[str, Optional[str]]:
    """The revision the database at ``url`` is at (None: no runner tables yet) and the newest one."""
    from extractor.nightly import database as db

    return {"url": db.safe_url(url), "revision": db.current(url), "head": db.head()}


@click.group("db")
def db_group() -> None:
    """Manage the runner's database tables (Alembic migrations in migrations/)."""


@db_group.command("upgrade")
@URL
@click.option("--revision", default="head", show_default=True, help="Target revision.")
@friendly_errors
def db_upgrade(url: str, revision: str) -> None:
    """Apply migrations up to REVISION (runs also do this on first use)."""
    echo_json(migrate(url, revision, "up"))


@db_group.command("downgrade")
@URL
@click.option("--revision", required=True, help="Target revision; 'base' drops the runner's tables.")
@friendly_errors
def db_downgrade(url: str, revision: str) -> None:
    """Revert migrations down to REVISION."""
    echo_json(migrate(url, revision, "down"))


@db_group.command("current")
@URL
@friendly_errors
def db_current(url: str) -> None:
    """Print the revision the database is at (null: no runner tables yet) and the newest one."""
    echo_json(revisions(url))


COMMANDS = (db_group,)
