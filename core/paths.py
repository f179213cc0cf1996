"""Where the project's files live, resolved once from this file so no module counts `.parent`s."""

from __future__ import annotations

from pathlib import Path

#: the repository root (holds app.py, data/, models/, docs/)
ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "data"
#: raw upstream captures the shared source set lacks, kept so `python -m core.convert --src` rebuilds every recording
UPSTREAM_DIR = DATA_DIR / "upstream"
MODELS_DIR = ROOT / "models"
DOCS_DIR = ROOT / "docs"
#: the calibrated market-impact constants and their provenance (written by python -m core.validation.impact)
IMPACT_FILE = DATA_DIR / "impact.json"
#: the previous training set's held-out figures, shown beside the served set's (python -m core.training.comparison)
COMPARISON_FILE = MODELS_DIR / "comparison" / "previous_training_set.json"
#: the online calibration's steps, chosen on the training days (python -m core.training.online)
ONLINE_FILE = MODELS_DIR / "online.json"
