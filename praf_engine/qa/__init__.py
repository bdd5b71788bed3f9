"""Data-quality checks of the lake and the fetch state: catalogue, checks, heuristics, runner, panel read models."""
