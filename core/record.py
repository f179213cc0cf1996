"""`python -m core.record`: record any source to the replay format (the documented entry point; the code lives in `core.feed.recorder`)."""

from core.feed.recorder import main

if __name__ == "__main__":
    raise SystemExit(main())
