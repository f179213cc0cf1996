"""The project's documentation, served inside the app so every tooltip can link to its definition: first the
user's guide (what each number means, where it comes from, its limits), then the technical documents."""

from __future__ import annotations

import re
from pathlib import Path

from core.paths import ROOT

DOCS: dict[str, tuple[str, Path]] = {
    "guide": ("Guide: what each number means", ROOT / "docs" / "GUIDE.md"),
    "methodology": ("Methodology: every number defined", ROOT / "docs" / "METHODOLOGY.md"),
    "models": ("Models: data, labels, held-out results", ROOT / "docs" / "MODELS.md"),
    "performance": ("Performance", ROOT / "docs" / "PERFORMANCE.md"),
    "reliability": ("Reliability and security", ROOT / "docs" / "RELIABILITY.md"),
    "provenance": ("Data provenance and licenses", ROOT / "data" / "PROVENANCE.md"),
}
DEFAULT_DOC = "guide"  # the Docs page opens on the user's guide; the technical documents follow
_LINK = re.compile(
    r"\]\((?:\.\./)?(?:docs/|data/)?(GUIDE|METHODOLOGY|MODELS|PERFORMANCE|RELIABILITY|PROVENANCE)\.md(#[^)]*)?\)"
)


def doc_link(name: str = "methodology", label: str = "Methodology") -> str:
    """A markdown link to a document page of the app, for tooltips."""
    return f"[{label}](/docs?doc={name})"


def load_doc(name: str) -> tuple[str, str]:
    """(title, markdown) of a known document, with links between documents pointed at the app's page."""
    key = name.lower() if name and name.lower() in DOCS else DEFAULT_DOC
    title, path = DOCS[key]
    text = path.read_text(encoding="utf-8") if path.exists() else f"{path.name} has not been generated yet."
    return title, _LINK.sub(lambda m: f"](/docs?doc={m.group(1).lower()})", text)
