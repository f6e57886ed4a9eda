#!/usr/bin/env python3
"""Regenerates the TA-Lib golden files that quant's tests compare against.

    quant/bench/python-env.sh                       # .tools/py, pinned in quant/bench/requirements.txt
    .tools/py/bin/python quant/tests/golden/generate.py

The environment holds the `TA-Lib` 0.8.2 wheel, which bundles TA-Lib C 0.8.1
(the version the Rust side is checked against), and numpy; python-env.sh
creates it on first use and rebuilds it when the pins change.

Writes, next to this script:
  bars.csv        seeded OHLCV bars (the input of every case)
  cases.csv       one line per case: id, TA-Lib function, parameters, output names
  <id>.csv        the case's outputs, one row per bar; an empty cell where TA-Lib
                  leaves the value undefined (its lookback)

Floats are written with repr(), which round-trips exactly, so the Rust side reads
TA-Lib's doubles bit for bit.
"""
import csv
import pathlib

import numpy as np
import talib
from talib import abstract

HERE = pathlib.Path(__file__).resolve().parent
SEED = 20261122
BARS = 1500

# (TA-Lib function, parameters in TA-Lib's order). Defaults first, then variants
# that stress short and long windows.
CASES = [
    ("SMA", [30]), ("SMA", [5]), ("SMA", [1]),
    ("EMA", [30]), ("EMA", [10]), ("EMA", [1]),
    ("WMA", [30]), ("WMA", [7]),
    ("DEMA", [30]), ("DEMA", [10]),
    ("TEMA", [30]), ("TEMA", [10]),
    ("KAMA", [30]), ("KAMA", [10]),
    ("RSI", [14]), ("RSI", [2]),
    ("MACD", [12, 26, 9]), ("MACD", [5, 35, 5]),
    ("BBANDS", [5, 2, 2, 0]), ("BBANDS", [20, 2, 2, 0]), ("BBANDS", [20, 1.5, 2.5, 0]),
    ("ATR", [14]), ("ATR", [5]),
    ("NATR", [14]),
    ("TRANGE", []),
    ("STOCH", [5, 3, 0, 3, 0]), ("STOCH", [14, 3, 0, 3, 0]),
    ("STOCHRSI", [14, 5, 3, 0]),
    ("ADX", [14]), ("ADX", [7]),
    ("PLUS_DI", [14]), ("MINUS_DI", [14]),
    ("CCI", [14]), ("CCI", [20]),
    ("WILLR", [14]),
    ("MFI", [14]),
    ("OBV", []),
    ("ROC", [10]), ("MOM", [10]),
    ("AROON", [14]), ("AROONOSC", [14]),
    ("SAR", [0.02, 0.2]), ("SAR", [0.01, 0.1]),
    ("ULTOSC", [7, 14, 28]),
    ("ADOSC", [3, 10]),
    ("AD", []),
    ("TRIX", [30]), ("TRIX", [9]),
    ("CMO", [14]),
    ("PPO", [12, 26, 0]),
    ("STDDEV", [5, 1]), ("STDDEV", [20, 2]),
    ("VAR", [5, 1]),
    ("LINEARREG", [14]),
    ("MEDPRICE", []), ("TYPPRICE", []),
]


def make_bars():
    """Geometric Brownian motion with a volatility regime change, a 40-bar flat
    stretch (zero range, constant volume: division-by-zero cases) and a gap."""
    rng = np.random.default_rng(SEED)
    sigma = np.where(np.arange(BARS) < 900, 0.012, 0.03)
    closes = 100.0 * np.exp(np.cumsum(rng.normal(0.0003, sigma)))
    opens = np.concatenate([[100.0], closes[:-1]]) * np.exp(rng.normal(0, 0.003, BARS))
    highs = np.maximum(opens, closes) * np.exp(np.abs(rng.normal(0, 0.006, BARS)))
    lows = np.minimum(opens, closes) * np.exp(-np.abs(rng.normal(0, 0.006, BARS)))
    volumes = np.round(1e6 * np.exp(rng.normal(0, 0.4, BARS)))
    flat = slice(600, 640)
    level = closes[599]
    opens[flat] = highs[flat] = lows[flat] = closes[flat] = level
    volumes[flat] = 1000.0
    opens[1000] = closes[999] * 1.15  # an opening gap
    highs[1000] = max(highs[1000], opens[1000])
    ts = 1_600_000_000 + 86_400 * np.arange(BARS, dtype=np.int64)
    return ts, opens, highs, lows, closes, volumes


def case_id(name, params):
    return "_".join([name] + [str(p).replace(".", "p") for p in params])


def main():
    ts, o, h, l, c, v = make_bars()
    with open(HERE / "bars.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["ts", "open", "high", "low", "close", "volume"])
        for row in zip(ts, o, h, l, c, v):
            w.writerow([int(row[0])] + [repr(float(x)) for x in row[1:]])

    inputs = {"open": o, "high": h, "low": l, "close": c, "volume": v}
    with open(HERE / "cases.csv", "w", newline="") as manifest:
        m = csv.writer(manifest)
        m.writerow(["id", "function", "params", "outputs"])
        for name, params in CASES:
            fn = abstract.Function(name)
            fn.set_input_arrays(inputs)
            # TA-Lib checks types: real-valued parameters must be floats.
            defaults = fn.parameters
            fn.set_parameters({k: type(defaults[k])(p) for k, p in zip(defaults.keys(), params)})
            outputs = fn.outputs
            if isinstance(outputs, np.ndarray):
                outputs = [outputs]
            names = list(fn.output_names)
            cid = case_id(name, params)
            m.writerow([cid, name, ";".join(str(p) for p in params), ";".join(names)])
            with open(HERE / f"{cid}.csv", "w", newline="") as f:
                w = csv.writer(f)
                w.writerow(names)
                for row in zip(*outputs):
                    w.writerow(["" if np.isnan(x) else repr(float(x)) for x in row])
    print(f"TA-Lib {talib.__ta_version__.decode()}: {len(CASES)} cases over {BARS} bars -> {HERE}")


if __name__ == "__main__":
    main()
