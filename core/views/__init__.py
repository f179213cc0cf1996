"""Views: each page's logic without Streamlit: raw widget values in, plain values and figures out.

One module per page concern (simulator, inputs, fee_choice, source_choice, market, latency, execution,
models, validation, catalog, documents) plus shared charts and formatting. Tested directly, because AppTest never fires
``run_every``. May import every serving layer below it, feed value types (status, config, catalog) and
``core.runtime`` (to run a page's one call on the runtime), never the feed client; pages call views and
``core.runtime`` only.
"""
