"""Server start: do the first page view's slow work while the first visitor's browser loads Streamlit's front end.

From process start the server answers in about 1.1 s; the browser then loads about 60 JavaScript and CSS files
and asks for the first run about 1 s later, while the server mostly waits. The first run used to spend about
0.5 s of that on work no visitor's input changes: importing the default page's modules, building the runtime
(feed, store, models) and Streamlit's emoji check of the favicon. ``warm_up`` does it on a thread started by the
app's start-up hook (``app.py``: ``st.App(lifespan=...)``), so the first run finds it done (issue 15, startup).
Nothing here is needed for correctness: a step that fails happens again, with its message, in the page.
"""

from __future__ import annotations

import ast
import importlib
import logging
import sys
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from core.errors import SimulatorError

ROOT = Path(__file__).resolve().parents[1]
#: the page a first visit opens (``app.py`` routes to it by default); its imports are warmed up
DEFAULT_PAGE = "pages/simulator.py"
#: the interpreter's thread switch interval while the warm-up runs: short, so the server's event loop, which
#: wants the interpreter back after every socket call, waits at most this long for it (Python's default: 5 ms)
WARM_UP_SWITCH_INTERVAL_S = 0.0005

#: the warm-up thread's name, also what ``_quiet_no_session`` recognises
WARM_UP_THREAD = "tcs-warm-up"

_log = logging.getLogger(__name__)


def _quiet_no_session(record: logging.LogRecord) -> bool:
    """Streamlit warns "missing ScriptRunContext" when a cached function runs outside a page view, which the
    warm-up's ``get_runtime`` does on purpose; other threads' warnings pass."""
    return record.threadName != WARM_UP_THREAD


def page_imports(page: str = DEFAULT_PAGE) -> list[str]:
    """The modules a page script imports at its top: ``import x`` gives ``x``; ``from x import y`` gives ``x``, and
    ``x.y`` when ``y`` is a submodule (``from core.views import simulator``). Read from the page's source, so the
    warm-up follows the page when its imports change."""
    tree = ast.parse((ROOT / page).read_text(encoding="utf-8"))
    names: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.append(node.module)
            names += [sub for a in node.names if _is_module(sub := f"{node.module}.{a.name}")]
    return names


def _is_module(name: str) -> bool:
    """A module or package of this project, found on disk (``find_spec`` would import its parent)."""
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def warm_up(favicon: str) -> None:
    """The default page's imports, the runtime (through the pages' one cached ``get_runtime``, so the first run
    takes this one) and the favicon's emoji check, each logged and skipped if it fails."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(WARM_UP_SWITCH_INTERVAL_S)
    try:
        for name in page_imports():
            _step(f"import {name}", lambda name=name: importlib.import_module(name))
        _step("the runtime", _build_runtime)
        _step("the favicon check", lambda: _emoji_check(favicon))
    finally:
        sys.setswitchinterval(interval)


def _step(what: str, do) -> None:
    """A bad setting (``SimulatorError``) or a missing module is logged; the first page view meets it again and
    shows its plain message. Anything else is a bug and ends the warm-up with its traceback in the server's log."""
    try:
        do()
    except (SimulatorError, ImportError) as e:
        _log.warning("warm-up: %s failed (%s); the first page view will do it again", what, e)


def _build_runtime() -> None:
    from pages.common import get_runtime

    logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context").addFilter(_quiet_no_session)
    get_runtime()


def _emoji_check(favicon: str) -> None:
    """``st.set_page_config`` asks whether the favicon is an emoji; the first answer of a process imports
    Streamlit's emoji catalogue (about 0.07 s)."""
    from streamlit.string_util import is_emoji

    is_emoji(favicon)


def route_through_navigation() -> None:
    """``app.py`` always routes with ``st.navigation``. Streamlit decides once per process, when the first session
    starts, whether the app uses the legacy ``pages/`` directory (it exists here), and a deep link as that first
    request then runs its page in that mode (a file-list menu, no wide layout). ``pages.common`` clears the flag
    when a page run first imports it; the warm-up imports it before any session exists, so the flag is settled
    here, at server start, before any session could set it. Internal to Streamlit 1.67: elsewhere nothing changes."""
    try:
        from streamlit.runtime.pages_manager import PagesManager  # internal; absent in other versions
    except ImportError:
        return
    if getattr(PagesManager, "uses_pages_directory", False) is None:
        PagesManager.uses_pages_directory = False


def lifespan(favicon: str):
    """The app's start-up hook: settle the routing mode, start the warm-up on a thread and answer requests at once."""

    @asynccontextmanager
    async def hook(_app: object) -> AsyncIterator[None]:
        route_through_navigation()
        threading.Thread(target=warm_up, args=(favicon,), name=WARM_UP_THREAD, daemon=True).start()
        yield

    return hook
