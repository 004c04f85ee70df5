"""Research core: labels, splits, training, backtest, metrics and statistics (pure)."""
