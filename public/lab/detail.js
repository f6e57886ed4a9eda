// Level of detail for the lab's charts. A run on a million one-minute bars
// would hand the chart library a million points per series, which it lays out
// and paints in seconds; a screen shows at most a few per pixel column. So a
// `Detailed` keeps the full series and draws buckets of consecutive bars:
//
// - Around the visible range (one visible width either side) buckets are as
//   fine as the chart's width allows (`POINTS_PER_PX`), one bar each once
//   zoomed in far enough; elsewhere they are coarse, sized so the whole series
//   fits the same budget. Zooming or panning out of that region redraws it
//   (after the gesture settles), keeping the same bars in view.
// - A bucket of candles is one candle (first open, highest high, lowest low,
//   last close, summed volume) at its first bar's time; a line keeps its last
//   value, or its lowest one when marked `deepest` (the drawdown pane, so no
//   trough is smoothed away).
// - Trades get their markers and entry-to-exit lines when at most
//   `MAX_TRADES_MARKED` of them fall in the drawn detail region, each placed at
//   its bucket's time; past that a note on the chart says to zoom in.
//
// Series short enough to fit the budget are drawn as they are, bar for bar.
// Written here rather than taken from a library: the chart library has no
// level of detail of its own, and the candle aggregation is a few lines.

const POINTS_PER_PX = 2;
const MIN_POINTS = 1_000;
const MAX_TRADES_MARKED = 600;
const SETTLE_MS = 120;

// A trade's values (quant::backtest::columns::TRADE_COLUMNS).
export const TRADE_WIDTH = 10;
const SIDE = 0, ENTRY_TS = 1, ENTRY_PRICE = 2, EXIT_TS = 3, EXIT_PRICE = 4, PNL = 6, EXIT = 9;
const END_OF_DATA = 4;

// The first index of sorted `a` whose value is at least `x` (a.length if none).
export function lowerBound(a, x) {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (a[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

// Bucket starts for `n` bars with the detail region [from, to): `fine` bars a
// bucket inside it, `coarse` outside.
export function plan(n, budget, from, to) {
  if (n <= budget) return null;
  const span = Math.max(1, to - from);
  const fine = Math.max(1, Math.ceil(span / budget));
  const coarse = Math.max(fine, Math.ceil(n / budget));
  const lo = Math.max(0, Math.floor((from - span) / coarse) * coarse);
  const hi = Math.min(n, Math.ceil((to + span) / coarse) * coarse);
  const starts = [];
  for (let i = 0; i < lo; i += coarse) starts.push(i);
  for (let i = lo; i < hi; i += fine) starts.push(i);
  for (let i = hi; i < n; i += coarse) starts.push(i);
  return { starts: Int32Array.from(starts), lo, hi, fine, n };
}

// Values of `values` per bucket: "first", "last", "max", "min" or "sum".
export function bucket(values, p, how) {
  const { starts, n } = p;
  const out = new Float64Array(starts.length);
  for (let k = 0; k < starts.length; k++) {
    const a = starts[k];
    const b = k + 1 < starts.length ? starts[k + 1] : n;
    if (how === "first") out[k] = values[a];
    else if (how === "last") out[k] = values[b - 1];
    else {
      let acc = values[a];
      for (let i = a + 1; i < b; i++) {
        const v = values[i];
        if (how === "max") acc = v > acc ? v : acc;
        else if (how === "min") acc = v < acc ? v : acc;
        else acc += v;
      }
      out[k] = acc;
    }
  }
  return out;
}

export class Detailed {
  constructor(chart) {
    this.chart = chart;
    this.series = null;
    this.plan = null;
    this.view = null; // [from, to): bar indexes in view
    this.timer = 0;
    this.hint = document.createElement("p");
    this.hint.className = "lab-chart-hint";
    this.hint.hidden = true;
    chart.el.appendChild(this.hint);
    chart.chart.timeScale().subscribeVisibleLogicalRangeChange(() => {
      if (!this.plan) return;
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.settle(), SETTLE_MS);
    });
  }

  budget() {
    return Math.max(MIN_POINTS, Math.round(POINTS_PER_PX * (this.chart.el.clientWidth || 800)));
  }

  // Draws `series`: { t, candles: {o, h, l, c, v} | null, main: values | null,
  // lines: [{ id, pane, color, values, deepest }], trades: Float64Array | null }.
  // `keepView`: the same bars as the last series, so the view stays.
  set(series, keepView) {
    const n = series.t.length;
    this.series = series;
    if (!keepView || !this.view) this.view = [0, n];
    this.draw();
    return this;
  }

  // Shows bars [from, to) (indexes), at full detail where the budget allows.
  show(from, to) {
    const n = this.series.t.length;
    this.view = [Math.max(0, from), Math.min(n, Math.max(to, from + 10))];
    this.draw();
  }

  draw() {
    const s = this.series;
    const c = this.chart;
    const n = s.t.length;
    const p = plan(n, this.budget(), this.view[0], this.view[1]);
    this.plan = p;
    const t = p ? bucket(s.t, p, "first") : s.t;
    if (s.candles) {
      const k = s.candles;
      c.setData(p
        ? { t, o: bucket(k.o, p, "first"), h: bucket(k.h, p, "max"), l: bucket(k.l, p, "min"), c: bucket(k.c, p, "last"), v: bucket(k.v, p, "sum") }
        : { t, o: k.o, h: k.h, l: k.l, c: k.c, v: k.v });
    } else {
      const main = p ? bucket(s.main, p, "last") : s.main;
      c.setData({ t, o: main, h: main, l: main, c: main, v: new Float64Array(t.length) });
    }
    for (const line of s.lines) {
      const values = p ? bucket(line.values, p, line.deepest ? "min" : "last") : line.values;
      c.setLine(line.id, line.pane, line.color, false, t, values);
    }
    if (s.trades) this.drawTrades(t);
    if (p) this.restore();
  }

  // Markers and entry-to-exit lines for the trades in the detail region.
  drawTrades(t) {
    const s = this.series;
    const c = this.chart;
    const trades = s.trades;
    const count = trades.length / TRADE_WIDTH;
    const p = this.plan;
    let first = 0;
    let last = count;
    if (p) {
      // Trades are in time order, entries and exits alike.
      const from = s.t[p.lo];
      const to = s.t[p.hi - 1];
      const exits = { length: count, at: (i) => trades[i * TRADE_WIDTH + EXIT_TS] };
      first = search(exits, from);
      last = search({ length: count, at: (i) => trades[i * TRADE_WIDTH + ENTRY_TS] }, to, true);
    }
    const shown = Math.max(0, last - first);
    if (shown > MAX_TRADES_MARKED) {
      c.setMarkers([]);
      c.setPath("trades", [], []);
      this.hint.textContent = `${shown.toLocaleString("en-US")} trades here: zoom in to see their entries and exits`;
      this.hint.hidden = false;
      return;
    }
    this.hint.hidden = true;
    // A trade's time as drawn: its bucket's first bar's time.
    const at = (ts) => {
      if (!p) return ts;
      const k = Math.max(0, upperBound(p.starts, lowerBound(s.t, ts)) - 1);
      return t[k];
    };
    const markers = [];
    const points = [];
    const colors = [];
    for (let i = first; i < last; i++) {
      const r = i * TRADE_WIDTH;
      const long = trades[r + SIDE] > 0;
      const entry = at(trades[r + ENTRY_TS]);
      const exit = at(trades[r + EXIT_TS]);
      markers.push({ t: entry, buy: long, id: `entry-${i}` });
      if (trades[r + EXIT] !== END_OF_DATA) markers.push({ t: exit, buy: !long, id: `exit-${i}` });
      points.push(entry, trades[r + ENTRY_PRICE], exit, trades[r + EXIT_PRICE]);
      colors.push(trades[r + PNL] >= 0 ? c.colors.up : c.colors.down);
    }
    markers.sort((a, b) => a.t - b.t);
    c.setMarkers(markers);
    c.setPath("trades", points, colors);
  }

  // The logical range (drawn point positions) showing bars [from, to).
  logical(from, to) {
    const p = this.plan;
    const at = (x) => {
      const k = Math.max(0, upperBound(p.starts, Math.floor(x)) - 1);
      const a = p.starts[k];
      const b = k + 1 < p.starts.length ? p.starts[k + 1] : p.n;
      return k + (x - a) / (b - a);
    };
    return { from: at(from), to: at(Math.max(from, to - 1)) };
  }

  // The bars [from, to) a logical range shows.
  bars(range) {
    const p = this.plan;
    const m = p.starts.length;
    const at = (l) => {
      const k = Math.min(m - 1, Math.max(0, Math.floor(l)));
      const a = p.starts[k];
      const b = k + 1 < m ? p.starts[k + 1] : p.n;
      return Math.min(p.n, Math.max(0, a + (Math.min(Math.max(l, 0), m) - k) * (b - a)));
    };
    return [Math.floor(at(range.from)), Math.ceil(at(range.to)) + 1];
  }

  restore() {
    this.chart.chart.timeScale().setVisibleLogicalRange(this.logical(this.view[0], this.view[1]));
  }

  // After a zoom or pan: redraws when the view left the detail region or
  // wants a different bucket size.
  settle() {
    const p = this.plan;
    const range = this.chart.chart.timeScale().getVisibleLogicalRange();
    if (!p || !range) return;
    const [from, to] = this.bars(range);
    this.view = [from, to];
    const wanted = Math.max(1, Math.ceil((to - from) / this.budget()));
    const outside = (from < p.lo && p.lo > 0) || (to > p.hi && p.hi < p.n);
    if (outside || wanted < p.fine / 1.5 || wanted > p.fine * 3) this.draw();
  }
}

function upperBound(a, x) {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (a[mid] <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

// The first index whose value is at least `x` (or, `after`, above it) in a
// sorted sequence read through `at`.
function search(seq, x, after = false) {
  let lo = 0;
  let hi = seq.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    const v = seq.at(mid);
    if (v < x || (after && v === x)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
