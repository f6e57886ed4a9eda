"""Prints the side-by-side table of `bench/compare.sh` from this run's outputs:
criterion's estimates (<criterion dir>/<group>/<bench>/new/estimates.json,
median of the per-sample means), the batch rounds (<rounds dir>/<n>/ holds one
round's talib.json and criterion batch_10m/), the backtesting.py JSON file, and
the `TIMING` lines of the native and wasm32 timing runs.

Batch rows compare each side's best round (the fastest process of each, see
"Rounds" in docs/BENCHMARKS.md) and list every round's own ratio beside it.

Usage: python report.py <criterion dir> <rounds dir> <backtesting.json> <timing log> [markdown]
"""

import json
import os
import re
import sys

crit_dir, rounds_dir, bt_path, timing_path = sys.argv[1:5]
markdown = len(sys.argv) > 5 and sys.argv[5] == "markdown"


def crit(group, bench, base=None):
    path = os.path.join(base or crit_dir, group, bench, "new", "estimates.json")
    try:
        with open(path) as f:
            return json.load(f)["median"]["point_estimate"]
    except OSError:
        return None


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except OSError:
        return None


def fmt(ns):
    if ns is None:
        return "n/a"
    if ns < 1e3:
        return f"{ns:.2f} ns"
    if ns < 1e6:
        return f"{ns / 1e3:.1f} µs"
    if ns < 1e9:
        return f"{ns / 1e6:.2f} ms"
    return f"{ns / 1e9:.3f} s"


rounds = sorted(os.listdir(rounds_dir), key=int) if os.path.isdir(rounds_dir) else []
talib = [(load(os.path.join(rounds_dir, r, "talib.json")) or {"cases": {}})["cases"] for r in rounds]
bt = load(bt_path) or {}
timing = {}
try:
    with open(timing_path) as f:
        for m in re.finditer(r"TIMING (\w+) (\w+) ns_per_run=(\d+)", f.read()):
            timing[(m.group(1), m.group(2))] = float(m.group(3))
except OSError:
    pass

rows = []  # (what, ours, reference, ratio, target, pass, per-round ratios)


def best(values):
    values = [v for v in values if v]
    return min(values) if values else None


# The memory floor of each indicator's shape (inputs read, fresh columns
# written; benches/indicators.rs `floor`).
FLOOR = {"sma": "floor_1in_1out", "ema": "floor_1in_1out", "rsi": "floor_1in_1out",
         "macd": "floor_1in_3out", "bbands": "floor_1in_3out",
         "atr": "floor_bars_1out", "adx": "floor_bars_1out", "stoch": "floor_bars_2out",
         "atr_hlc": "floor_3in_1out", "adx_hlc": "floor_3in_1out", "stoch_hlc": "floor_3in_2out"}
# ATR, STOCH and ADX twice: on `&[Bar]` (48-byte rows) and through their
# columnar `*_hlc` forms (three f64 columns, TA-Lib's layout).
batch = ["sma", "ema", "rsi", "macd", "bbands", "atr", "atr_hlc", "stoch", "stoch_hlc", "adx", "adx_hlc"]
for name in batch:
    per_round = [(crit("batch_10m", name, os.path.join(rounds_dir, r)),
                  cases.get(name.removesuffix("_hlc"), {}).get("median_ns")) for r, cases in zip(rounds, talib)]
    ours, ref = best(o for o, _ in per_round), best(t for _, t in per_round)
    ratio = ours / ref if ours and ref else None
    label = f"{name.removesuffix('_hlc').upper()}" + (" (hlc columns)" if name.endswith("_hlc") else "")
    if name in ("atr", "stoch", "adx"):
        label += " (&[Bar])"
    rounds_text = ", ".join(f"{o / t:.2f}" if o and t else "n/a" for o, t in per_round)
    floor = best(crit("batch_10m", FLOOR[name], os.path.join(rounds_dir, r)) for r in rounds)
    floor_text = f"{fmt(floor)}, {floor / ref:.2f}x" if floor and ref else "n/a"
    rows.append((f"batch {label} 10M bars", fmt(ours), f"TA-Lib {fmt(ref)}",
                 f"{ratio:.2f}x" if ratio else "n/a", "<= 0.50x TA-Lib",
                 None if ratio is None else ratio <= 0.5, rounds_text, floor_text))
for name in ["sma", "ema", "rsi", "macd", "bbands", "atr", "stoch", "adx"]:
    ours = crit("stream_next", name)
    rows.append((f"stream {name.upper()} next()", fmt(ours), "-", "-", "<= 20 ns",
                 None if ours is None else ours <= 20.0, "-", "-"))
ours = crit("backtest", "sma_cross_daily_2520")
ref = bt.get("median_ns")
rows.append(("sma_cross 2,520 daily bars", fmt(ours), f"backtesting.py {fmt(ref)}",
             f"{ours / ref:.4f}x" if ours and ref else "n/a", "< 0.5 ms", None if ours is None else ours < 0.5e6, "-", "-"))
ours = crit("backtest", "sma_cross_minute_5m")
rows.append(("sma_cross 5,000,000 1-min bars", fmt(ours), "-", "-", "< 1 s", None if ours is None else ours < 1e9, "-", "-"))
ours = crit("backtest", "sweep_10000_daily")
rows.append(("sweep 10,000 combos, daily", fmt(ours), "-", "-", "< 1 s", None if ours is None else ours < 1e9, "-", "-"))
for bench, label in [("sma_cross_daily_2520", "2,520 daily"), ("sma_cross_minute_1m", "1,000,000 1-min")]:
    w, n = timing.get(("wasm32", bench)), timing.get(("native", bench))
    ratio = w / n if w and n else None
    rows.append((f"wasm32/Node sma_cross {label}", fmt(w), f"native {fmt(n)}",
                 f"{ratio:.2f}x" if ratio else "n/a", "<= 1.5x native",
                 None if ratio is None else ratio <= 1.5, "-", "-"))

header = ("Benchmark", "Ours", "Reference (same run)", "Ratio", "Target", "Result", "Ratio per round",
          "Memory floor, / TA-Lib")
cells = [header] + [r[:5] + ({True: "PASS", False: "FAIL", None: "not run"}[r[5]], r[6], r[7]) for r in rows]
if markdown:
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for r in cells[1:]:
        print("| " + " | ".join(r) + " |")
else:
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    for k, r in enumerate(cells):
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))
        if k == 0:
            print("  ".join("-" * w for w in widths))
