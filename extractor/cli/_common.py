"""What every command module shares: friendly errors and exit codes, progress, shared options."""
from __future__ import annotations

import functools
import json
import logging
import sys
from pathlib import Path
from typing import Any, Callable, Iterable, NoReturn, Optional

import click

from extractor.data.documents import DocumentError
from extractor.model.options import DEFAULT_BATCH_TOKENS, RUNTIMES, PredictOptions
from extractor.rules.schema import SchemaError

EXIT_BAD_INPUT, EXIT_DATABASE, EXIT_REGRESSION = 1, 3, 4
EXIT_AFTER_COMMIT = 5  # failed after committing batches: what they hold stays, a rerun finishes the rest

log = logging.getLogger(__name__)


def friendly_errors(fn: Callable) -> Callable:
    """Known failures become one clear line and a documented exit code, not a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            known = known_failure(exc)
            if known is None:
                raise
            fail(*known)

    return wrapper


def known_failure(exc: BaseException) -> Optional[tuple[str, int]]:
    """The one line and exit code for ``exc``, or None for a failure nobody foresaw (a traceback then)."""
    from sqlalchemy.exc import OperationalError

    from extractor.nightly.database import DatabaseError
    from extractor.nightly.engines import EngineError
    from extractor.nightly.failures import RunFailedAfterCommit
    from extractor.nightly.safe_files import OutputError

    if isinstance(exc, RunFailedAfterCommit):
        return after_commit(exc)
    if isinstance(exc, (DocumentError, SchemaError, FileNotFoundError, ValueError, OutputError)):
        return str(exc), EXIT_BAD_INPUT
    if isinstance(exc, DatabaseError):
        return str(exc), EXIT_DATABASE
    if isinstance(exc, OperationalError):  # the database went away mid-run; committed batches are kept
        return f"database failure: {str(exc.orig or exc).strip().splitlines()[0]}", EXIT_DATABASE
    if isinstance(exc, EngineError):  # Ray missing (1), the cluster unreachable (3), the distributed job failed (1)
        return str(exc), exc.exit_code
    return None


def after_commit(exc: Any) -> tuple[str, int]:
    """A run that failed after committing batches (a ``RunFailedAfterCommit``): its cause's line, what was
    committed, and exit 5, or 3 where the database or cluster was lost (3 already says batches are kept)."""
    from extractor.nightly.ledger import BatchCommitError

    known = known_failure(exc.cause)
    if known is None:  # unforeseen: still one line, with the traceback in the debug log (-v)
        log.debug("run %d failed", exc.run_id, exc_info=exc.cause)
        text = str(exc.cause).strip()
        known = (f"{type(exc.cause).__name__}: {text.splitlines()[0] if text else ''}", EXIT_AFTER_COMMIT)
    message, code = known
    return (f"{message} (run {exc.run_id} failed after committing batches: {exc.committed()}; rerun to finish)",
            # A batch the database refused is no lost database: the data, not the connection, is at fault.
            EXIT_DATABASE if code == EXIT_DATABASE and not isinstance(exc.cause, BatchCommitError)
            else EXIT_AFTER_COMMIT)


def fail(message: str, exit_code: int) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(exit_code)


def exit_on_regression(regressions: list) -> None:
    """Name every field whose F1 dropped beyond the threshold and exit 4 (everything was still written)."""
    if regressions:
        for r in regressions:
            click.echo(f"error: {r['field']} F1 dropped from {r['previous_f1']:.4f} to {r['f1']:.4f}", err=True)
        sys.exit(EXIT_REGRESSION)


def progress() -> bool:
    """Progress bars only where someone watches: a terminal on stderr."""
    return sys.stderr.isatty()


def with_progress(iterable: Iterable, desc: str) -> Iterable:
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, unit="doc", disable=not progress())


def echo_json(data: dict, ensure_ascii: bool = True) -> None:
    """One line of JSON on stdout: what every command prints last, for scripts to read."""
    click.echo(json.dumps(data, ensure_ascii=ensure_ascii))


def parse_key_values(pairs: tuple[str, ...], option: str) -> dict:
    """``KEY=VALUE`` pairs of a repeatable option; values that read as JSON (numbers, booleans) are parsed."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ValueError(f"{option} needs KEY=VALUE, got {pair!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def predict_options(batch_size: int, batch_tokens: Optional[int], runtime: str = "torch",
                    max_span_len: Optional[int] = None, threads: Optional[int] = None,
                    streams: Optional[int] = None) -> PredictOptions:
    """The ``PredictOptions`` of the prediction flags (--batch-size, --batch-tokens, ...)."""
    return PredictOptions(windows_per_batch=batch_size, tokens_per_batch=batch_tokens or DEFAULT_BATCH_TOKENS,
                          runtime=runtime, max_span_len=max_span_len, threads=threads, streams=streams)


def existing_file(**kwargs: Any) -> click.Path:
    return click.Path(exists=True, dir_okay=False, path_type=Path, **kwargs)


MODEL_DIR = click.option("--model", "model_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
                         required=True, help="Model directory (written by `extractor train`).")
RUNTIME = click.option("--runtime", type=click.Choice(RUNTIMES), default="torch", show_default=True,
                       help="What runs the network (the onnx runtimes need `extractor export`).")
BATCH_SIZE = click.option("--batch-size", type=click.IntRange(min=1), default=PredictOptions.windows_per_batch,
                          show_default=True, help="Windows per forward pass, at most.")
BATCH_TOKENS = click.option("--batch-tokens", type=click.IntRange(min=1),
                            help="Padded tokens per forward pass, at most (a longer window goes alone; "
                                 f"default: extractor.model.predict.DEFAULT_BATCH_TOKENS, {DEFAULT_BATCH_TOKENS}).")
MAX_SPAN_LEN = click.option("--max-span-len", type=click.IntRange(min=1),
                            help="Longest span (tokens) to keep (default: the model's own setting).")


def seed_option(default: int) -> Callable:
    return click.option("--seed", type=int, default=default, show_default=True, help="Random seed.")


ENCODER_OPTIONS = click.option("--encoder-option", "encoder_options", multiple=True, metavar="KEY=VALUE",
                               help="Encoder hyper-parameter, e.g. hidden_size=256 (repeatable).")
PIPELINE_SET = click.option(
    "--set", "settings", multiple=True, metavar="KEY=VALUE",
    help="Override a pipeline setting, e.g. --set database=sqlite:///x.db or --set predict.runtime=onnx (repeatable).")


RULES_SCHEMA = click.option(
    "--schema", "schema_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Rules to build the fields by instead of the model's own schema (it must use the model's labels).")
INDUSTRY = click.option(
    "--industry", metavar="DIR|none",
    help="The industry resolver (a directory from `extractor industry fit`: company table and name "
         "classifier) for fields that take their industry from the employer; `none`: the GB/T 4754 "
         "keyword rules only. Default: what the schema names.")


def prediction_options(command: Callable) -> Callable:
    """The options of every command that predicts and builds fields: batching, span length, runtime,
    rules and industry resolver (in the order --help lists them)."""
    for option in reversed((BATCH_SIZE, BATCH_TOKENS, MAX_SPAN_LEN, RUNTIME, RULES_SCHEMA, INDUSTRY)):
        command = option(command)
    return command
