"""Seeded random-walk OHLCV bars as a CSV file `finstage import` reads, for the
benchmarks and screenshots (server/bench/lab.sh, screenshots.sh).

    random_walk.py OUT.csv daily   COUNT SEED VOL   # COUNT weekdays ending on 2025-12-05
    random_walk.py OUT.csv minutes COUNT SEED VOL   # COUNT consecutive minutes ending 2025-12-06 05:46 UTC
"""
import math
import random
import sys


def walk(path, times, seed, vol):
    rng = random.Random(seed)
    price = 100.0
    with open(path, "w") as f:
        f.write("Timestamp,Open,High,Low,Close,Volume\n")
        for t in times:
            o = price
            c = max(1.0, o * math.exp(rng.gauss(0.0, vol)))
            h = max(o, c) * (1 + abs(rng.gauss(0, vol * 0.4)))
            l = min(o, c) * (1 - abs(rng.gauss(0, vol * 0.4)))
            v = round(1_000_000 * math.exp(rng.gauss(0, 0.5)))
            f.write(f"{t},{o:.4f},{h:.4f},{l:.4f},{c:.4f},{v}\n")
            price = c


def main():
    path, kind, count, seed, vol = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
    if kind == "daily":
        day = 86_400
        t = (1_765_000_000 // day) * day
        days = []
        while len(days) < count:
            if (t // day + 3) % 7 < 5:  # 1970-01-01 was a Thursday: Monday..Friday
                days.append(t)
            t -= day
        walk(path, reversed(days), seed, vol)
    elif kind == "minutes":
        end = (1_765_000_000 // 60) * 60
        walk(path, range(end - (count - 1) * 60, end + 1, 60), seed, vol)
    else:
        sys.exit(f"unknown kind {kind}: daily or minutes")


main()
