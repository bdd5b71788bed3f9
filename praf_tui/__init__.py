"""PRAF TUI."""
