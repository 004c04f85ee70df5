"""Bars: the canonical schema, the Parquet lake, calendars, quality and sample data."""
