"""PRAF engine: headless daily stock-data pipeline (scrape, fetch, store, QA, alert). Never imports Textual."""

__version__ = "0.1.0"
