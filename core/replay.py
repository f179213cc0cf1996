"""`python -m core.replay`: serve a recording over a loopback WebSocket (the documented entry point; the code lives in `core.feed.replay`)."""

from core.feed.replay import main

if __name__ == "__main__":
    raise SystemExit(main())
