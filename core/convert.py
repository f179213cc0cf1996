"""`python -m core.convert`: rebuild the bundled recordings from raw captures (the documented entry point; the code lives in `core.feed.conversion`)."""

from core.feed.conversion import main

if __name__ == "__main__":
    raise SystemExit(main())
