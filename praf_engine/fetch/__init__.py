"""The nightly fetch: yfinance batches through rotating exits into the lake (SPEC §3)."""
