"""Widgets that render engine DTOs; they run no queries."""
