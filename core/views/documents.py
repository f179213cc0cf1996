"""The project's documentation, served inside the app so every tooltip can link to its definition."""

from __future__ import annotations

import re
from pathlib import Path

from core.paths import ROOT

DOCS: dict[str, tuple[str, Path]] = {
    "methodology": ("Methodology: every number defined", ROOT / "docs" / "METHODOLOGY.md"),
    "models": ("Models: data, labels, held-out results", ROOT / "docs" / "MODELS.md"),
    "performance": ("Performance", ROOT / "docs" / "PERFORMANCE.md"),
    "reliability": ("Reliability and security", ROOT / "docs" / "RELIABILITY.md"),
    "provenance": ("Data provenance and licenses", ROOT / "data" / "PROVENANCE.md"),
}
_LINK = re.compile(
    r"\]\((?:\.\./)?(?:docs/|data/)?(METHODOLOGY|MODELS|PERFORMANCE|RELIABILITY|PROVENANCE)\.md(#[^)]*)?\)"
)


def doc_link(name: str = "methodology", label: str = "Methodology") -> str:
    """A markdown link to a document page of the app, for tooltips."""
    return f"[{label}](/docs?doc={name})"


def load_doc(name: str) -> tuple[str, str]:
    """(title, markdown) of a known document, with links between documents pointed at the app's page."""
    key = name.lower() if name and name.lower() in DOCS else "methodology"
    title, path = DOCS[key]
    text = path.read_text(encoding="utf-8") if path.exists() else f"{path.name} has not been generated yet."
    return title, _LINK.sub(lambda m: f"](/docs?doc={m.group(1).lower()})", text)
