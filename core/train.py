"""`python -m core.train`: retrain the shipped models and docs/MODELS.md (the documented entry point; the code lives in `core.training.train`)."""

from core.training.train import main

if __name__ == "__main__":
    raise SystemExit(main())
