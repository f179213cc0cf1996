"""The documented commands keep working after the restructure: each `python -m core.X` still answers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "module", ["core.simulate", "core.replay", "core.record", "core.convert", "core.train", "core.validate"]
)
def test_documented_entry_point_answers_help(module: str):
    assert f"-m {module}" in README or (module == "core.simulate" and "core.simulate" in README)
    out = subprocess.run(
        [sys.executable, "-m", module, "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "usage:" in out.stdout and f"python -m {module}" in out.stdout
