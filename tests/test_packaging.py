"""The Makefile installs again when the requested extras change (a stamp per set of extras)."""
import os
import shutil
import subprocess

import pytest
from conftest import ROOT


def make_plan(venv, extras) -> str:
    """What ``make install`` would run (``make -n``), for a virtual environment at ``venv``."""
    return subprocess.run(["make", "-n", "-C", str(ROOT), "install", f"VENV={venv}", f"EXTRAS={extras}"],
                          capture_output=True, text=True, check=True).stdout


@pytest.mark.skipif(not shutil.which("make"), reason="no make")
def test_a_change_of_extras_installs_again(tmp_path):
    venv = tmp_path / "venv"
    plan = make_plan(venv, "test,onnx")
    assert "pip install --quiet -e '.[test,onnx]'" in plan
    stamp = venv / ".installed-test-onnx"
    stamp.parent.mkdir()
    stamp.touch()
    os.utime(stamp, (os.path.getmtime(ROOT / "setup.py") + 10,) * 2)  # installed after setup.py changed
    assert "pip install" not in make_plan(venv, "test,onnx")
    assert "pip install --quiet -e '.[test,onnx,ray]'" in make_plan(venv, "test,onnx,ray")
