"""The error tree is closed: core raises only ``SimulatorError`` subclasses for bad input, pages catch only those.

A page that catches ``ValueError`` or ``OSError`` hides which errors core really raises; a core function that
raises a bare ``ValueError`` for a user's input leaks a Python exception to a page. Builtin exceptions that
mark a broken invariant of the code itself (never input) are listed here, each with its reason.
"""

from __future__ import annotations

import ast
from pathlib import Path

import core.errors

ROOT = Path(__file__).resolve().parents[2]
BUILTIN = {"ValueError", "TypeError", "KeyError", "RuntimeError", "Exception", "IndexError", "AttributeError"}
ERRORS = {name for name, obj in vars(core.errors).items() if isinstance(obj, type) and issubclass(obj, Exception)}

#: builtin raises that mark the code's own invariants, never a visitor's input: (file, exception) -> reason
INTERNAL = {
    ("core/compiled.py", "KeyError"): "a module name the code itself passes; not input",
    ("core/feed/client.py", "ValueError"): "an oversized REST body, caught by the bootstrap and counted by type",
    ("core/learned/nets.py", "ValueError"): "a model file the project ships with an unknown layer: a build error",
    ("core/learned/models.py", "ValueError"): "a model file the project ships with an unknown kind: a build error",
    ("core/learned/online.py", "ValueError"): "a negative step from the project's own card: a build error",
}


def _names(node: ast.expr | None) -> list[str]:
    if node is None:
        return ["<bare except>"]
    if isinstance(node, ast.Tuple):
        return [n for e in node.elts for n in _names(e)]
    if isinstance(node, ast.Name):
        return [node.id]
    if isinstance(node, ast.Attribute):
        return [node.attr]
    return ["<expression>"]


def test_pages_catch_only_the_simulators_errors():
    wrong = []
    for path in sorted((ROOT / "pages").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ExceptHandler):
                for name in _names(node.type):
                    if (
                        name not in ERRORS and name != "ImportError"
                    ):  # a Streamlit-internal probe; a module the warm-up lacks
                        wrong.append(f"{path.name}:{node.lineno} catches {name}")
    assert not wrong, wrong


def test_core_raises_no_builtin_exception_for_input():
    wrong = []
    for path in sorted((ROOT / "core").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith("core/training/") or rel == "core/train.py":
            continue  # developer tooling: raises to a terminal, never to a page
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
                name = _names(node.exc.func)[0]
                if name in BUILTIN and (rel, name) not in INTERNAL:
                    wrong.append(f"{rel}:{node.lineno} raises {name}")
    assert not wrong, wrong


def test_every_error_is_a_simulator_error_and_input_errors_stay_value_errors():
    for name in ERRORS - {"SimulatorError"}:
        assert issubclass(getattr(core.errors, name), core.errors.SimulatorError), name
    assert issubclass(core.errors.OrderError, core.errors.InputError)
    assert issubclass(core.errors.InputError, ValueError)  # callers validating numbers the Python way still work
