"""Credentials never appear in a URL, message or repr an adapter produces."""

from __future__ import annotations

from pydantic import SecretStr

from raytrade.config.collect import PoolRef
from raytrade.sources.binance import BinanceSource
from raytrade.sources.coingecko import CoinGeckoSource
from raytrade.sources.geckoterminal import GeckoTerminalSource
from raytrade.sources.massive import MassiveSource
from raytrade.sources.redact import Redactor, mask_url
from raytrade.sources.symbols import BinanceExchange

KEY = "sk-live-4f9a1c0ffee"


def test_mask_url_masks_credential_params_and_keeps_the_rest() -> None:
    url = ("http://127.0.0.1:9/v2/aggs?apiKey=abc123&limit=5&x_cg_demo_api_key=zz"
           "&token=base&signature=deadbeef")
    masked = mask_url(url)
    for secret in ("abc123", "=zz", "deadbeef"):
        assert secret not in masked
    assert "limit=5" in masked and "token=base" in masked
    assert mask_url("http://127.0.0.1:9/path") == "http://127.0.0.1:9/path"


def test_redactor_masks_known_values_and_params_inside_free_text() -> None:
    redact = Redactor([SecretStr(KEY), None, ""])
    text = (f"GET http://127.0.0.1:9/x?APIKEY=other-key failed; header Bearer {KEY}; "
            f"retry apikey=third")
    out = redact(text)
    assert KEY not in out and "other-key" not in out and "third" not in out
    assert out.count("***") == 3
    assert "monkey=1" in redact("monkey=1")  # only whole parameter names are masked
    assert KEY not in repr(redact)


def test_no_adapter_repr_shows_its_key() -> None:
    secret = SecretStr(KEY)
    sources = [
        MassiveSource(secret, base_url="http://127.0.0.1:9"),
        BinanceSource(BinanceExchange.US, base_url="http://127.0.0.1:9", api_key=secret),
        CoinGeckoSource(secret, base_url="http://127.0.0.1:9/api/v3"),
        GeckoTerminalSource({"WETH-USD": PoolRef(network="eth", address="0xp")},
                            base_url="http://127.0.0.1:9/api/v2", api_key=secret),
    ]
    for source in sources:
        assert KEY not in repr(source)
        assert KEY not in str(vars(source))


def test_coingecko_refusal_echoing_the_key_is_masked_and_says_what_to_set() -> None:
    from raytrade.sources.base import CredentialsError
    from raytrade.sources.http import Reply

    source = CoinGeckoSource(SecretStr(KEY), base_url="http://127.0.0.1:9/api/v3")
    body = ('{"status":{"error_code":10002,"error_message":"key ' + KEY + ' is invalid"}}')
    err = source._refusal(Reply(401, {}, body.encode()), "/coins/bitcoin/market_chart",
                          "BTC-USD")
    assert isinstance(err, CredentialsError)
    assert KEY not in str(err) and KEY not in repr(err)
    assert "RAYTRADE_COINGECKO_API_KEY" in str(err) and "BTC-USD" in str(err)


def test_massive_refusal_echoing_the_key_is_masked() -> None:
    from raytrade.sources.base import CredentialsError
    from raytrade.sources.massive import _HttpStatus

    source = MassiveSource(SecretStr(KEY), base_url="http://127.0.0.1:9")
    body = f'{{"status":"ERROR","error":"Unknown API Key {KEY}"}}'.encode()
    err = source._translate(_HttpStatus(401, None, body), "AAPL", "AAPL")
    assert isinstance(err, CredentialsError)
    assert KEY not in str(err) and "RAYTRADE_MASSIVE_API_KEY" in str(err)
