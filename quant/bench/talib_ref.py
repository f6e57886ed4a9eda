"""TA-Lib reference timings for the batch indicator benchmarks.

Reads the bars written by `cargo run --release -p quant --example bench_data`
(`batch_hlc.f64`: highs, lows, closes as little-endian f64 columns), then times
only the talib call on contiguous numpy float64 arrays: one untimed warm-up
call, then REPEAT timed calls; prints and writes the median and minimum.

Usage: python talib_ref.py <data dir> <out.json> [repeat]
"""

import json
import statistics
import sys
import time

import numpy as np
import talib

data_dir, out_path = sys.argv[1], sys.argv[2]
repeat = int(sys.argv[3]) if len(sys.argv) > 3 else 7

hlc = np.fromfile(f"{data_dir}/batch_hlc.f64", dtype="<f8")
n = hlc.size // 3
high, low, close = (np.ascontiguousarray(hlc[i * n : (i + 1) * n]) for i in range(3))

# Same parameters as quant/benches/indicators.rs.
CASES = {
    "sma": lambda: talib.SMA(close, timeperiod=20),
    "ema": lambda: talib.EMA(close, timeperiod=20),
    "rsi": lambda: talib.RSI(close, timeperiod=14),
    "macd": lambda: talib.MACD(close, fastperiod=12, slowperiod=26, signalperiod=9),
    "bbands": lambda: talib.BBANDS(close, timeperiod=20, nbdevup=2.0, nbdevdn=2.0, matype=0),
    "atr": lambda: talib.ATR(high, low, close, timeperiod=14),
    "stoch": lambda: talib.STOCH(high, low, close, fastk_period=5, slowk_period=3, slowk_matype=0,
                                 slowd_period=3, slowd_matype=0),
    "adx": lambda: talib.ADX(high, low, close, timeperiod=14),
}

results = {"bars": n, "talib": talib.__version__, "talib_c": talib.__ta_version__.decode()
           if isinstance(talib.__ta_version__, bytes) else str(talib.__ta_version__), "repeat": repeat, "cases": {}}
for name, call in CASES.items():
    call()  # warm-up (page faults, caches)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter_ns()
        call()
        times.append(time.perf_counter_ns() - t0)
    results["cases"][name] = {"median_ns": statistics.median(times), "min_ns": min(times)}
    print(f"talib {name:7s} median {statistics.median(times) / 1e6:9.2f} ms  min {min(times) / 1e6:9.2f} ms",
          flush=True)

with open(out_path, "w") as f:
    json.dump(results, f, indent=1)
