"""The first page view of the embedded app imports no Redis client and no TensorFlow; a bus replica does import
Redis, where it is used. The Simulator's first run (the cost cards, no chart yet) imports no pandas or pyarrow;
its next run, which draws the charts, does.

Startup (issue 15) pays for every module the first page's path imports. A fresh interpreter imports what the
Simulator page imports, builds the app's runtime from the environment (the bundled replay, no ``TCS_BUS``),
waits for its first book and reports what ``sys.modules`` holds; then it builds a Redis client the way a bus
replica does, which must bring ``redis`` in (so the first answer is not just a missing package).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = r"""
import json, sys, time
import core.views.simulator, core.views.preview, core.views.compare, core.views.inputs  # the Simulator's imports
from core.runtime import from_environment

rt = from_environment()
try:
    end = time.monotonic() + 60
    while rt.latest() is None and time.monotonic() < end:
        time.sleep(0.02)
    booked = rt.latest() is not None
    embedded = sorted({m.split(".")[0] for m in sys.modules} & {"redis", "tensorflow", "keras"})
    group_started = rt.group is not None and rt.group.started
finally:
    rt.close()

from core.feed.bus import BusSettings, connect
connect("redis://127.0.0.1:1/0", BusSettings()).close()  # a client object; nothing is contacted
print(json.dumps({"booked": booked, "embedded": embedded, "group_started": group_started,
                  "replica_has_redis": "redis" in sys.modules}))
"""


def test_first_page_path_imports_no_redis_or_tensorflow():
    env = {k: v for k, v in os.environ.items() if not k.startswith("TCS_")} | {"TCS_SOURCE": "replay"}
    r = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout.strip().splitlines()[-1])
    assert report["booked"], "the embedded runtime never delivered a book"
    assert report["embedded"] == [], f"the embedded app's first page path imported {report['embedded']}"
    assert report["group_started"] is False, "the other venues' replays started before anyone asked for them"
    assert report["replica_has_redis"], "building a bus client did not import redis"


# In a fresh interpreter: the app's runtime (as the first page view builds it) with its first book in, then the app's
# first run under AppTest (the Simulator, the default page), then its second (a session's first timed refresh).
FIRST_RUN_PROBE = r"""
import json, sys, time
from pages.common import get_runtime
rt = get_runtime()
end = time.monotonic() + 60
while rt.latest() is None and time.monotonic() < end:
    time.sleep(0.02)
from streamlit.testing.v1 import AppTest
heavy = lambda: sorted({m.split(".")[0] for m in sys.modules} & {"pandas", "pyarrow"})
at = AppTest.from_file(sys.argv[1], default_timeout=60)
report = {"imported_before": heavy()}
at.run()
report |= {"errors": [str(e.value) for e in at.exception], "cards": sum('class="sim-card-value"' in m.value for m in at.markdown),
           "first_run": heavy()}
at.run()
report |= {"charts": len(at.get("plotly_chart")), "second_run": heavy()}
rt.close()
print(json.dumps(report))
"""


def test_simulator_first_run_imports_no_pandas():
    """Importing pandas (and pyarrow with it) took 0.4-0.5 s of the first page view before its first element
    (docs/PERFORMANCE.md, startup); the first run draws the cost cards without a table or chart, so it needs none."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TCS_")} | {"TCS_SOURCE": "replay"}
    env["PYTHONPATH"] = str(ROOT)
    r = subprocess.run(
        [sys.executable, "-c", FIRST_RUN_PROBE, str(ROOT / "app.py")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout.strip().splitlines()[-1])
    assert report["errors"] == []
    assert report["imported_before"] == [], "building the runtime imported pandas"
    assert report["cards"] == 1, "the first run drew no cost cards (no book yet?)"
    assert report["first_run"] == [], f"the Simulator's first run imported {report['first_run']}"
    assert report["charts"] == 4 and report["second_run"] == ["pandas", "pyarrow"], report  # the charts do need it


# In a fresh interpreter, as `streamlit run app.py` serves the app: import app.py as the module "app" (an st.App with
# the start-up hook), enter the hook as the server does at start and wait for its warm-up thread.
WARM_UP_PROBE = r"""
import asyncio, json, sys, threading
import streamlit as st
import app
from pages import startup

names = startup.page_imports()
ours = [n for n in names if n.split(".")[0] in ("core", "pages")]
before = sorted(n for n in ours if n in sys.modules)

async def start():
    async with startup.lifespan(app.FAVICON)(app.app):
        pass

asyncio.run(start())
warm = [t for t in threading.enumerate() if t.name == startup.WARM_UP_THREAD]
for t in warm:
    t.join(120)
feeds_after_warm_up = sum(t.name == "tcs-feed" for t in threading.enumerate())
from pages.common import get_runtime
rt = get_runtime()  # the page's call: takes the runtime the warm-up built
feeds_after_page = sum(t.name == "tcs-feed" for t in threading.enumerate())
rt.close()
from streamlit.runtime.pages_manager import PagesManager
PagesManager("app.py")  # a first session (e.g. a deep link), after the warm-up imported pages.common
pages_directory_mode = PagesManager.uses_pages_directory
print(json.dumps({"is_app": isinstance(app.app, st.App), "names": names, "ours": ours, "before": before,
                  "missing": sorted(n for n in names if n not in sys.modules), "warm_threads": len(warm),
                  "emojis": "streamlit.emojis" in sys.modules, "interval": sys.getswitchinterval(),
                  "feeds": [feeds_after_warm_up, feeds_after_page], "pages_directory_mode": pages_directory_mode}))
"""


def test_the_server_start_hook_warms_up_the_default_page():
    """``streamlit run app.py`` serves ``app.app`` (an ``st.App``); its start-up hook imports the Simulator's modules,
    builds the one runtime and answers the favicon's emoji check on a thread, while the browser loads Streamlit's
    front end; the first page view then takes that runtime (one feed, not two) and logs no warning from the
    warm-up's thread. Python's default switch interval is restored afterwards."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TCS_")} | {"TCS_SOURCE": "replay"}
    r = subprocess.run(
        [sys.executable, "-c", WARM_UP_PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=240
    )
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout.strip().splitlines()[-1])
    assert report["is_app"]
    assert {"core.views.simulator", "pages.common"} <= set(report["names"])
    assert report["before"] == [], f"app.py itself imported {report['before']}: the warm-up would do nothing"
    assert report["missing"] == [] and report["warm_threads"] == 1 and report["emojis"]
    assert report["feeds"] == [1, 1], "the warm-up built no runtime, or the page built a second one"
    assert report["interval"] == 0.005
    assert "tcs-warm-up': missing ScriptRunContext" not in r.stderr
    # pages.common, imported before any session, can no longer leave a first deep link in pages-directory mode
    assert report["pages_directory_mode"] is False
