-- The seed plan's hand-written SQLite DDL (seed §3.2, §8.7), as an operator following it would have built it.
-- Used by tests/engine/test_db.py: `praf-engine init` must upgrade it in place without losing rows.
CREATE TABLE tickers (
  symbol TEXT PRIMARY KEY,
  exchange_code TEXT,
  first_seen DATE,
  last_seen DATE,
  status TEXT CHECK (status IN ('active', 'delisted', 'archived')),
  scraper_source TEXT
);
CREATE TABLE ticker_fetch_meta (
  symbol TEXT PRIMARY KEY REFERENCES tickers(symbol),
  last_fetched_date DATE,
  consecutive_failures SMALLINT DEFAULT 0,
  fetch_status TEXT CHECK (fetch_status IN ('ok', 'error'))
);
CREATE TABLE qa_failures (
  id INTEGER PRIMARY KEY,
  symbol TEXT REFERENCES tickers(symbol),
  date DATE,
  check_name TEXT,
  details JSON,
  resolved BOOLEAN,
  created_at TIMESTAMP
);
CREATE TABLE cron_status (job TEXT, run_id TEXT, ts TIMESTAMP, exit_code INTEGER);
CREATE INDEX idx_ticker_status ON tickers(status);
CREATE INDEX idx_qa_unresolved ON qa_failures(resolved);

INSERT INTO tickers VALUES ('AAPL', 'nasdaq', '2024-01-01', '2025-06-01', 'active', 'NasdaqScraper');
INSERT INTO tickers VALUES ('BRK-B', 'nyse', '2024-01-01', '2025-06-01', 'active', 'ArcaScraper');
INSERT INTO tickers VALUES ('VOD.L', 'ftse', '2024-01-01', '2025-03-01', 'delisted', 'FtseScraper');
INSERT INTO tickers VALUES ('SAP.DE', 'dax', '2024-01-01', '2025-06-01', NULL, 'DaxScraper');
INSERT INTO ticker_fetch_meta VALUES ('AAPL', '2025-06-05', 0, 'ok');
INSERT INTO ticker_fetch_meta VALUES ('BRK-B', '2025-06-02', 3, 'error');
INSERT INTO qa_failures VALUES (1, 'AAPL', '2025-06-05', 'lag_check', '{"days_missed": 3}', '0', '2025-06-06 01:47:32');
INSERT INTO qa_failures VALUES (2, 'BRK-B', '2025-06-05', 'price_jump', '{"move_pct": 81.2}', '1', '2025-06-06 01:47:33');
INSERT INTO qa_failures VALUES (3, 'AAPL', '2025-06-05', 'lag_check', '{"days_missed": 4}', '0', '2025-06-06 02:10:00');
INSERT INTO cron_status VALUES ('nightly_fetch', 'de4c3ad2-0000-4000-8000-000000000001', '2025-06-06 01:00:00', 0);
