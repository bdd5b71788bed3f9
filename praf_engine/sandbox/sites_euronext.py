"""The Euronext equities site of the sandbox, shaped like live.euronext.com: the list page whose script
(``EURONEXT_JS``) fills the table with its first page of rows (``euronext_table``: DataTables' server-side protocol,
100 rows a request) and adds the Download button; a click fetches the file from the download endpoint
(``euronext_csv``, served as an attachment). Both endpoints need the token of a page load. Deterministic like every
renderer in ``sites_render``; site faults: ``broken_structure`` (no button), ``js_timeout`` (the export never
finishes), ``truncated`` (the file is cut ~40 % into the rows).
"""

from __future__ import annotations

import datetime as dt
import html
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from praf_engine.sandbox.sites_render import fake_isin, fake_name, fake_symbols, fault, listings, pick, unit

EURONEXT_HEADER = (
    'Name;ISIN;Symbol;Market;Currency;"Open Price";"High Price";"low Price";"last Price";"last Trade MIC Time";'
    '"Time Zone";Volume;Turnover;"Closing Price";"Closing Price DateTime"'
)
EURONEXT_PREAMBLE_NOTE = "All datapoints provided as of end of last active trading day."
EURONEXT_NOISE_MARKETS = ("EuroTLX", "Trading After Hours", "Euronext Global Equity Market")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True)
class EuronextRow:
    """One line of the Euronext CSV, every cell already formatted (``-`` = missing)."""

    cells: tuple[str, ...]  # Name ISIN Symbol Market Currency Open High low last Time TZ Volume Turnover Close CloseDate
    quoted: bool  # True: values with a space are quoted (current files); False: an older, unquoted line
    noise: bool = False  # EuroTLX / Trading After Hours / Global Equity Market: not in the universe

    @property
    def name(self) -> str:
        return self.cells[0]

    @property
    def isin(self) -> str:
        return self.cells[1]

    @property
    def symbol(self) -> str:
        return self.cells[2]

    @property
    def market(self) -> str:
        return self.cells[3]

    def line(self) -> str:
        return ";".join(csv_cell(c, self.quoted) for c in self.cells)


def csv_cell(value: str, quoted: bool = True) -> str:
    """Euronext's quoting: a value with a space is quoted (except on older lines); ``;`` or ``"`` always are."""
    if '"' in value or ";" in value or (quoted and " " in value):
        return '"' + value.replace('"', '""') + '"'
    return value


def last_trading_day(today: dt.date) -> dt.date:
    day = today - dt.timedelta(days=1)
    while day.weekday() >= 5:
        day -= dt.timedelta(days=1)
    return day


def _prices(seed: int, key: str, day: dt.date, currency: str, tz_label: str) -> tuple[str, ...]:
    u = unit(seed, "eu-missing", key)
    if u < 0.05:  # no trade at all: every price point is '-'
        return ("-", "-", "-", "-", "-", tz_label, "-", "-", "-", "-")
    base = 2 + unit(seed, "eu-base", key) * 180
    op = base * (1 + (unit(seed, "eu-o", key, day) - 0.5) * 0.04)
    last = base * (1 + (unit(seed, "eu-l", key, day) - 0.5) * 0.04)
    high = max(op, last) * (1 + unit(seed, "eu-h", key, day) * 0.02)
    low = min(op, last) * (1 - unit(seed, "eu-w", key, day) * 0.02)
    volume = int(10 + unit(seed, "eu-v", key, day) * 900_000)
    minute = 9 * 60 + int(unit(seed, "eu-t", key, day) * 8.5 * 60)
    stamp = f"{day:%d/%m/%Y} {minute // 60:02d}:{minute % 60:02d}"
    cells = [f"{op:.2f}", f"{high:.2f}", f"{low:.2f}", f"{last:.2f}", stamp, tz_label, str(volume),
             f"{volume * last:.2f}", f"{last:.2f}", f"{day:%d/%m/%Y}"]
    if u < 0.09:  # only a closing auction: no open/high/low
        cells[0:3] = ["-", "-", "-"]
    return tuple(cells)


_COMBINABLE = ("Paris", "Amsterdam", "Brussels")


def _market_value(seed: int, listing: Any) -> str:
    """Some listings trade on several venues: "Euronext Paris, Amsterdam, Brussels" (their own one first)."""
    own = listing.market
    city = own.removeprefix("Euronext ")
    if city not in (*_COMBINABLE, "Lisbon") or unit(seed, "eu-combined", listing.symbol) >= 0.12:
        return own
    others = [c for c in _COMBINABLE if c != city]
    take = 1 + int(unit(seed, "eu-combined-n", listing.symbol) * len(others))
    return ", ".join([own, *others[:take]])


def euronext_rows(market: Any) -> list[EuronextRow]:
    """Every line of the CSV after the preamble, by name: the Euronext listings plus noise rows to skip."""
    seed, day = market.seed, last_trading_day(market.today)
    members = listings(market, "euronext")
    out: list[EuronextRow] = []
    for x in members:
        tz_label = "WET" if x.tz in ("Europe/Lisbon", "Europe/Dublin", "Europe/London") else "CET"
        cells = (x.name, x.isin, x.exchange_symbol, _market_value(seed, x), x.currency,
                 *_prices(seed, x.isin + x.mic, day, x.currency, tz_label))
        out.append(EuronextRow(cells, quoted=unit(seed, "eu-quoted", x.symbol) >= 0.15))
    out += _euronext_noise(market, members, day)
    out.sort(key=lambda r: (r.name.casefold(), r.market, r.symbol))
    return out


def _euronext_noise(market: Any, members: list[Any], day: dt.date) -> list[EuronextRow]:
    seed = market.seed
    count = max(3, len(members) // 8)
    out: list[EuronextRow] = []
    paris = [x for x in members if x.market == "Euronext Paris"]
    for i, sym in enumerate(fake_symbols(market, "euronext-noise", count, (3, 5))):
        kind = EURONEXT_NOISE_MARKETS[i % 3]
        if kind == "Trading After Hours" and paris:  # the after-hours line of a real Paris listing
            x = paris[int(unit(seed, "eu-tah", i) * len(paris))]
            name, isin, symbol, currency = x.name, x.isin, x.exchange_symbol, x.currency
        else:
            country = pick(("US", "DE", "GB", "CH", "IT"), seed, "eu-cc", i)
            name = fake_name(seed, "eu-noise", i).upper() + pick((" INC", " AG", " PLC", " SPA"), seed, "eu-sfx", i)
            isin = fake_isin(country, "".join(str(int(unit(seed, "eu-isin", i, k) * 10)) for k in range(9)))
            symbol = ("1" + sym) if kind == "EuroTLX" else sym
            currency = "EUR" if kind == "EuroTLX" else pick(("USD", "GBP", "EUR"), seed, "eu-cur", i)
        cells = (name, isin, symbol, kind, currency, *_prices(seed, f"noise{i}", day, currency, "CET"))
        out.append(EuronextRow(cells, quoted=True, noise=True))
    return out


def euronext_filename(market: Any) -> str:
    return f"Euronext_Equities_{market.today:%Y-%m-%d}.csv"


def euronext_preamble(market: Any) -> list[str]:
    today = market.today
    return ["European Equities", f"{today.day:02d} {_MONTHS[today.month - 1]} {today.year}", EURONEXT_PREAMBLE_NOTE]


def _euronext_text(market: Any, rows: Iterable[EuronextRow]) -> str:
    lines = [EURONEXT_HEADER, *(csv_cell(p) for p in euronext_preamble(market)), *(r.line() for r in rows)]
    return "\n".join(lines) + "\n"


def euronext_cut(market: Any, *, apply_faults: bool = True) -> int | None:
    """With ``truncated``: the character count the file is cut at (~40 % into the rows), else None."""
    if not (apply_faults and fault(market, "truncated", "euronext")):
        return None
    rows = euronext_rows(market)
    head = len(_euronext_text(market, []))
    return head + int(len(_euronext_text(market, rows)) - head) * 2 // 5


def euronext_csv(market: Any, *, apply_faults: bool = True) -> bytes:
    """The bytes the page's Download button saves: UTF-8 with BOM, ``;``-separated, header + 3 preamble lines."""
    text = _euronext_text(market, euronext_rows(market))
    cut = euronext_cut(market, apply_faults=apply_faults)
    return ("\ufeff" + (text if cut is None else text[:cut])).encode("utf-8")


TABLE_PAGE_MAX = 100  # rows the list's data endpoint gives per request (DataTables' iDisplayLength, capped as live)


def euronext_table(market: Any, start: int = 0, length: int = TABLE_PAGE_MAX, *,
                   apply_faults: bool = True) -> dict[str, Any]:
    """One page of the list's table, as the page's script asks for it (DataTables' server-side protocol, like
    live.euronext.com's ``/en/pd/data/stocks``): ``aaData`` (name, ISIN, symbol, market, last price, volume),
    the totals, and two sandbox switches the script reads (``button``: add #download-button; ``export``: a click
    starts the download)."""
    rows = euronext_rows(market)
    start = max(0, start)
    length = max(1, min(length, TABLE_PAGE_MAX))
    return {
        "aaData": [[r.cells[i] for i in (0, 1, 2, 3, 8, 11)] for r in rows[start:start + length]],
        "iTotalRecords": len(rows),
        "iTotalDisplayRecords": len(rows),
        "button": not (apply_faults and fault(market, "broken_structure", "euronext")),
        "export": not (apply_faults and fault(market, "js_timeout", "euronext")),
    }


EURONEXT_JS = r"""
(function () {
  "use strict";
  var app = document.getElementById("equities-app");
  var status = document.getElementById("equities-status");
  var tbody = document.querySelector("#stocks-data-table tbody");
  var token = encodeURIComponent(app.getAttribute("data-token"));
  function fill(data) {
    var frag = document.createDocumentFragment();
    data.aaData.forEach(function (r) {
      var tr = document.createElement("tr");
      r.forEach(function (v) { var td = document.createElement("td"); td.textContent = v; tr.appendChild(td); });
      frag.appendChild(tr);
    });
    tbody.appendChild(frag);
    status.textContent = "Showing 1 to " + data.aaData.length + " of " + data.iTotalRecords + " instruments";
    if (!data.button) { return; }
    var button = document.createElement("button");
    button.id = "download-button"; button.type = "button"; button.className = "btn btn-primary";
    button.textContent = "Download";
    button.addEventListener("click", function () {
      status.textContent = "Preparing your file\u2026";
      if (!data.export) { return; }  // the export never finishes
      var a = document.createElement("a");
      a.href = app.getAttribute("data-download") + "?mics=dm_all_stock&initialLetter=&fe_type=csv" +
        "&fe_decimal_separator=.&fe_date_format=d%2Fm%2FY&token=" + token;
      a.download = "";
      document.body.appendChild(a);
      a.click();
      a.remove();
    });
    document.getElementById("download-area").appendChild(button);
  }
  var url = app.getAttribute("data-endpoint") + "?mics=dm_all_stock&iDisplayStart=0&iDisplayLength=" +
    app.getAttribute("data-page-length") + "&token=" + token;
  fetch(url, {headers: {"Accept": "application/json", "X-Requested-With": "XMLHttpRequest"}, credentials: "same-origin"})
    .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.json(); })
    .then(fill)
    .catch(function (e) { status.textContent = "The list could not be loaded (" + e.message + ")"; });
})();
"""


def render_euronext_page(token: str, data_path: str = "/en/pd/data/stocks",
                         download_path: str = "/en/pd_es/data/stocks/download") -> bytes:
    """The list page: an empty table, and a script that fetches its first page of rows (with ``token``) and adds the
    Download button, whose click fetches the file from ``download_path`` (with the same token)."""
    return f"""<!DOCTYPE html>
<html lang="en" dir="ltr">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>Equities | Euronext live</title>
</head>
<body class="path-products">
<header class="header"><a class="logo" href="/en">Euronext</a>
<nav><a href="/en/markets">Markets</a> <a href="/en/products/equities/list">Equities</a> <a href="/en/products/etfs/list">ETFs</a></nav></header>
<main class="container">
<h1>Equities</h1>
<div id="equities-app" data-endpoint="{html.escape(data_path, quote=True)}" data-token="{html.escape(token, quote=True)}" data-download="{html.escape(download_path, quote=True)}" data-page-length="{TABLE_PAGE_MAX}">
<div class="toolbar"><span id="equities-status">Loading&hellip;</span> <div id="download-area"></div></div>
<table id="stocks-data-table" class="table table-hover">
<thead><tr><th>Name</th><th>ISIN</th><th>Symbol</th><th>Market</th><th>Last price</th><th>Volume</th></tr></thead>
<tbody></tbody>
</table>
</div>
</main>
<footer class="footer"><p>Data delayed by at least 15 minutes. &copy; Euronext</p></footer>
<script>{EURONEXT_JS}</script>
</body>
</html>
""".encode()


def euronext_table_json(market: Any, start: int = 0, length: int = TABLE_PAGE_MAX, *, apply_faults: bool = True) -> bytes:
    return json.dumps(euronext_table(market, start, length, apply_faults=apply_faults), ensure_ascii=False,
                      separators=(",", ":")).encode("utf-8")
