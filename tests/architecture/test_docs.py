"""The README's layout is the real tree, and every file path the docs name exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "benchmarks" / "ANALYSIS.md"]
FILE = re.compile(r"[A-Za-z_][\w]*\.pyx?\b")


def layout_block() -> str:
    section = README[README.index("## Layout (the data flow)") :]
    return section[section.index("```") + 3 : section.index("```", section.index("```") + 3)]


def listed() -> set[str]:
    """Paths the layout block names: each file under the folder heading it is indented below."""
    out: set[str] = set()
    stack: list[tuple[int, str]] = []
    for line in layout_block().splitlines():
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        first = line.split()[0]
        while stack and stack[-1][0] >= indent:
            stack.pop()
        folder = "/".join(name for _, name in stack)
        if first.endswith("/"):
            stack.append((indent, first.rstrip("/")))
            continue
        names = FILE.findall(line.split("  ")[0] if indent == 0 else line.strip().split("   ")[0])
        out.update(f"{folder}/{n}" if folder else n for n in names)
    return out


def test_the_layout_lists_every_module_and_nothing_else():
    real = {p.relative_to(ROOT).as_posix() for p in ROOT.glob("core/**/*.py*") if p.suffix in {".py", ".pyx"}}
    real |= {p.relative_to(ROOT).as_posix() for p in ROOT.glob("pages/*.py")} | {"app.py"}
    real = {p for p in real if not p.endswith("__init__.py")}
    named = listed()
    assert not real - named, f"modules missing from README's layout: {sorted(real - named)}"
    assert not named - real, f"README's layout names files that do not exist: {sorted(named - real)}"


def test_every_path_the_docs_name_exists():
    missing = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for path in re.findall(r"\b((?:core|pages|tests|benchmarks)/[\w/]+\.pyx?)\b", text):
            if not (ROOT / path).exists():
                missing.append(f"{doc.name}: {path}")
    assert not missing, missing


def test_every_dotted_name_the_docs_use_resolves():
    import importlib

    missing = []
    for doc in DOCS:
        for ref in sorted(set(re.findall(r"\bcore(?:\.[A-Za-z_]\w*)+", doc.read_text(encoding="utf-8")))):
            parts = ref.split(".")
            for i in range(len(parts), 0, -1):
                try:
                    obj: object = importlib.import_module(".".join(parts[:i]))
                except ImportError:
                    continue
                for attr in parts[i:]:
                    obj = getattr(obj, attr, None)
                if obj is None:
                    missing.append(f"{doc.name}: {ref}")
                break
    assert not missing, missing
