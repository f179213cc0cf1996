"""Configuration precedence and the hosted-deployment source policy."""

import pytest

from core.errors import SourceNotAllowed
from core.feed.client import Feed
from core.feed.config import FeedConfig, Source, SourcePolicy, load_config, load_policy, url_instrument
from core.feed.store import FeedState


def test_defaults_are_the_replay(tmp_path):
    cfg = load_config({}, tmp_path / "none.toml")
    assert cfg.source is Source.REPLAY and not cfg.is_live


def test_env_wins_over_secrets(tmp_path):
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('[feed]\nsource = "okx"\nsymbol = "ETH-USDT-SWAP"\n')
    assert load_config({}, secrets).resolved().symbol == "ETH-USDT-SWAP"
    cfg = load_config(
        {"TCS_SOURCE": "goquant", "TCS_FEED_URL": "ws://127.0.0.1:9/ws/l2-orderbook/okx/BTC-USDT-SWAP"}, secrets
    )
    r = cfg.resolved()
    assert r.source is Source.GOQUANT and r.url.startswith("ws://127.0.0.1:9/") and r.exchange == "okx"
    assert r.symbol == "ETH-USDT-SWAP"  # secrets still fill what env leaves out


def test_goquant_url_template_and_instrument_from_path():
    r = FeedConfig(source=Source.GOQUANT).resolved()
    assert r.url == "wss://ws.gomarket-cpp.goquant.io/ws/l2-orderbook/okx/BTC-USDT-SWAP"
    assert url_instrument("ws://h/ws/l2-orderbook/binance/btcusdt") == ("binance", "BTCUSDT")
    assert FeedConfig(source=Source.OKX).resolved().url == "wss://ws.okx.com:8443/ws/v5/public"


def test_bad_source_and_speed_are_refused():
    with pytest.raises(ValueError):
        load_config({"TCS_SOURCE": "ftp"})
    with pytest.raises(ValueError):
        FeedConfig(replay_speed=float("nan"))


@pytest.mark.parametrize(
    "url",
    [
        "ws://10.0.0.5/ws",
        "wss://evil.example.com/ws/l2-orderbook/okx/BTC-USDT-SWAP",
        "http://ws.okx.com/x",
        "file:///etc/passwd",
        "wss://ws.okx.com.evil.example/ws",
        "ws://127.0.0.1:8765/ws",
    ],
)
def test_policy_refuses_hosts_outside_the_allowlist(url):
    with pytest.raises(SourceNotAllowed):
        SourcePolicy().check(url)


def test_policy_allows_the_public_sources_and_the_operators_url(tmp_path):
    p = load_policy({}, tmp_path / "none.toml")
    p.check("wss://ws.gomarket-cpp.goquant.io/ws/l2-orderbook/okx/BTC-USDT-SWAP")
    p.check("wss://ws.okx.com:8443/ws/v5/public")
    assert not p.allow_custom_url
    op = load_policy(
        {"TCS_FEED_URL": "ws://127.0.0.1:8765/ws/l2-orderbook/okx/BTC-USDT-SWAP", "TCS_ALLOW_CUSTOM_URL": "1"}
    )
    op.check("ws://127.0.0.1:8765/anything")
    assert op.allow_custom_url
    only = load_policy({"TCS_ALLOWED_HOSTS": "feed.internal"})
    only.check("wss://feed.internal/x")
    with pytest.raises(SourceNotAllowed):
        only.check("wss://ws.okx.com:8443/ws/v5/public")


def test_feed_with_policy_refuses_before_connecting(slice_file):
    feed = Feed(policy=SourcePolicy())
    try:
        feed.start(FeedConfig(source=Source.REPLAY, replay_file=str(slice_file)))
        with pytest.raises(SourceNotAllowed):
            feed.start(FeedConfig(source=Source.GOQUANT, url="ws://169.254.169.254/ws/l2-orderbook/okx/BTC-USDT-SWAP"))
        assert feed.config.source is Source.REPLAY and feed.store.state is not FeedState.FAILED  # unchanged
    finally:
        feed.shutdown()
