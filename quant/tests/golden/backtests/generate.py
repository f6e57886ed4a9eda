#!/usr/bin/env python3
"""Regenerates the backtest golden files that quant/tests/golden_metrics.rs
compares quant's backtest metrics against.

    python3 -m venv .tools/py-golden
    .tools/py-golden/bin/pip install --only-binary=:all: -r quant/tests/golden/backtests/requirements.txt
    .tools/py-golden/bin/python quant/tests/golden/backtests/generate.py

requirements.txt beside this script pins backtesting.py 0.6.6 and vectorbt
1.2.0 with everything they pull in (the same numpy and pandas as
quant/bench/requirements.txt). vectorbt brings numba, scipy and matplotlib, so
this environment is kept apart from the benchmarks' .tools/py.

Each case is a set of seeded (or deliberately awkward) daily bars and one
explicit signal per bar ('B' buy, 'S' sell, '.' hold), replayed by
backtesting.py under the conventions of quant::backtest::run_signals:
long-only, decide on the close, fill at the next open, whole units, a fraction
of equity per entry, commission = rate * notional + fixed per fill, a position
still open after the last bar closed at the last close. Where backtesting.py
cannot be configured to do the same, the data is made so that it does:
  - its strategy is first called on bar 1, so no case signals on bar 0;
  - finalize_trades closes an open trade at the last bar's *open* (it re-runs
    its broker on the last bar), so every case's last bar opens at its close;
    and no case signals on the last bar (a next-open order there never fills
    in quant, backtesting.py would fill it in that re-run);
  - its relative sizing divides a fixed commission by the order's fraction, as
    if charged per unit; the one case with a fixed commission therefore hands
    it explicit sizes, computed with quant's documented rule.
The script then checks that backtesting.py's sizes are quant's rule, and that
vectorbt, fed the same orders, books the same trades and the same equity, before
anything is written.

Writes, next to this script, one <case>.json per case:
  description, config          quant's Config fields the case sets
  bars                         ts (Unix seconds, UTC midnight, Monday to Friday),
                               open, high, low, close (cents)
  signals                      one character per bar
  trades                       backtesting.py's trade list (bar indices, prices,
                               size, pnl, return, commissions)
  equity                       backtesting.py's equity at every close
  backtesting_stats            backtesting.py's own statistics, under its names
                               and in its units (percentages, durations in days);
                               null where it reports NaN/NaT
  vectorbt_stats               vectorbt's Portfolio.stats(), returns_stats() and
                               trades.stats() of the same orders, prefixed
                               "portfolio:", "returns:" and "trades:"; null for
                               NaN, the strings "inf"/"-inf" for infinities
  versions                     of the reference tools

Floats are written with repr(), which round-trips exactly.
"""
import json
import math
import os
import pathlib
import sys
import warnings

os.environ.setdefault("TQDM_DISABLE", "1")  # backtesting.py's progress bars

import numpy as np
import pandas as pd
import backtesting
from backtesting import Backtest, Strategy
import vectorbt as vbt

HERE = pathlib.Path(__file__).resolve().parent
SEED = 20261207
CASH = 10_000.0
PERIODS_PER_YEAR = 252
FIRST_DAY = "2015-01-02"

warnings.filterwarnings("ignore")


# ---------------------------------------------------------------- bars


def business_days(n):
    """Unix seconds of n weekdays from FIRST_DAY, at UTC midnight."""
    days = pd.bdate_range(FIRST_DAY, periods=n, tz="UTC")
    return [int(d.timestamp()) for d in days]


def walk(rng, n, drift, sigma, start=100.0):
    """A geometric random walk in cents: gaps at the open, wicks beyond the
    body, and a last bar that opens at its close (see the module's notes)."""
    closes = start * np.exp(np.cumsum(rng.normal(drift, sigma, n)))
    opens = np.concatenate([[start], closes[:-1]]) * np.exp(rng.normal(0.0, sigma / 3, n))
    highs = np.maximum(opens, closes) * np.exp(np.abs(rng.normal(0.0, sigma / 2, n)))
    lows = np.minimum(opens, closes) * np.exp(-np.abs(rng.normal(0.0, sigma / 2, n)))
    o, h, l, c = (np.round(x, 2) for x in (opens, highs, lows, closes))
    o[-1] = c[-1]
    h = np.maximum(h, np.maximum(o, c))
    l = np.minimum(l, np.minimum(o, c))
    return bars_of(o, h, l, c)


def bars_of(o, h, l, c):
    n = len(c)
    return {
        "ts": business_days(n),
        "open": [float(x) for x in o],
        "high": [float(x) for x in h],
        "low": [float(x) for x in l],
        "close": [float(x) for x in c],
    }


def sma_cross(closes, fast, slow):
    """Buy when SMA(fast) crosses above SMA(slow), sell when it crosses below."""
    s = pd.Series(closes)
    f, w = s.rolling(fast).mean().to_numpy(), s.rolling(slow).mean().to_numpy()
    out = ["."] * len(closes)
    for i in range(1, len(closes)):
        if np.isnan(w[i - 1]):
            continue
        if f[i - 1] <= w[i - 1] and f[i] > w[i]:
            out[i] = "B"
        elif f[i - 1] >= w[i - 1] and f[i] < w[i]:
            out[i] = "S"
    return "".join(out)


def periodic(n, first, hold, every):
    """Buy on bar first + k*every, sell `hold` bars later."""
    out = ["."] * n
    for start in range(first, n - hold - 1, every):
        out[start] = "B"
        out[start + hold] = "S"
    return "".join(out)


# ---------------------------------------------------------------- cases


def cases():
    rng = np.random.default_rng(SEED)
    out = []

    bars = walk(rng, 2520, 0.0003, 0.015)
    out.append(dict(
        name="random_walk",
        description="2,520 seeded daily bars (10 years), SMA(5)/SMA(20) cross: many trades, winners and losers",
        bars=bars, signals=sma_cross(bars["close"], 5, 20), config={}))

    bars = walk(rng, 250, 0.0003, 0.015)
    out.append(dict(
        name="no_trades",
        description="250 seeded daily bars and no signal at all: every trade statistic is undefined",
        bars=bars, signals="." * 250, config={}))

    bars = walk(rng, 250, 0.001, 0.012)
    signals = ["."] * 250
    signals[40] = "B"
    out.append(dict(
        name="one_trade",
        description="250 seeded daily bars, one buy and no sell: one trade, closed at the end of data",
        bars=bars, signals="".join(signals), config={}))

    bars = walk(rng, 300, -0.006, 0.008)
    out.append(dict(
        name="all_losers",
        description="300 seeded daily bars falling steadily, a 10-bar trade every 25 bars: every trade loses",
        bars=bars, signals=periodic(300, 5, 10, 25), config={}))

    # 99, not 100: at a price that divides the cash exactly backtesting.py buys
    # one unit less than "all of equity" (its largest fraction is 1 - 2**-52).
    n = 250
    flat = [99.0] * n
    out.append(dict(
        name="flat_market",
        description="250 bars at a constant 99 (open = high = low = close), a 10-bar trade every 20 bars",
        bars=bars_of(flat, flat, flat, flat), signals=periodic(n, 5, 10, 20), config={}))

    bars = walk(rng, 756, 0.0004, 0.015)
    out.append(dict(
        name="commission",
        description="756 seeded daily bars, SMA(5)/SMA(20) cross, 0.1% commission, half of equity per entry",
        bars=bars, signals=sma_cross(bars["close"], 5, 20),
        config={"commission_rate": 0.001, "fraction": 0.5}))

    bars = walk(rng, 756, 0.0004, 0.015)
    out.append(dict(
        name="commission_fixed",
        description="756 seeded daily bars, SMA(10)/SMA(30) cross, 0.2% plus 5.00 per fill; "
                    "backtesting.py is handed quant's sizes",
        bars=bars, signals=sma_cross(bars["close"], 10, 30),
        config={"commission_rate": 0.002, "commission_fixed": 5.0}, explicit_sizes=True))
    return out


def full_config(config):
    return {"initial_cash": CASH, "commission_rate": 0.0, "commission_fixed": 0.0, "fraction": 1.0,
            "periods_per_year": float(PERIODS_PER_YEAR), **config}


def our_size(equity, fill, cfg):
    """quant's sizing rule (backtest::Book::open), in the same float operations."""
    budget = equity * cfg["fraction"] - cfg["commission_fixed"]
    return math.floor(budget / (fill * (1.0 + cfg["commission_rate"])))


# ---------------------------------------------------------------- backtesting.py


def frame(bars):
    df = pd.DataFrame({k.capitalize(): bars[k] for k in ("open", "high", "low", "close")},
                      index=pd.to_datetime(bars["ts"], unit="s"))
    df["Volume"] = 0.0
    return df


def run_backtesting(case):
    bars, signals, cfg = case["bars"], case["signals"], full_config(case["config"])
    opens = bars["open"]

    class Replay(Strategy):
        def init(self):
            pass  # no indicator: no warm-up, and buy & hold starts at bar 0

        def next(self):
            i = len(self.data) - 1
            s = signals[i]
            if s == "B" and not self.position:
                if case.get("explicit_sizes"):
                    # Flat, so equity is cash; the order fills at the next open.
                    self.buy(size=our_size(self.equity, opens[i + 1], cfg))
                elif cfg["fraction"] < 1.0:
                    self.buy(size=cfg["fraction"])
                else:
                    self.buy()  # backtesting.py's "all of equity", 1 - 2**-52
            elif s == "S" and self.position:
                self.position.close()

    commission = (cfg["commission_fixed"], cfg["commission_rate"])
    bt = Backtest(frame(bars), Replay, cash=cfg["initial_cash"], commission=commission, spread=0.0,
                  margin=1.0, trade_on_close=False, hedging=False, exclusive_orders=False,
                  finalize_trades=True)
    stats = bt.run()
    trades = stats["_trades"]
    out_trades = [
        {
            "entry_bar": int(t.EntryBar), "exit_bar": int(t.ExitBar),
            "entry_price": float(t.EntryPrice), "exit_price": float(t.ExitPrice),
            "size": float(t.Size), "pnl": float(t.PnL), "return_pct": float(t.ReturnPct),
            "commission": float(t.Commission),
        }
        for t in trades.itertuples()
    ]
    equity = [float(x) for x in stats["_equity_curve"]["Equity"]]
    return out_trades, equity, {k: plain(v) for k, v in stats.items() if not k.startswith("_")}


def plain(v):
    """A statistic as JSON: NaN/NaT as null, durations in days, infinities as strings."""
    if v is None or v is pd.NaT:
        return None
    if isinstance(v, pd.Timedelta):
        return v / pd.Timedelta(days=1)
    if isinstance(v, pd.Timestamp):
        return v.isoformat()
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        v = float(v)
        if math.isnan(v):
            return None
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return v
    return str(v)


# ---------------------------------------------------------------- vectorbt


def run_vectorbt(case, trades):
    """The same orders (bar, price, size) through vectorbt's Portfolio."""
    bars, cfg = case["bars"], full_config(case["config"])
    n = len(bars["close"])
    size = np.full(n, np.nan)
    for t in trades:
        size[t["entry_bar"]] = t["size"]
        size[t["exit_bar"]] = -t["size"]
    index = pd.to_datetime(bars["ts"], unit="s")
    close = pd.Series(bars["close"], index=index)
    # Every fill is at an open: next-open entries and exits, and the end-of-data
    # exit at the last bar, whose open is its close.
    price = pd.Series(bars["open"], index=index)
    vbt.settings.returns["year_freq"] = f"{PERIODS_PER_YEAR} days"
    pf = vbt.Portfolio.from_orders(close, size=size, price=price, size_type="amount", direction="longonly",
                                   fees=cfg["commission_rate"], fixed_fees=cfg["commission_fixed"],
                                   init_cash=cfg["initial_cash"], freq="1D")
    stats = {}
    for prefix, s in (("portfolio", pf.stats()), ("returns", pf.returns_stats()), ("trades", pf.trades.stats())):
        for k, v in s.items():
            stats[f"{prefix}:{k}"] = plain(v)
    records = pf.trades.records_readable
    vtrades = [{"pnl": float(r["PnL"]), "return_pct": float(r["Return"]), "size": float(r["Size"])}
               for _, r in records.iterrows()]
    return [float(x) for x in pf.value()], vtrades, stats


# ---------------------------------------------------------------- checks


def check(case, trades, equity, vequity, vtrades):
    name, bars, signals, cfg = case["name"], case["bars"], case["signals"], full_config(case["config"])
    n = len(bars["close"])

    def fail(msg):
        sys.exit(f"{name}: {msg}")

    if len(signals) != n:
        fail(f"{len(signals)} signals for {n} bars")
    if signals[0] != "." or signals[-1] != ".":
        fail("a signal on the first or the last bar (see the module's notes)")
    if bars["open"][-1] != bars["close"][-1]:
        fail("the last bar must open at its close")
    # quant's rules, replayed: long-only, each fill one bar after its signal,
    # a position still open at the end closed on the last bar.
    expected, entry = [], None
    for i in range(1, n):
        s = signals[i - 1]
        if s == "B" and entry is None:
            entry = i
        elif s == "S" and entry is not None:
            expected.append((entry, i))
            entry = None
    if entry is not None:
        expected.append((entry, n - 1))
    got = [(t["entry_bar"], t["exit_bar"]) for t in trades]
    if got != expected:
        fail(f"trades at bars {got}, quant's rules give {expected}")
    # Every size is quant's sizing rule on the cash held at the entry: flat at
    # the previous close, so equity there is cash.
    for t in trades:
        want = our_size(equity[t["entry_bar"] - 1], t["entry_price"], cfg)
        if t["size"] != want:
            fail(f"trade entered at bar {t['entry_bar']}: size {t['size']}, quant's rule gives {want}")
    if len(vequity) != n or any(abs(a - b) > 1e-9 * abs(b) for a, b in zip(vequity, equity)):
        fail("vectorbt's equity differs from backtesting.py's")
    if len(vtrades) != len(trades):
        fail(f"vectorbt has {len(vtrades)} trades, backtesting.py {len(trades)}")
    for a, b in zip(vtrades, trades):
        for k in ("pnl", "return_pct", "size"):
            if abs(a[k] - b[k]) > 1e-9 * max(abs(b[k]), 1.0):
                fail(f"vectorbt's trade {k} {a[k]} differs from backtesting.py's {b[k]}")


def write(path, doc):
    """One top-level key per line; arrays on one line each (diffs stay readable
    at the level of a key, and the file small)."""
    lines = []
    for k, v in doc.items():
        if isinstance(v, dict) and k.endswith("stats"):
            body = json.dumps(v, indent=1, allow_nan=False)
            lines.append(f"{json.dumps(k)}: {body}")
        else:
            lines.append(f"{json.dumps(k)}: {json.dumps(v, separators=(',', ':'), allow_nan=False)}")
    path.write_text("{\n" + ",\n".join(lines) + "\n}\n")


def main():
    versions = {"backtesting": backtesting.__version__, "vectorbt": vbt.__version__,
                "numpy": np.__version__, "pandas": pd.__version__}
    for case in cases():
        trades, equity, bstats = run_backtesting(case)
        vequity, vtrades, vstats = run_vectorbt(case, trades)
        check(case, trades, equity, vequity, vtrades)
        doc = {
            "case": case["name"],
            "description": case["description"],
            "versions": versions,
            "config": full_config(case["config"]),
            "backtesting_sizes": "quant's rule, passed explicitly" if case.get("explicit_sizes") else "its own",
            "bars": case["bars"],
            "signals": case["signals"],
            "trades": trades,
            "equity": equity,
            "backtesting_stats": bstats,
            "vectorbt_stats": vstats,
        }
        path = HERE / f"{case['name']}.json"
        write(path, doc)
        print(f"{case['name']}: {len(case['bars']['close'])} bars, {len(trades)} trades, "
              f"final equity {equity[-1]:.2f}, {path.stat().st_size // 1024} KiB")
    print(f"backtesting.py {backtesting.__version__}, vectorbt {vbt.__version__} -> {HERE}")


if __name__ == "__main__":
    main()
