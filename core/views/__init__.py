"""Views: each page's logic without Streamlit: raw widget values in, plain values and figures out.

One module per page (simulator, market, latency, execution, models, data, docs) plus shared charts and
formatting. Tested directly, because AppTest never fires ``run_every``. May import every serving layer
below it and feed value types (status, config, catalog), never the feed client; pages call views and
``core.runtime`` only.
"""
