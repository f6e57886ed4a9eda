"""backtesting.py reference timing: an SMA(10)/SMA(20) cross, long-only, on the
same 2,520 daily bars as quant's `backtest/sma_cross_daily_2520` benchmark.

Rule as in quant's `sma_cross`: buy when SMA(10) crosses above SMA(20), close the
long when it crosses below; orders fill at the next open (backtesting.py's
default), no commission, 10,000 cash.

Times `Backtest(...).run()` (which computes the indicators and runs the
strategy): 3 untimed warm-up runs, then REPEAT timed runs; median and minimum.

Usage: python backtesting_ref.py <data dir> <out.json> [repeat]
"""

import json
import statistics
import sys
import time
import warnings

import pandas as pd
import backtesting
from backtesting import Backtest, Strategy
from backtesting.lib import crossover

warnings.filterwarnings("ignore")

data_dir, out_path = sys.argv[1], sys.argv[2]
repeat = int(sys.argv[3]) if len(sys.argv) > 3 else 20

df = pd.read_csv(f"{data_dir}/daily.csv")
df.index = pd.to_datetime(df.pop("ts"), unit="s")
df.columns = ["Open", "High", "Low", "Close", "Volume"]


def sma(values, n):
    return pd.Series(values).rolling(n).mean().to_numpy()


class SmaCross(Strategy):
    fast = 10
    slow = 20

    def init(self):
        self.f = self.I(sma, self.data.Close, self.fast)
        self.s = self.I(sma, self.data.Close, self.slow)

    def next(self):
        if crossover(self.f, self.s):
            if not self.position:
                self.buy()
        elif crossover(self.s, self.f):
            self.position.close()


def run():
    return Backtest(df, SmaCross, cash=10_000, commission=0.0, finalize_trades=True).run()


for _ in range(3):
    stats = run()
times = []
for _ in range(repeat):
    t0 = time.perf_counter_ns()
    run()
    times.append(time.perf_counter_ns() - t0)

out = {
    "backtesting": backtesting.__version__,
    "bars": len(df),
    "repeat": repeat,
    "median_ns": statistics.median(times),
    "min_ns": min(times),
    "trades": int(stats["# Trades"]),
    "final_equity": float(stats["Equity Final [$]"]),
}
print(f"backtesting.py sma_cross {len(df)} bars: median {out['median_ns'] / 1e6:.2f} ms, min {out['min_ns'] / 1e6:.2f} ms, "
      f"{out['trades']} trades, final equity {out['final_equity']:.2f}", flush=True)
with open(out_path, "w") as f:
    json.dump(out, f, indent=1)
