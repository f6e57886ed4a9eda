// The backtest lab's browser side: a pool of Web Workers running quant in
// wasm (worker.js), and the lab's two charts drawn with the chart adapter.
// Published as `globalThis.FinstageLab`; the page (app/src/pages/lab/) owns
// the form, the URL and the tables, and calls in here to load bars, run,
// sweep and cancel.
//
// - Bars are fetched once per (symbol, timeframe, range) in the packed binary
//   form (quant/src/pack.rs) and handed to each worker, which decodes them.
// - A backtest runs in worker 0; the answer's long arrays arrive as
//   transferred Float64Arrays and go straight to the charts.
// - A sweep hands out chunks of combinations to every worker as each becomes
//   free, sized to take about 50 ms, so progress arrives several times a
//   second and the pool stays busy. Cancelling terminates the workers at once
//   (a busy worker cannot read a message); new ones are started on the next
//   request and given the bars again.

import "../chart/finchart.js";

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
  // summary JSON text; `timing` holds engine and total times.
  async backtest(settings, priceEl, equityEl) {
    const started = performance.now();
    const lane = await this.lane(0);
    const result = await lane.call("backtest", { settings });
    const summary = JSON.parse(result.json);
    if (priceEl) this.drawPrice(priceEl, summary.trades);
    if (equityEl) this.drawEquity(equityEl, result);
    const charts = [priceEl, equityEl].filter(Boolean).map((el) => this.charts.get(el));
    await Promise.all(charts.map((c) => c.painted()));
    this.timing = { engineMs: result.ms, totalMs: performance.now() - started };
    return result.json;
  }

  // What the last backtest has that the server's report (JSON) does not.
  async difference(report) {
    const lane = await this.lane(0);
    return lane.call("difference", { report });
  }

  chart(el) {
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

  columnsOf(values) {
    const t = this.columns.time;
    return { t, o: values ?? this.columns.open, h: values ?? this.columns.high, l: values ?? this.columns.low, c: values ?? this.columns.close, v: values ? new Float64Array(t.length) : this.columns.volume };
  }

  // Candles with an arrow at every entry and exit and a dashed line from each
  // entry to its exit, green for a winner and red for a loser.
  drawPrice(el, trades) {
    const chart = this.chart(el);
    chart.setData(this.columnsOf(null));
    const markers = [];
    const points = [];
    const colors = [];
    trades.forEach((trade, i) => {
      const long = trade.side === "long";
      markers.push({ t: trade.entry_ts, buy: long, id: `entry-${i}` });
      if (trade.exit !== "end-of-data") markers.push({ t: trade.exit_ts, buy: !long, id: `exit-${i}` });
      points.push(trade.entry_ts, trade.entry_price, trade.exit_ts, trade.exit_price);
      colors.push(trade.pnl >= 0 ? chart.colors.up : chart.colors.down);
    });
    markers.sort((a, b) => a.t - b.t);
    chart.setMarkers(markers);
    chart.setPath("trades", points, colors);
  }

  // The strategy's equity as the main line, buy-and-hold beside it, and the
  // drawdown (percent under the running peak) in a pane below.
  drawEquity(el, result) {
    const chart = this.chart(el);
    chart.setMode("line");
    chart.setData(this.columnsOf(result.equity));
    chart.setLine("hold", null, chart.colors.text, false, this.columns.time, result.hold);
    const depth = result.drawdown.map((d) => -100 * d);
    chart.setLine("drawdown", "drawdown", chart.colors.down, false, this.columns.time, depth);
  }

  // Shows the bars between two times on the price chart.
  focus(el, from, to) {
    const chart = this.charts.get(el);
    if (chart) chart.setTimeRange(from, to);
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

  // Stops a running sweep now: its workers are terminated.
  cancel() {
    if (!this.sweepToken) return false;
    this.sweepToken = null;
    for (const lane of this.lanes) lane?.terminate();
    this.lanes = [];
    return true;
  }
}

globalThis.FinstageLab = { create: () => new Lab() };
