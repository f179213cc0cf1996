"""Trade Cost Simulator core: feed -> book store -> cost models. Never imports streamlit."""
