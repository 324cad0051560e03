"""Writing outputs safely: cells a spreadsheet would run as formulas, Markdown that would render document
text as markup, temporary files that must never follow a link someone placed beside the target, and
write failures that name the file."""
from __future__ import annotations

import html
import os
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

# OWASP's CSV injection rule: a cell starting with one of these is a formula to a spreadsheet.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_MARKDOWN_SPECIALS = re.compile(r"([\\`*_{}\[\]()#+\-.!|~])")


def csv_cell(value: Any) -> Any:
    """``value`` as a CSV cell no spreadsheet evaluates: a formula-like string gets a leading ``'``."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def markdown_text(value: Any) -> str:
    """Document text as literal Markdown: HTML escaped, Markdown punctuation backslash-escaped, one line."""
    text = " ".join(str(value).splitlines())
    return _MARKDOWN_SPECIALS.sub(r"\\\1", html.escape(text, quote=False))


def markdown_code(value: Any) -> str:
    """A code span holding ``value`` literally, whatever backticks it holds: the fence is longer than its
    longest run of backticks (CommonMark), padded with a space where the value starts or ends with one."""
    text = " ".join(str(value).splitlines())
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def exclusive_temporary(final: Path, tag: str) -> tuple[int, Path]:
    """A new file beside ``final`` (``.NAME.TAG``), open for writing: created exclusively, so a link or a
    file already at that name is never written through. Returns the descriptor and the path."""
    tmp = final.with_name(f".{final.name}.{tag}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
    return fd, tmp


def remove_stale_temporaries(final: Path) -> None:
    """Remove the temporaries an earlier, killed run left beside ``final`` (links are removed, not followed)."""
    if final.parent.is_dir():
        for stale in final.parent.glob(f".{glob_escape(final.name)}.tmp*"):
            if stale.is_symlink() or stale.is_file():
                stale.unlink(missing_ok=True)


def glob_escape(name: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", name)


class OutputError(Exception):
    """A sink or report file that could not be written (a parent that is a file, no permission, a full disk):
    names the path, since the OS error alone often does not (a full disk reports no file name)."""

    def __init__(self, path: str | Path, cause: OSError):
        self.path, self.cause = str(path), cause
        reason = cause.strerror or str(cause) or type(cause).__name__
        if cause.filename and str(cause.filename) != self.path:
            reason += f" ({cause.filename})"
        super().__init__(f"cannot write {self.path}: {reason}")


@contextmanager
def writing(path: str | Path) -> Iterator[None]:
    """Turn an ``OSError`` raised while writing ``path`` into an ``OutputError`` naming it."""
    try:
        yield
    except OSError as exc:
        raise OutputError(path, exc) from exc
