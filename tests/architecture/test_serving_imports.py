"""Serving never imports TensorFlow or Keras, and a serving host needs neither.

The import-rule test (``test_layers.py``) reads the source; this one runs it: a fresh interpreter imports
the composition root, every serving module of ``core`` and every ``core`` module the pages import, loads the
shipped models and prices one order on a bundled book through the CLI, then reports what ``sys.modules``
holds. ``requirements-serve.txt`` (what a host that only serves installs) must pin exactly what
``requirements.txt`` pins, minus the training stack.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TRAINING_ONLY = {"tensorflow", "tensorflow-cpu", "keras", "arch"}  # arch: the bootstrap of train/validate

PROBE = r"""
import ast, contextlib, importlib, io, json, sys, tempfile
from pathlib import Path

root = Path.cwd()
import core.runtime  # the composition root the pages talk to

def module_name(path):
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)

serving = sorted(
    m for m in map(module_name, root.glob("core/**/*.py"))
    if m != "core.train" and not m.startswith("core.training")
)
for m in serving:
    importlib.import_module(m)

page_imports = set()
for page in sorted(root.glob("pages/*.py")):
    for node in ast.walk(ast.parse(page.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            page_imports.update(a.name for a in node.names if a.name.split(".")[0] == "core")
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "core":
            page_imports.add(node.module)
for m in sorted(page_imports):
    importlib.import_module(m)

from core.learned.models import load_models
loaded = load_models()

from core.feed.recording import iter_lines
from core.feed.replay import default_recording
from core.simulate import main

rec = default_recording()
book = next(iter(iter_lines(rec.path)))
head = json.loads(book)
with tempfile.TemporaryDirectory() as tmp:
    snap = Path(tmp) / "book.json"
    snap.write_text(book if isinstance(book, str) else book.decode(), encoding="utf-8")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = main([
            "--snapshot", str(snap), "--exchange", head["exchange"], "--symbol", head["symbol"],
            "--side", "buy", "--usd", "250000", "--latency-ms", "100", "--json",
        ])

print(json.dumps({
    "serving": serving,
    "page_imports": sorted(page_imports),
    "models": sorted(loaded.nets),
    "rc": rc,
    "priced": json.loads(out.getvalue()),
    "loaded": sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "arch", "statsmodels")),
}))
"""


def test_serving_imports_no_tensorflow_or_keras():
    r = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout.strip().splitlines()[-1])
    assert len(report["serving"]) > 40 and "core.learned.models" in report["serving"]
    assert "core.runtime" in report["page_imports"]
    assert report["models"], "no shipped model was loaded"
    assert report["rc"] == 0 and report["priced"]["net_cost_usd"] > 0
    assert "model" in json.dumps(report["priced"]["methods"]), "the order was not priced with a learned model"
    if "slippage_quantiles" in report["models"]:
        assert report["priced"]["slippage_p90_usd"] is not None
    assert report["loaded"] == [], f"serving imported {report['loaded'][:5]}"


def pins(name: str) -> dict[str, str]:
    """package -> the rest of its requirement line (version and marker), comments and ``-r`` lines left out."""
    out = {}
    for line in (ROOT / name).read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-r"):
            m = re.fullmatch(r"([A-Za-z0-9_.\-\[\]]+)(==.*)", line)
            assert m, f"{name}: not pinned exactly: {line}"
            out[m.group(1).lower()] = m.group(2).replace(" ", "")
    return out


def test_serve_requirements_are_the_full_pins_minus_the_training_stack():
    full, serve = pins("requirements.txt"), pins("requirements-serve.txt")
    assert TRAINING_ONLY & full.keys(), "requirements.txt keeps the training stack"
    assert not TRAINING_ONLY & serve.keys()
    assert serve == {k: v for k, v in full.items() if k not in TRAINING_ONLY}
