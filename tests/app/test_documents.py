"""The Docs page: the user's guide first, every document renders, cross-links point at the app, tooltips
link to it."""

import re
from pathlib import Path

from streamlit.testing.v1 import AppTest

from core.views.documents import DOCS, doc_link, load_doc

APP = str(Path(__file__).resolve().parents[2] / "app.py")


def test_every_document_loads_and_links_stay_in_the_app():
    for name in DOCS:
        title, text = load_doc(name)
        assert title and len(text) > 200, name
        assert "](MODELS.md)" not in text and "](docs/METHODOLOGY.md)" not in text
    _, readme_links = load_doc("methodology")
    assert "](/docs?doc=models)" in readme_links  # METHODOLOGY links to MODELS.md
    assert load_doc("nonsense")[0] == DOCS["guide"][0]  # the Docs page opens on the user's guide
    _, guide = load_doc("guide")
    assert "](/docs?doc=methodology)" in guide  # the guide links to the definitions
    assert not re.search(r"\b(core|pages)/\w+|\.py\b", guide)  # written for users: no source files
    assert doc_link() == "[Methodology](/docs?doc=methodology)"


def test_docs_page_renders_the_chosen_document():
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page("pages/docs.py").run()
    assert not at.exception
    assert any(m.value.startswith("# Guide: what each number means") for m in at.markdown)
    at.selectbox(key="docs_choice").set_value("methodology").run()
    assert any("how the simulator prices an order" in m.value for m in at.markdown)
    at.selectbox(key="docs_choice").set_value("models").run()
    assert not at.exception and any("held-out" in m.value.lower() for m in at.markdown)


def test_simulator_tooltips_link_to_the_docs_page():
    from tests.app.test_app_simulator import METRICS, cards, started

    helps = [c.help for c in cards(started())]
    assert len(helps) == len(METRICS)  # every card has its tooltip...
    assert all('<a href="/docs?doc=guide" target="_self">Guide</a>' in h for h in helps), helps[:3]  # ...linking
