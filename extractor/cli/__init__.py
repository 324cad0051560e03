"""The ``extractor`` command line: the ``main`` group; each command group lives in its own module
(``data``, ``model``, ``nightly``, ``industry``, ``bench``, ``db``) as thin wrappers over functions that return data.

Exit codes: 0 success; 1 bad input, configuration or model directory (the
message says which file and what is wrong); 2 bad command-line usage; 3 a
database cannot be reached or used; 4 an accuracy report shows a field F1 drop
beyond the pipeline's threshold (everything was still written); 5 a run failed
after committing batches (a sink or report that cannot be written...): rerun to finish.
"""
from __future__ import annotations

import logging
import sys
from typing import Optional

import click

from extractor import __version__
from extractor.cli import bench, data, db, industry, model, nightly
from extractor.cli._common import EXIT_AFTER_COMMIT, EXIT_BAD_INPUT, EXIT_DATABASE, EXIT_REGRESSION

__all__ = ["main", "EXIT_AFTER_COMMIT", "EXIT_BAD_INPUT", "EXIT_DATABASE", "EXIT_REGRESSION"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="extractor")
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
@click.option("--threads", type=click.IntRange(min=1), envvar="EXTRACTOR_THREADS",
              help="Compute threads: torch's thread count, which the onnx runtimes' ONNX Runtime sessions take "
                   "too; also read from the EXTRACTOR_THREADS environment variable (default: torch's choice, "
                   "usually one per core).")
def main(verbose: bool, threads: Optional[int]) -> None:
    """Extract education, industry and major from résumé-like documents with GlobalPointer."""
    if threads:
        import torch

        torch.set_num_threads(threads)
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # Alembic announces every plugin and migration context at INFO: only worth seeing with -v.
    logging.getLogger("alembic").setLevel(logging.DEBUG if verbose else logging.WARNING)


for _module in (data, model, nightly, industry, bench, db):
    for _command in _module.COMMANDS:
        main.add_command(_command)


if __name__ == "__main__":  # pragma: no cover
    main()
