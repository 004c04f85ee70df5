"""Typed, frozen, validated configs: experiments, grids and settings from the environment."""
