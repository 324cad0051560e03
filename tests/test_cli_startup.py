"""The command line starts without the heavy libraries: ``extractor --help`` and a usage error answer at once
(3.5 s when the CLI's choices came from torch-importing modules; docs/benchmarks.md, Quick start)."""
import subprocess
import sys

from conftest import ROOT

HEAVY = ("torch", "pandas", "numpy", "onnxruntime", "transformers", "ray", "sqlalchemy")


def loaded_after(statement: str) -> list[str]:
    code = f"import sys\n{statement}\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return result.stdout.split()


def test_the_command_line_loads_no_heavy_library_until_a_command_runs():
    assert loaded_after("import extractor.cli") == []


def test_help_of_a_command_with_model_choices_loads_none_either():
    # `train --help` shows the head types and tag schemes; `bench speed --help` the runtimes and paths.
    statement = ("from click.testing import CliRunner\nfrom extractor.cli import main\n"
                 "for args in (['train', '--help'], ['bench', 'speed', '--help'], ['predict', '--help']):\n"
                 "    assert CliRunner().invoke(main, args).exit_code == 0, args")
    assert loaded_after(statement) == []
