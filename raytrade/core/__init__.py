"""Vocabulary shared by every layer: types, the exception tree and clocks."""
