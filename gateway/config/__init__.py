"""Strict config loading: YAML with lines, interpolation, validation, compilation."""
