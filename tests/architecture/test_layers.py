"""The layer rules of ``core/`` and ``pages/``, checked on every import statement (also inside functions).

Data flows feed -> book store -> costs -> pages; arrows point to what a layer may import:

    base      core.errors, core.paths, core.compiled,          (nothing else in core)
              core.checks
    market    core.market.*                                    base
    feed      core.feed.*                                      base, market
    costs     core.costs.*                                     base, market
    learned   core.learned.*                                   base, market, costs
    pricing   core.pricing.*                                   base, market, costs, learned
    views     core.views.*                                     base, market, costs, learned, pricing,
                                                               feed value types (never core.feed.client),
                                                               runtime (the methods pages would call)
    runtime   core.runtime                                     every serving layer (the composition root)
    entry     core.simulate, core.replay, core.record,         every serving layer
              core.convert, core.ingest,
              core.cluster
    training  core.training.*, core.train                      anything in core
    validation core.validation.*, core.validate               every serving layer (base, market, feed,
                                                               costs, learned, pricing), validation
    pages     pages.*                                          core.runtime, core.views.*, core.errors, pages

Nothing in serving (every layer but training and validation) imports the training package, TensorFlow or
Keras, nor the validation package, and nothing in ``core`` imports Streamlit.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

BASE = {"core.errors", "core.paths", "core.compiled", "core.checks"}
SERVING = ("base", "market", "feed", "costs", "learned", "pricing")
ALLOWED: dict[str, tuple[str, ...]] = {
    "base": ("base",),
    "market": ("base", "market"),
    "feed": ("base", "market", "feed"),
    "costs": ("base", "market", "costs"),
    "learned": ("base", "market", "costs", "learned"),
    "pricing": ("base", "market", "costs", "learned", "pricing"),
    "views": ("base", "market", "costs", "learned", "pricing", "feed", "runtime", "views"),
    "runtime": (*SERVING, "runtime"),
    "entry": (*SERVING, "runtime", "views", "entry"),
    "training": (*SERVING, "runtime", "views", "entry", "training", "validation"),
    "validation": (*SERVING, "validation"),
    "pages": ("runtime", "views", "pages", "errors"),
}
ENTRY = {"core.simulate", "core.replay", "core.record", "core.convert", "core.ingest", "core.cluster"}
FORBIDDEN_IN_VIEWS = {"core.feed.client"}


def layer(module: str) -> str | None:
    if module in BASE or module == "core":
        return "base"
    if module.split(".")[0] == "pages":
        return "pages"
    if module in ENTRY:
        return "entry"
    if module == "core.train" or module.startswith("core.training"):
        return "training"
    if module == "core.validate" or module.startswith("core.validation"):
        return "validation"
    if module == "core.runtime":
        return "runtime"
    parts = module.split(".")
    if parts[0] == "core" and len(parts) > 1 and parts[1] in ALLOWED:
        return parts[1]
    return None


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path) -> list[str]:
    """Every module ``path`` imports, absolute, including ``from pkg import module`` forms."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append(node.module)
            out.extend(f"{node.module}.{a.name}" for a in node.names)
    return out


def sources() -> list[Path]:
    return sorted([*ROOT.glob("core/**/*.py"), *ROOT.glob("pages/*.py")])


def resolve(name: str) -> str | None:
    """The project module ``name`` refers to (a name imported from a module resolves to that module)."""
    parts = name.split(".")
    while parts:
        dotted = ".".join(parts)
        p = ROOT.joinpath(*parts)
        if p.with_suffix(".py").exists() or (p / "__init__.py").exists():
            return dotted
        parts.pop()
    return None


def violations() -> set[tuple[str, str]]:
    bad: set[tuple[str, str]] = set()
    for path in sources():
        me = module_name(path)
        mine = layer(me)
        assert mine is not None, f"{me} belongs to no layer: add it to the table in this test's docstring"
        for name in imports(path):
            top = name.split(".")[0]
            if top in {"tensorflow", "keras"} and mine != "training":
                bad.add((me, name))
            if top == "streamlit" and mine != "pages":
                bad.add((me, name))
            if top not in {"core", "pages"}:
                continue
            target = resolve(name)
            if target is None or target in {"core", "pages"}:
                continue
            theirs = layer(target)
            ok = theirs in ALLOWED[mine] or (mine == "pages" and target == "core.errors")
            if mine == "views" and target in FORBIDDEN_IN_VIEWS:
                ok = False
            if not ok:
                bad.add((me, target))
    return bad


def test_every_import_follows_the_layer_rules():
    found = violations()
    new = sorted(found)
    assert not new, "imports against the layer rules (see this module's docstring):\n" + "\n".join(
        f"  {a} -> {b}" for a, b in new
    )


@pytest.mark.parametrize(
    "package", ["market", "feed", "costs", "learned", "pricing", "views", "training", "validation"]
)
def test_each_package_says_what_it_owns_and_may_import(package: str):
    doc = ast.get_docstring(ast.parse((ROOT / "core" / package / "__init__.py").read_text()))
    assert doc and "import" in doc.lower() and len(doc) > 120, f"core/{package}/__init__.py needs its docstring"


def test_pages_use_the_runtime_methods_not_its_parts():
    # the import rule cannot see attribute access: rt.feed.store... would reach the feed's internals
    wrong = []
    for path in sorted((ROOT / "pages").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr in {"feed", "tracker", "store", "_feed", "_tracker"}:
                wrong.append(f"{path.name}:{node.lineno} .{node.attr}")
    assert not wrong, wrong
