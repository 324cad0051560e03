"""Every failure ends in one line naming the file, key or record, with its documented exit code: 1 nothing
written (bad input, a broken model directory), 3 the database refused the first batch, 5 the run failed after
committing batches (a sink or report that cannot be written, a later batch refused): rerun to finish."""
import errno

import pytest
from click.testing import CliRunner
from conftest import ROOT
from test_nightly import Setup, nightly_docs, tiny_model  # noqa: F401 (fixture)

from extractor.cli import EXIT_AFTER_COMMIT, EXIT_BAD_INPUT, main
from extractor.nightly import sinks

N_DOCS = 12  # two batches of 8 and 4: "after committing" has batches before the failure


@pytest.fixture
def setup(tmp_path, tiny_model):  # noqa: F811 (the fixture)
    s = Setup("parquet", "sqlite", tmp_path, tiny_model)
    s.settings["predict.runtime"] = "torch"  # no ONNX export: these tests are about failures, not runtimes
    s.write_source(nightly_docs(N_DOCS))
    return s


def invoke(s, *extra, **overrides):
    return CliRunner().invoke(main, s.args(*extra, **overrides), env={"EXTRACTOR_WORKDIR": str(s.workdir)})


def one_error_line(result, exit_code, *names):
    """The one ``error:`` line of ``result``, which exited ``exit_code`` and names each of ``names``."""
    assert result.exit_code == exit_code, (result.output, result.exception)
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.output
    for name in names:
        assert str(name) in errors[0], errors[0]
    return errors[0]


def blocker(tmp_path):
    """A regular file where a directory must be: no directory can be made under it, even by root."""
    path = tmp_path / "blocker"
    path.write_text("a file, not a directory", encoding="utf-8")
    return path


def test_a_sink_under_a_regular_file_exits_5_naming_the_sink_and_the_rerun_finishes(setup, tmp_path):
    sink = blocker(tmp_path) / "out" / "fields.csv"
    line = one_error_line(invoke(setup, sinks=f"[{{type: csv, path: {sink}}}]"), EXIT_AFTER_COMMIT, sink)
    assert f"{N_DOCS} documents processed" in line and "rerun to finish" in line
    assert len(setup.ledger()) == N_DOCS  # the batches stay committed
    good = tmp_path / "good.csv"
    again = setup.run(sinks=f"[{{type: csv, path: {good}}}]")
    assert (again["n_processed"], again["n_skipped"]) == (0, N_DOCS) and good.exists()


def test_a_full_disk_while_writing_sinks_exits_5_naming_them(setup, monkeypatch):
    def no_space(self, row):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(sinks._WideTableFiles, "write_row", no_space)
    line = one_error_line(invoke(setup), EXIT_AFTER_COMMIT, "fields.csv", "fields.parquet", "No space left on device")
    assert "rerun to finish" in line


def test_a_report_directory_under_a_regular_file(setup, tmp_path):
    reports = blocker(tmp_path) / "reports"
    one_error_line(invoke(setup, **{"report.directory": str(reports)}), EXIT_AFTER_COMMIT, reports, "rerun to finish")
    # `report` commits nothing: a directory it cannot write is bad configuration (1)
    result = CliRunner().invoke(main, ["report", str(ROOT / "pipelines" / "parquet.yaml"), "--set",
                                       f"report.directory={reports}",
                                       *[x for k, v in setup.settings.items() if k != "database"
                                         for x in ("--set", f"{k}={v}")]],
                                env={"EXTRACTOR_WORKDIR": str(setup.workdir)})
    one_error_line(result, EXIT_BAD_INPUT, reports)


def test_an_unforeseen_failure_after_commits_is_one_line_and_exit_5(setup, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("something nobody foresaw\nsecond line")

    monkeypatch.setattr("extractor.nightly.runner.export_sinks", broken)
    line = one_error_line(invoke(setup), EXIT_AFTER_COMMIT, "RuntimeError: something nobody foresaw")
    assert "second line" not in line

