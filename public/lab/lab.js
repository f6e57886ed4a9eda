// The backtest lab's browser side: a pool of Web Workers running quant in
// wasm (worker.js), and the lab's two charts drawn with the chart adapter.
// Published as `globalThis.FinstageLab`; the page (app/src/pages/lab/) owns
// the form, the URL and the tables, and calls in here to load bars, run,
// sweep and cancel.
//
// - Bars are fetched once per (symbol, timeframe, range) in the packed binary
//   form (quant/src/pack.rs) and handed to each worker, which decodes them.
// - A backtest runs in worker 0; the answer's long arrays (equity, trades)
//   arrive as transferred Float64Arrays. Buy-and-hold and the drawdown are
//   derived here from the closes and the equity. The charts draw them through
//   a level of detail (detail.js), so a million bars cost what a few thousand do.
// - A sweep hands out chunks of combinations to every worker as each becomes
//   free, sized to take about 50 ms, so progress arrives several times a
//   second and the pool stays busy. Cancelling terminates the workers at once
//   (a busy worker cannot read a message); new ones are started on the next
//   request and given the bars again.

import "../chart/finchart.js";
import { Detailed, TRADE_WIDTH, lowerBound } from "./detail.js";

const WORKER_URL = new URL("./worker.js", import.meta.url);
const CHUNK_MS = 50;

// One worker and its pending requests.
class Lane {
  constructor() {
    this.worker = new Worker(WORKER_URL, { type: "module" });
    this.pending = new Map();
    this.nextId = 1;
    this.version = -1;
    this.worker.onmessage = (event) => {
      const { id, ok, result, error } = event.data;
      const waiter = this.pending.get(id);
      if (!waiter) return;
      this.pending.delete(id);
      if (ok) waiter.resolve(result);
      else waiter.reject(new Error(error));
    };
    this.worker.onerror = (event) => {
      event.preventDefault();
      this.fail(new Error(event.message || "the lab's worker failed to start"));
    };
  }

  call(op, args, transfer = []) {
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, op, args }, transfer);
    });
  }

  fail(error) {
    for (const waiter of this.pending.values()) waiter.reject(error);
    this.pending.clear();
  }

  terminate() {
    this.worker.terminate();
    this.fail(new Error("cancelled"));
  }
}

class Lab {
  constructor() {
    this.size = Math.max(1, navigator.hardwareConcurrency || 1);
    this.lanes = [];
    this.packed = null;
    this.version = 0;
    this.columns = null;
    this.rowWidth = 0;
    this.sweepToken = null;
    this.charts = new Map(); // element -> FinChart
  }

  // A worker holding the current bars; returns the columns when it had to load them.
  async lane(i) {
    if (!this.lanes[i]) this.lanes[i] = new Lane();
    const lane = this.lanes[i];
    if (lane.version !== this.version && this.packed) {
      const copy = this.packed.slice(0);
      const version = this.version;
      const columns = await lane.call("load", { packed: copy }, [copy]);
      lane.version = version;
      if (i === 0) this.columns = columns;
    }
    return lane;
  }

  // Fetches packed bars and loads them into the first worker. Resolves with
  // { bars, first, last, bytes, fetchMs, decodeMs }.
  async load(url) {
    const started = performance.now();
    // The first worker starts (and warms its engine up) while the bars download.
    if (!this.lanes[0]) this.lanes[0] = new Lane();
    const response = await fetch(url);
    if (!response.ok) {
      let message = response.statusText;
      try {
        message = (await response.json()).error?.message ?? message;
      } catch {}
      throw new Error(message);
    }
    this.packed = await response.arrayBuffer();
    const fetched = performance.now();
    this.version += 1;
    await this.lane(0);
    const t = this.columns.time;
    return {
      bars: t.length,
      first: t.length ? t[0] : 0,
      last: t.length ? t[t.length - 1] : 0,
      bytes: this.packed.byteLength,
      fetchMs: fetched - started,
      decodeMs: performance.now() - fetched,
    };
  }

  // Runs a backtest (`settings`: JSON text) and draws it. Resolves with the
  // summary JSON text once the charts have their data (painted in the next
  // frame); `timing` holds the engine's and the whole call's times, `trades` and
  // `months` the run's trades and monthly returns (quant::backtest::columns).
  async backtest(settings, priceEl, equityEl) {
    const started = performance.now();
    const lane = await this.lane(0);
    const result = await lane.call("backtest", { settings });
    const summary = JSON.parse(result.json);
    this.trades = result.trades;
    this.months = result.months;
    const same = this.drawnVersion === this.version;
    this.drawnVersion = this.version;
    if (priceEl) this.drawPrice(priceEl, result.trades, same);
    if (equityEl) this.drawEquity(equityEl, result.equity, summary.cash, same);
    // Not waiting for the charts' frame: the page renders its tables now, and
    // the next frame paints both together.
    this.timing = { engineMs: result.ms, totalMs: performance.now() - started };
    return result.json;
  }

  // Trades `start..start + count` of the last run, TRADE_WIDTH values each.
  tradeRows(start, count) {
    const t = this.trades ?? new Float64Array(0);
    return t.slice(start * TRADE_WIDTH, (start + count) * TRADE_WIDTH);
  }

  // The last run's monthly returns: year, month, return for each month.
  monthRows() {
    return this.months ?? new Float64Array(0);
  }

  get tradeCount() {
    return (this.trades?.length ?? 0) / TRADE_WIDTH;
  }

  // The last run's hashes, JSON text of { metrics, trades, equity }.
  async fingerprint() {
    const lane = await this.lane(0);
    return lane.call("fingerprint", {});
  }

  // A run's equity without drawing it (for comparisons): { time, equity }.
  async curve(settings) {
    const lane = await this.lane(0);
    const result = await lane.call("backtest", { settings });
    return { time: this.columns.time, equity: result.equity };
  }

  // Overlays runs' equity curves as growth of one unit of cash. `runs` is
  // [{ name, time, equity, cash }]; the first is the main line.
  drawCompare(el, runs) {
    const chart = this.chart(el);
    chart.volume.applyOptions({ visible: false });
    chart.setMode("line");
    for (const id of [...chart.lines.keys()]) chart.removeLine(id);
    const palette = [chart.colors.accent, "#f5a524", "#b26ef7", "#2ebdbd"];
    runs.forEach((run, i) => {
      const growth = Float64Array.from(run.equity, (e) => e / run.cash);
      if (i === 0) {
        chart.setData({ t: run.time, o: growth, h: growth, l: growth, c: growth, v: new Float64Array(growth.length) });
      } else {
        chart.setLine(`run-${i}`, null, palette[i % palette.length], false, run.time, growth);
      }
    });
    chart.chart.timeScale().fitContent();
  }

  // What the last backtest has that the server's report (JSON) does not.
  async difference(report) {
    const lane = await this.lane(0);
    return lane.call("difference", { report });
  }

  chart(el) {
    // Charts whose element left the page (a re-rendered view) go first.
    for (const [old, c] of this.charts) {
      if (!old.isConnected) {
        c.destroy();
        this.charts.delete(old);
      }
    }
    let chart = this.charts.get(el);
    if (!chart || !el.isConnected) {
      chart = globalThis.FinstageChart.create(el, this.intraday());
      this.charts.set(el, chart);
    }
    return chart;
  }

  intraday() {
    const t = this.columns?.time;
    return !!t && t.length > 1 && t[1] - t[0] < 86_400;
  }

  detail(el) {
    const chart = this.chart(el);
    chart.detail ??= new Detailed(chart);
    return chart.detail;
  }

  // Candles with an arrow at every entry and exit and a dashed line from each
  // entry to its exit, green for a winner and red for a loser.
  drawPrice(el, trades, same) {
    const k = this.columns;
    const detail = this.detail(el);
    detail.set({ t: k.time, candles: { o: k.open, h: k.high, l: k.low, c: k.close, v: k.volume }, lines: [], trades }, same);
    this.fitOnce(detail.chart);
  }

  // The whole run in view the first time a series is drawn; later runs keep
  // whatever the user zoomed to.
  fitOnce(chart) {
    if (chart.fittedVersion === this.version) return;
    chart.fittedVersion = this.version;
    chart.chart.timeScale().fitContent();
  }

  // The strategy's equity as the main line, buy-and-hold (`cash` in the
  // first close, as quant::backtest::buy_and_hold) beside it, and the
  // drawdown (percent under the running peak, as quant::backtest::underwater)
  // in a pane below.
  drawEquity(el, equity, cash, same) {
    const detail = this.detail(el);
    const chart = detail.chart;
    chart.volume.applyOptions({ visible: false });
    chart.setMode("line");
    const close = this.columns.close;
    const n = equity.length;
    const hold = new Float64Array(n);
    const depth = new Float64Array(n);
    let peak = -Infinity;
    for (let i = 0; i < n; i++) {
      hold[i] = cash * (close[i] / close[0]);
      peak = Math.max(peak, equity[i]);
      depth[i] = -100 * (peak > 0 ? 1 - equity[i] / peak : 0);
    }
    detail.set({
      t: this.columns.time,
      candles: null,
      main: equity,
      lines: [
        { id: "hold", pane: null, color: chart.colors.text, values: hold },
        { id: "drawdown", pane: "drawdown", color: chart.colors.down, values: depth, deepest: true },
      ],
      trades: null,
    }, same);
    this.fitOnce(chart);
  }

  // Shows a trade (its entry and exit times) on the price chart with some
  // bars either side: half its length, at least ten.
  focus(el, from, to) {
    const chart = this.charts.get(el);
    if (!chart) return;
    const t = this.columns.time;
    const a = lowerBound(t, from);
    const b = Math.max(a, lowerBound(t, to));
    const pad = Math.max(10, Math.round((b - a) / 2));
    if (chart.detail?.plan) chart.detail.show(a - pad, b + pad + 1);
    else chart.chart.timeScale().setVisibleLogicalRange({ from: Math.max(0, a - pad), to: Math.min(t.length - 1, b + pad) });
  }

  // Runs `total` combinations over every worker. `onProgress(done, total,
  // elapsedMs)` is called as chunks finish. Resolves with { rows, width,
  // done, cancelled, ms }: `width` values per combination, by grid position.
  async sweep(settings, grid, metric, total, onProgress) {
    const token = {};
    this.sweepToken = token;
    const started = performance.now();
    if (!this.rowWidth) this.rowWidth = (await (await this.lane(0)).call("columns", {})).length;
    const width = this.rowWidth;
    const rows = new Float64Array(total * width).fill(NaN);
    let next = 0;
    let done = 0;
    let chunk = 4;
    const work = async (i) => {
      const lane = await this.lane(i);
      while (next < total && this.sweepToken === token) {
        const start = next;
        const end = Math.min(total, start + chunk);
        next = end;
        const answer = await lane.call("sweep", { settings, grid, metric, start, end });
        if (this.sweepToken !== token) return;
        rows.set(answer.rows, start * width);
        done += end - start;
        const perCombo = answer.ms / Math.max(1, end - start);
        chunk = Math.max(1, Math.min(5_000, Math.round(CHUNK_MS / Math.max(perCombo, 0.001))));
        onProgress(done, total, performance.now() - started);
      }
    };
    const lanes = Array.from({ length: Math.min(this.size, Math.max(1, total)) }, (_, i) => work(i));
    const outcome = await Promise.allSettled(lanes);
    const cancelled = this.sweepToken !== token;
    const failure = outcome.find((o) => o.status === "rejected");
    if (failure && !cancelled) throw failure.reason;
    if (this.sweepToken === token) this.sweepToken = null;
    return { rows, width, done, cancelled, ms: performance.now() - started };
  }

  // A walk-forward validation in the first worker; cancel() stops it too.
  // Resolves with { json, ms, cancelled }.
  async walkForward(settings, grid, metric, train, test, anchored) {
    const token = {};
    this.sweepToken = token;
    const lane = await this.lane(0);
    try {
      const answer = await lane.call("walkForward", { settings, grid, metric, train, test, anchored });
      return { ...answer, cancelled: false };
    } catch (error) {
      if (this.sweepToken !== token) return { json: "null", ms: 0, cancelled: true };
      throw error;
    } finally {
      if (this.sweepToken === token) this.sweepToken = null;
    }
  }

  // The stitched out-of-sample equity beside what the hindsight-best
  // combination did over the same bars, from bar `start` on.
  drawWalkForward(el, start, oos, inSample) {
    const chart = this.chart(el);
    chart.volume.applyOptions({ visible: false });
    chart.setMode("line");
    const t = this.columns.time.subarray(start, start + oos.length);
    const values = Float64Array.from(oos);
    chart.setData({ t, o: values, h: values, l: values, c: values, v: new Float64Array(t.length) });
    chart.setLine("in-sample", null, chart.colors.text, false, t, Float64Array.from(inSample));
    chart.chart.timeScale().fitContent();
  }

  // Stops a running sweep now: its workers are terminated.
  cancel() {
    if (!this.sweepToken) return false;
    this.sweepToken = null;
    for (const lane of this.lanes) lane?.terminate();
    this.lanes = [];
    return true;
  }
}

// Colour of a score on a red (worst) to green (best) scale; grey when undefined.
function shade(t, colors) {
  if (!Number.isFinite(t)) return colors.line;
  const mix = (a, b) => Math.round(a + (b - a) * t);
  const [r0, g0, b0] = [0xf6, 0x46, 0x5d];
  const [r1, g1, b1] = [0x2e, 0xbd, 0x85];
  return `rgb(${mix(r0, r1)}, ${mix(g0, g1)}, ${mix(b0, b1)})`;
}

function themeColors() {
  const css = getComputedStyle(document.documentElement);
  const read = (name, fallback) => css.getPropertyValue(name).trim() || fallback;
  return { text: read("--text", "#e6edf3"), muted: read("--muted", "#8b98a5"), line: read("--line", "#26303b"), accent: read("--accent", "#4aa3ff") };
}

// Draws a sweep: a heatmap of `scores` (row-major, `nx` columns by `ny`
// rows; y grows upwards) or, with one row, a line of score against x. `best`
// and `cursor` are cell indexes to outline. Returns the plot's geometry, which
// `cellAt` uses to turn a pointer position into a cell.
function drawSweep(canvas, scores, nx, ny, xLabels, yLabels, lowerBetter, best, cursor) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth;
  const height = canvas.clientHeight;
  canvas.width = Math.round(width * ratio);
  canvas.height = Math.round(height * ratio);
  const g = canvas.getContext("2d");
  g.setTransform(ratio, 0, 0, ratio, 0, 0);
  g.clearRect(0, 0, width, height);
  const colors = themeColors();
  const finite = Array.from(scores).filter(Number.isFinite);
  const lo = finite.length ? Math.min(...finite) : 0;
  const hi = finite.length ? Math.max(...finite) : 1;
  const norm = (v) => (hi > lo ? (lowerBetter ? (hi - v) / (hi - lo) : (v - lo) / (hi - lo)) : 0.5);
  const plot = { left: 56, top: 10, right: width - 70, bottom: height - 34, nx, ny };
  g.font = "11px system-ui, sans-serif";
  g.fillStyle = colors.muted;
  const every = (n, room) => Math.max(1, Math.ceil(n / Math.max(1, Math.floor(room / 42))));
  if (ny > 1) {
    const cw = (plot.right - plot.left) / nx;
    const ch = (plot.bottom - plot.top) / ny;
    // Whole-pixel edges, so neighbouring cells meet without hairline gaps.
    const xs = Array.from({ length: nx + 1 }, (_, i) => Math.round(plot.left + i * cw));
    const ys = Array.from({ length: ny + 1 }, (_, j) => Math.round(plot.bottom - j * ch));
    for (let j = 0; j < ny; j++) {
      for (let i = 0; i < nx; i++) {
        g.fillStyle = shade(norm(scores[i * ny + j]), colors);
        g.fillRect(xs[i], ys[j + 1], xs[i + 1] - xs[i], ys[j] - ys[j + 1]);
      }
    }
    g.fillStyle = colors.muted;
    g.textAlign = "center";
    for (let i = 0; i < nx; i += every(nx, plot.right - plot.left)) g.fillText(xLabels[i], plot.left + (i + 0.5) * cw, plot.bottom + 14);
    g.textAlign = "right";
    for (let j = 0; j < ny; j += every(ny, (plot.bottom - plot.top) * 1.8)) g.fillText(yLabels[j], plot.left - 6, plot.bottom - (j + 0.5) * ch + 4);
    const outline = (cell, color, lineWidth) => {
      if (cell < 0) return;
      const i = Math.floor(cell / ny);
      const j = cell % ny;
      g.strokeStyle = color;
      g.lineWidth = lineWidth;
      g.strokeRect(plot.left + i * cw + 1, plot.bottom - (j + 1) * ch + 1, cw - 2, ch - 2);
    };
    outline(best, colors.text, 2);
    outline(cursor, colors.accent, 2);
  } else {
    const x = (i) => plot.left + ((i + 0.5) / nx) * (plot.right - plot.left);
    const y = (v) => plot.bottom - (hi > lo ? (v - lo) / (hi - lo) : 0.5) * (plot.bottom - plot.top);
    g.strokeStyle = colors.accent;
    g.lineWidth = 2;
    g.beginPath();
    let pen = false;
    for (let i = 0; i < nx; i++) {
      if (!Number.isFinite(scores[i])) { pen = false; continue; }
      if (pen) g.lineTo(x(i), y(scores[i]));
      else g.moveTo(x(i), y(scores[i]));
      pen = true;
    }
    g.stroke();
    g.textAlign = "center";
    for (let i = 0; i < nx; i += every(nx, plot.right - plot.left)) g.fillText(xLabels[i], x(i), plot.bottom + 14);
    g.textAlign = "right";
    g.fillText(hi.toPrecision(3), plot.left - 6, plot.top + 8);
    g.fillText(lo.toPrecision(3), plot.left - 6, plot.bottom);
    for (const [cell, color] of [[best, colors.text], [cursor, colors.accent]]) {
      if (cell < 0 || !Number.isFinite(scores[cell])) continue;
      g.fillStyle = color;
      g.beginPath();
      g.arc(x(cell), y(scores[cell]), 4, 0, 2 * Math.PI);
      g.fill();
    }
  }
  // The colour scale, best at the top.
  const bar = { left: width - 52, top: plot.top, width: 12, height: plot.bottom - plot.top };
  if (ny > 1) {
    for (let k = 0; k < bar.height; k++) {
      g.fillStyle = shade(1 - k / bar.height, colors);
      g.fillRect(bar.left, bar.top + k, bar.width, 1);
    }
    g.fillStyle = colors.muted;
    g.textAlign = "left";
    g.fillText((lowerBetter ? lo : hi).toPrecision(3), bar.left + 15, bar.top + 8);
    g.fillText((lowerBetter ? hi : lo).toPrecision(3), bar.left + 15, bar.top + bar.height);
  }
  return plot;
}

// The cell under a point of the canvas (CSS pixels), or -1.
function cellAt(plot, x, y) {
  if (!plot || x < plot.left || x > plot.right || y < plot.top || y > plot.bottom) return -1;
  const i = Math.min(plot.nx - 1, Math.floor(((x - plot.left) / (plot.right - plot.left)) * plot.nx));
  if (plot.ny <= 1) return i;
  const j = Math.min(plot.ny - 1, Math.floor(((plot.bottom - y) / (plot.bottom - plot.top)) * plot.ny));
  return i * plot.ny + j;
}

globalThis.FinstageLab = { create: () => new Lab(), drawSweep, cellAt };
