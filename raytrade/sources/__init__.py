"""Market-data vendors behind one Protocol (`base.MarketDataSource`), each returning canonical
bars: Massive, Binance / Binance.US, CoinGecko and GeckoTerminal, with shared retries, rate
limits, symbol mapping and credential redaction."""
