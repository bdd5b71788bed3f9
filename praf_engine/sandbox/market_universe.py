"""Synthetic listing generator of the sandbox market: venues, symbol shapes, names, ISINs and listing dates."""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

from praf_engine.sandbox.faults import stable_hash
from praf_engine.universe.symbols import validate_symbol

EXCHANGES = ("nasdaq", "arca", "ftse", "dax", "euronext")
EURONEXT_MARKETS = {
    "Euronext Paris": ("XPAR", ".PA"),
    "Euronext Amsterdam": ("XAMS", ".AS"),
    "Euronext Brussels": ("XBRU", ".BR"),
    "Euronext Lisbon": ("XLIS", ".LS"),
    "Euronext Dublin": ("XDUB", ".IR"),
    "Oslo Børs": ("XOSL", ".OL"),
    "Euronext Milan": ("XMIL", ".MI"),
}
EXCHANGE_SHARES = {"nasdaq": 0.40, "arca": 0.15, "ftse": 0.12, "dax": 0.08, "euronext": 0.25}
EURONEXT_SHARES = {
    "Euronext Paris": 0.38, "Euronext Amsterdam": 0.18, "Euronext Milan": 0.15, "Euronext Brussels": 0.09,
    "Oslo Børs": 0.09, "Euronext Dublin": 0.06, "Euronext Lisbon": 0.05,
}
# venue (exchange code, or Euronext market name) -> (listing MIC, tz, currency, ISIN country, company-name suffixes)
VENUES: dict[str, tuple[str, str, str, str, tuple[str, ...]]] = {
    "nasdaq": ("XNAS", "America/New_York", "USD", "US", ("Inc.", "Corp.", "Holdings, Inc.", "Ltd.")),
    "arca": ("ARCX", "America/New_York", "USD", "US", ("Inc.", "Corp.", "Holdings, Inc.", "Co.")),
    "ftse": ("XLON", "Europe/London", "GBp", "GB", ("plc", "Group plc", "Holdings plc")),
    "dax": ("XETR", "Europe/Berlin", "EUR", "DE", ("AG", "SE")),
    "Euronext Paris": ("XPAR", "Europe/Paris", "EUR", "FR", ("SA", "SE")),
    "Euronext Amsterdam": ("XAMS", "Europe/Amsterdam", "EUR", "NL", ("N.V.",)),
    "Euronext Brussels": ("XBRU", "Europe/Brussels", "EUR", "BE", ("SA/NV", "NV")),
    "Euronext Lisbon": ("XLIS", "Europe/Lisbon", "EUR", "PT", ("SGPS, S.A.", "S.A.")),
    "Euronext Dublin": ("XDUB", "Europe/Dublin", "EUR", "IE", ("plc",)),
    "Oslo Børs": ("XOSL", "Europe/Oslo", "NOK", "NO", ("ASA",)),
    "Euronext Milan": ("XMIL", "Europe/Rome", "EUR", "IT", ("S.p.A.",)),
}
SECURITY_KINDS = ("common", "class", "adr", "etf", "spac", "unit", "warrant", "right", "preferred")

_ROOTS = (
    "Apex", "Atlas", "Aurora", "Beacon", "Bluewater", "Bright", "Cedar", "Civic", "Cobalt", "Crest",
    "Delta", "Echo", "Ember", "Evergreen", "Falcon", "Frontier", "Golden", "Granite", "Harbor", "Horizon",
    "Ironwood", "Juniper", "Keystone", "Lumen", "Maple", "Meridian", "Nova", "Northern", "Oak", "Orion",
    "Pacific", "Pinnacle", "Prairie", "Quantum", "Redwood", "Ridgeline", "Riverton", "Sable", "Sierra",
    "Silverline", "Solaris", "Summit", "Terra", "Titan", "Trident", "Union", "Vantage", "Vertex", "Willow",
    "Zenith", "Alder", "Argent", "Boreal", "Cascade", "Coral", "Dune", "Fjord", "Glacier", "Helix",
    "Indigo", "Jade", "Kestrel", "Lark", "Mistral", "Nimbus", "Onyx", "Polar", "Quartz", "Raven", "Sequoia",
    "Tundra", "Umber", "Vela", "Wren", "Yarrow", "Bastion", "Corvus", "Dorado", "Elara", "Fenwick",
    "Gallant", "Hawthorn", "Ivory", "Larch", "Marlow", "Norland", "Osprey",
)
_SECONDS = (
    "Bay", "Bridge", "Creek", "Field", "Forge", "Gate", "Hill", "Lake", "Line", "Mark", "Point", "Rock",
    "Stone", "Vale", "View", "Wood", "Star", "Port",
)
_INDUSTRIES: dict[str, tuple[str, ...]] = {
    "Technology": ("Software", "Systems", "Semiconductor", "Networks", "Digital", "Data", "Microdevices"),
    "Health Care": ("Therapeutics", "Biosciences", "Pharma", "Medical", "Health", "Diagnostics", "Genomics"),
    "Financials": ("Bancorp", "Financial", "Capital", "Insurance", "Bank", "Asset Management"),
    "Energy": ("Energy", "Oil & Gas", "Petroleum", "Renewables", "Offshore"),
    "Industrials": ("Industries", "Aerospace", "Logistics", "Engineering", "Machinery", "Rail"),
    "Consumer Discretionary": ("Retail", "Brands", "Motors", "Apparel", "Leisure", "Hotels"),
    "Consumer Staples": ("Foods", "Beverages", "Farms", "Grocers", "Household"),
    "Utilities": ("Utilities", "Power", "Water", "Electric"),
    "Materials": ("Mining", "Chemicals", "Materials", "Metals", "Steel", "Paper"),
    "Real Estate": ("Realty", "Properties", "Land", "Estates"),
    "Communication Services": ("Media", "Telecom", "Communications", "Entertainment"),
}
_SECTORS = tuple(_INDUSTRIES)
_ETF_THEMES = (
    "U.S. Equity", "Dividend Growth", "Short-Term Treasury", "Emerging Markets", "Clean Energy", "Semiconductor",
    "High Yield Bond", "Gold Miners", "Small Cap Value", "Municipal Bond", "Europe Equity", "Covered Call",
    "Momentum Factor", "Real Estate", "Biotech", "Aggregate Bond", "Quality Factor", "Low Volatility",
    "Infrastructure", "Cybersecurity", "Mid Cap Growth", "Floating Rate", "Water Resources", "Japan Equity",
)
_ETF_ISSUERS = ("Funds", "Shares", "Invest", "ETF Trust", "Advisors")
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_SEDOL_CHARS = "0123456789BCDFGHJKLMNPQRSTVWXYZ"
_NO_VOWELS = str.maketrans("", "", "AEIOU")


# ---------------------------------------------------------------- symbol mapping and check digits
def to_yahoo(exchange_code: str, exchange_symbol: str, market: str = "") -> str:
    """The Yahoo ticker for an exchange's own code, as the scrapers must map it (SPEC §2)."""
    sym = exchange_symbol.strip().upper()
    if exchange_code == "nasdaq":
        out = sym
    elif exchange_code == "arca":
        out = sym.replace("$", "-P")
        for tail, yahoo in ((".W", "-WT"), (".U", "-UN"), (".R", "-RI")):
            if out.endswith(tail):
                out = out[: -len(tail)] + yahoo
        out = out.replace(".", "-")
    elif exchange_code == "ftse":
        out = sym.rstrip(".").replace(".", "-") + ".L"
    elif exchange_code == "dax":
        out = sym.removesuffix(".DE") + ".DE"
    elif exchange_code == "euronext":
        out = sym + EURONEXT_MARKETS[market.split(",")[0].strip()][1]
    else:
        raise ValueError(f"unknown exchange code {exchange_code!r}")
    return validate_symbol(out)


def _char_value(c: str) -> int:
    return int(c, 36)


_ISIN_TABLE = str.maketrans({c: str(int(c, 36)) for c in "0123456789" + _LETTERS})
_DOUBLED = tuple((2 * d) // 10 + (2 * d) % 10 for d in range(10))


def isin_check_digit(body: str) -> str:
    """Check digit of an 11-character ISIN body (country + NSIN): Luhn over the letter-expanded digits."""
    digits = body.upper().translate(_ISIN_TABLE)
    total = sum(_DOUBLED[int(c)] for c in digits[::-1][::2]) + sum(int(c) for c in digits[::-1][1::2])
    return str((10 - total % 10) % 10)


def isin_is_valid(isin: str) -> bool:
    return (
        len(isin) == 12 and isin[:2].isalpha() and isin[:2].isupper() and isin[11].isdigit()
        and isin[2:11].isalnum() and isin_check_digit(isin[:11]) == isin[11]
    )


def _cusip_check(body: str) -> str:
    total = 0
    for i, c in enumerate(body):
        v = _char_value(c) * (2 if i % 2 else 1)
        total += v // 10 + v % 10
    return str((10 - total % 10) % 10)


def _sedol_check(body: str) -> str:
    total = sum(_char_value(c) * w for c, w in zip(body, (1, 3, 1, 7, 3, 9), strict=True))
    return str((10 - total % 10) % 10)


def _nsin(rng: random.Random, country: str) -> str:
    digits = "0123456789"
    pick = rng.choices
    if country == "US":
        cusip = "".join(pick(digits, k=5)) + rng.choice(digits + "ABCDEFGH") + rng.choice(("10", "20", "30", "40", "50"))
        return cusip + _cusip_check(cusip)
    if country == "GB":
        sedol = rng.choice("0B") + "".join(pick(_SEDOL_CHARS, k=5))
        return "00" + sedol + _sedol_check(sedol)
    if country == "DE":
        return "000" + "".join(pick(digits + "ABCDEFGHKLMN", k=6))
    if country == "IE":
        return "00B" + "".join(pick(_SEDOL_CHARS, k=6))
    if country == "PT":  # Portuguese ISINs look like PTGAL0AM0009
        return "".join(pick(_LETTERS, k=3)) + "0AM" + "".join(pick(digits, k=3))
    prefix = {"FR": "0000", "NL": "0000", "BE": "0003", "NO": "0010", "IT": "0005"}[country]
    return prefix + "".join(pick(digits, k=5))


def make_isin(rng: random.Random, country: str, used: set[str]) -> str:
    while True:
        body = country + _nsin(rng, country)
        isin = body + isin_check_digit(body)
        if isin not in used:
            used.add(isin)
            return isin


# ---------------------------------------------------------------- counts
def apportion(total: int, shares: dict[str, float], minimum: int = 0) -> dict[str, int]:
    """Split ``total`` by ``shares`` (largest remainder); each key gets ``minimum`` when total allows it."""
    norm = sum(shares.values())
    raw = {k: total * v / norm for k, v in shares.items()}
    out = {k: int(v) for k, v in raw.items()}
    by_remainder = sorted(shares, key=lambda k: (-(raw[k] - out[k]), list(shares).index(k)))
    for k in by_remainder[: total - sum(out.values())]:
        out[k] += 1
    if minimum and total >= minimum * len(shares):
        for k in shares:
            while out[k] < minimum:
                donor = max(out, key=lambda d: out[d])
                out[donor] -= 1
                out[k] += 1
    return out


# ---------------------------------------------------------------- names and symbols
class _Namer:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: dict[str, set[str]] = {}  # namespace -> exchange symbols (and roots) taken
        self.yahoo: set[str] = set()

    def company(self) -> tuple[list[str], str]:
        rng = self.rng
        sector = rng.choice(_SECTORS)
        words = [rng.choice(_ROOTS)]
        if rng.random() < 0.45:
            words.append(rng.choice(_SECONDS))
        words.append(rng.choice(_INDUSTRIES[sector]))
        return words, sector

    def code(self, namespace: str, words: list[str], length: int, *, digits: bool = False) -> str:
        """A code of ``length`` characters derived from ``words``, unique in ``namespace``."""
        taken = self.used.setdefault(namespace, set())
        letters = [w.upper() for w in words if w[0].isalpha()]
        initials = "".join(w[0] for w in letters)
        root = letters[0]
        cands = [initials, root[:length], root[: length - 1] + initials[-1],
                 root[0] + root[1:].translate(_NO_VOWELS), root + initials[1:]]
        for cand in cands:
            cand = cand[:length]
            if len(cand) == length and cand not in taken:
                taken.add(cand)
                return cand
        pool = _LETTERS + ("0123456789" if digits else "")
        tries = 0
        while True:  # random codes: keep the first letter at first, then any letter, then one letter longer
            tries += 1
            if tries % 40 == 0 and length < 5:
                length += 1
            head = letters[0][0] if tries < 20 else self.rng.choice(_LETTERS)
            cand = head + "".join(self.rng.choices(pool, k=length - 1))
            if cand not in taken:
                taken.add(cand)
                return cand


def _length(rng: random.Random, weights: tuple[tuple[int, float], ...]) -> int:
    u, acc = rng.random(), 0.0
    for length, w in weights:
        acc += w
        if u < acc:
            return length
    return weights[-1][0]


def _us_groups(n: int, exchange: str) -> list[list[str]]:
    """Security-kind groups (one issuer per group) for the Nasdaq or Arca part of the universe."""
    groups: list[list[str]] = []
    if exchange == "nasdaq":
        fams = max(1 if n >= 12 else 0, round(0.015 * n))
        for i in range(fams):
            fam = ["spac", "unit", "warrant", "right"] if i == 0 else (["spac", "unit", "warrant"] if i % 2 else ["spac", "unit", "right"])
            groups.append(fam)
        used = sum(map(len, groups))
        n_etf, n_adr = round(0.14 * n), round(0.04 * n)
        groups += [["etf"]] * n_etf + [["adr"]] * n_adr
        groups += [["common"]] * max(0, n - used - n_etf - n_adr)
    else:
        if n >= 8:
            k = max(1, round(0.04 * n))
            groups += [["class"]] * k + [["preferred"]] * k
            groups += [["unit", "warrant"]] * max(1, round(0.015 * n)) + [["right"]] * max(1, round(0.01 * n))
        groups += [["etf"]] * max(0, n - sum(map(len, groups)))
    total = sum(map(len, groups))
    while total > n:  # tiny universes: drop whole groups from the end
        total -= len(groups.pop())
    return groups


def _us_listing(nm: _Namer, exchange: str, kind: str, words: list[str], sector: str, base: str, suffix: str,
                spac: str) -> dict[str, Any]:
    rng = nm.rng
    company = " ".join(words) + " " + suffix
    if exchange == "nasdaq":
        sym = {"unit": base + "U", "warrant": base + "W", "right": base + "R"}.get(kind, base)
        name = {
            "common": company + rng.choice((" - Common Stock", " - Common Stock", " - Class A Common Stock")),
            "adr": company + " - American Depositary Shares",
            "etf": f"{words[0]} {rng.choice(_ETF_ISSUERS)} {' '.join(words[1:])} ETF",
            "spac": spac + " - Class A Ordinary Shares",
            "unit": spac + " - Unit",
            "warrant": spac + " - Warrant",
            "right": spac + " - Right",
        }[kind]
    else:
        sym = {
            "class": base + rng.choice((".A", ".B")),
            "preferred": base + "$" + rng.choice("ABCDEFGHIJ"),
            "unit": base + ".U",
            "warrant": base + ".W",
            "right": base + ".R",
        }.get(kind, base)
        name = {
            "etf": f"{words[0]} {rng.choice(_ETF_ISSUERS)} {' '.join(words[1:])} ETF",
            "class": f"{company} Class {sym[-1]} Common Stock",
            "preferred": f"{company} {rng.choice((5.25, 5.875, 6.375, 7.0, 7.75))}% Series {sym[-1]} Cumulative Redeemable Preferred Stock",
            "unit": spac + " Units",
            "warrant": spac + " Redeemable Warrants",
            "right": company + " Contingent Value Rights",
        }[kind]
    return {"exchange_symbol": sym, "name": name, "sector": "ETF" if kind == "etf" else sector}


def generate_listings(size: int, seed: int, anchor: date, history_start: date) -> list[dict[str, Any]]:
    """Field dicts for ``size`` listings (Listing fields plus ``kind`` and ``cap``), deterministic in the inputs."""
    rng = random.Random(stable_hash("universe", seed, size))
    nm = _Namer(rng)
    isins: set[str] = set()
    out: list[dict[str, Any]] = []
    counts = apportion(size, EXCHANGE_SHARES)

    def add(exchange: str, venue: str, kind: str, base_fields: dict[str, Any]) -> None:
        mic, tz, currency, country, _ = VENUES[venue]
        market = base_fields.pop("market")
        yahoo = to_yahoo(exchange, base_fields["exchange_symbol"], market)
        if yahoo in nm.yahoo:
            raise AssertionError(f"duplicate Yahoo symbol {yahoo}")  # pragma: no cover - namespaces prevent it
        nm.yahoo.add(yahoo)
        out.append({
            "symbol": yahoo, "exchange_code": exchange, **base_fields, "isin": make_isin(rng, country, isins),
            "currency": currency, "mic": mic, "tz": tz, "market": market, "is_etf": kind == "etf",
            "financial_status": "", "kind": kind, "cap": rng.lognormvariate(0.0, 1.5),
        })

    for exchange in ("nasdaq", "arca"):
        groups = _us_groups(counts[exchange], exchange)
        rng.shuffle(groups)
        for group in groups:
            if group[0] == "etf":
                words, sector = [rng.choice(_ROOTS), *rng.choice(_ETF_THEMES).split()], "ETF"
            else:
                words, sector = nm.company()
            spac_like = group[0] in ("spac", "unit")
            base_len = 4 if spac_like else _length(rng, ((1, 0.02), (2, 0.08), (3, 0.4), (4, 0.5)))
            if exchange == "arca" and group[0] in ("class", "preferred", "right"):
                base_len = 3
            base = nm.code("US", words, base_len)
            suffix = rng.choice(VENUES[exchange][4])
            spac = words[0] + " Acquisition Corp." + rng.choice(("", " II", " III"))  # one issuer per group
            for kind in group:
                fields = _us_listing(nm, exchange, kind, words, sector, base, suffix, spac)
                fields["market"] = rng.choices(("Q", "G", "S"), (0.45, 0.25, 0.30))[0] if exchange == "nasdaq" else "NYSE Arca"
                add(exchange, exchange, kind, fields)
                if exchange == "nasdaq":
                    out[-1]["financial_status"] = rng.choices("NDEQ", (0.94, 0.04, 0.015, 0.005))[0]

    n_ftse = counts["ftse"]
    n_class = max(1, round(0.04 * n_ftse)) if n_ftse >= 5 else 0
    for i in range(n_ftse):
        words, sector = nm.company()
        if i < n_class:
            base = nm.code("ftse", words, rng.choice((2, 3)))
            epic = base + "." + rng.choice("AB")
        else:
            epic = nm.code("ftse", words, _length(rng, ((2, 0.15), (3, 0.6), (4, 0.25))))
            if len(epic) == 2 and rng.random() < 0.6:
                epic += "."  # historic EPICs such as AV. and BA.
        name = " ".join(words) + " " + rng.choice(VENUES["ftse"][4])
        add("ftse", "ftse", "class" if i < n_class else "common",
            {"exchange_symbol": epic, "name": name, "sector": sector, "market": ""})

    for _ in range(counts["dax"]):
        words, sector = nm.company()
        code = nm.code("dax", words, _length(rng, ((3, 0.75), (4, 0.25))))
        if rng.random() < 0.06 and len(code) == 3 and code + "3" not in nm.used["dax"]:
            nm.used["dax"].add(code + "3")
            code += "3"  # preference-share style codes such as VOW3
        name = " ".join(words) + " " + rng.choice(VENUES["dax"][4])
        add("dax", "dax", "common", {"exchange_symbol": code, "name": name, "sector": sector, "market": "DAX"})

    for market, n in apportion(counts["euronext"], EURONEXT_SHARES, minimum=1).items():
        for _ in range(n):
            words, sector = nm.company()
            code = nm.code(market, words, _length(rng, ((2, 0.1), (3, 0.5), (4, 0.3), (5, 0.1))))
            name = " ".join(words).upper() + " " + rng.choice(VENUES[market][4])
            add("euronext", market, "common", {"exchange_symbol": code, "name": name, "sector": sector, "market": market})

    ftse = sorted((d for d in out if d["exchange_code"] == "ftse"), key=lambda d: -d["cap"])
    n100 = min(100, max(1, round(len(ftse) * 100 / 350))) if ftse else 0
    for rank, d in enumerate(ftse):
        d["market"] = "FTSE 100" if rank < n100 else "FTSE 250"
    _assign_lifecycles(out, random.Random(stable_hash("lifecycle", seed, size)), anchor, history_start)
    order = {e: i for i, e in enumerate(EXCHANGES)}
    out.sort(key=lambda d: (order[d["exchange_code"]], d["symbol"]))
    return out


# ---------------------------------------------------------------- listing dates
def _rand_date(rng: random.Random, lo: date, hi: date) -> date:
    span = (hi - lo).days
    return lo if span <= 0 else lo + timedelta(days=rng.randint(0, span))


def _assign_lifecycles(specs: list[dict[str, Any]], rng: random.Random, anchor: date, start: date) -> None:
    """Most listings predate ``start``; a few % appear or disappear in the last 24 months and the next months."""
    d = timedelta
    old = (date(1980, 1, 1), start - d(1))
    mid = (start, max(start, anchor - d(731)))
    recent = (max(start, anchor - d(730)), anchor - d(29))
    idx = list(range(len(specs)))
    rng.shuffle(idx)
    forced = 1 if len(specs) < 40 else 2
    plan = ["new_30"] * forced + ["gone_30"] * forced + ["new_next"] * forced + ["gone_next"] * forced
    for pos, i in enumerate(idx):
        spec = specs[i]
        if pos < len(plan):
            cat = plan[pos]
        else:
            u = rng.random()
            cat = ("old" if u < 0.78 else "mid" if u < 0.85 else "new_24m" if u < 0.89 else "gone_24m" if u < 0.93
                   else "gone_old" if u < 0.95 else "gone_future" if u < 0.975 else "new_future")
        listed = _rand_date(rng, *old) if rng.random() < 0.8 else _rand_date(rng, *mid)
        delisted = None
        if cat == "mid":
            listed = _rand_date(rng, *mid)
        elif cat == "new_24m":
            listed = _rand_date(rng, *recent)
        elif cat == "new_30":
            listed = _rand_date(rng, anchor - d(27), anchor)
        elif cat == "new_next":
            listed = _rand_date(rng, anchor + d(1), anchor + d(27))
        elif cat == "new_future":
            listed = _rand_date(rng, anchor + d(1), anchor + d(150))
        elif cat == "gone_24m":
            delisted = _rand_date(rng, *recent)
        elif cat == "gone_30":
            delisted = _rand_date(rng, anchor - d(27), anchor)
        elif cat == "gone_next":
            delisted = _rand_date(rng, anchor + d(1), anchor + d(27))
        elif cat == "gone_future":
            delisted = _rand_date(rng, anchor + d(1), anchor + d(150))
        elif cat == "gone_old":
            delisted = _rand_date(rng, start + d(365), max(start + d(365), anchor - d(731)))
        if delisted is not None and delisted <= listed + d(90):
            listed = _rand_date(rng, *old)
        spec["listed_on"], spec["delisted_on"] = listed, delisted
