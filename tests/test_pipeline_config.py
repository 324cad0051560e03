"""Pipeline settings are checked like the top level: unknown keys under report, sinks entries and ray, and
values of the wrong type (from the file or from --set), end in one line and exit 1, never a traceback."""
import pytest
from click.testing import CliRunner
from conftest import ROOT

from extractor.cli import main


@pytest.mark.parametrize("setting, message", [
    ("report.directry=x", "report has unknown keys ['directry']"),
    ("ray.adress=auto", "ray has unknown keys ['adress']"),
    ("report.max_f1_drop=[1]", "report.max_f1_drop must be a number"),
    ("report.examples=many", "report.examples must be a whole number"),
    ("report.min_docs=1.5", "report.min_docs must be a whole number"),
    ("report=[1]", "report must be a mapping"),
    ("docs_per_commit=abc", "docs_per_commit must be a positive integer"),
    ("max_chars=[1]", "max_chars must be a positive integer"),
    ("sinks=[{type: csv, path: x.csv, sep: ';'}]", "sinks[0] has unknown keys ['sep']"),
    ("sinks=x.csv", "sinks must be a list"),
    ("predict.threshold=[1", "--set predict.threshold: not a valid value"),
])
def test_bad_settings_end_in_one_line_with_exit_1(tmp_path, setting, message):
    result = CliRunner().invoke(main, ["run", str(ROOT / "pipelines" / "nightly.yaml"), "--set", setting],
                                env={"EXTRACTOR_WORKDIR": str(tmp_path)})
    assert result.exit_code == 1, (result.output, result.exception)
    assert message in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
