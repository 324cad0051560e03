"""The package stays readable: one folder per reason to change, no module over 400 lines, no function over 60.

Data modules (word lists) are exempt from the module limit: their length is data, not logic.
"""
import ast

from extractor.paths import REPO_ROOT

PACKAGE = REPO_ROOT / "extractor"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
DATA_MODULES = {"extractor/data/sample/wordlists.py"}
FOLDERS = {"model", "rules", "data", "nightly", "bench", "cli"}


def modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        yield path.relative_to(REPO_ROOT).as_posix(), path.read_text(encoding="utf-8")


def test_every_module_lives_in_a_folder_named_for_its_reason_to_change():
    flat = {p.name for p in PACKAGE.glob("*.py")} - {"__init__.py", "paths.py"}
    assert not flat, f"modules outside the folders: {sorted(flat)}"
    assert FOLDERS <= {p.name for p in PACKAGE.iterdir() if p.is_dir()}


def test_no_module_over_400_lines():
    long = {name: len(text.splitlines()) for name, text in modules()
            if name not in DATA_MODULES and len(text.splitlines()) > MAX_MODULE_LINES}
    assert not long, long


def test_no_function_over_60_lines():
    long = {}
    for name, text in modules():
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long[f"{name}:{node.lineno} {node.name}"] = lines
    assert not long, long


def test_the_repository_root_is_computed_in_one_place():
    others = [name for name, text in modules() if "__file__" in text and name != "extractor/paths.py"]
    assert not others, others
