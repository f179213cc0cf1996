"""`python -m core.validate`: score the app's cost estimates against real taker orders (the code lives in `core.validation`)."""

from core.validation.command import main

if __name__ == "__main__":
    raise SystemExit(main())
