"""Writing outputs safely: cells a spreadsheet would run as formulas, Markdown that would render document
text as markup, and temporary files that must never follow a link someone placed beside the target."""
from __future__ import annotations

import html
import os
import re
from pathlib import Path
from typing import Any

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
