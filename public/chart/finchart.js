// Finstage's adapter around TradingView Lightweight Charts (Apache-2.0).
//
// The Rust side (app/src/components/chart/) owns the data and the decisions:
// which bars, which indicator series in which pane, which markers, what the
// legend says. This module only turns the columns it is handed into the
// library's objects and forwards the library's events, so that the wasm side
// crosses into JavaScript a handful of times per update instead of once per
// bar and field.
//
// It is loaded on demand (a module script added by the chart component), never
// on pages without a chart, and publishes itself as `globalThis.FinstageChart`.

import {
  AreaSeries,
  CandlestickSeries,
  ColorType,
  CrosshairMode,
  HistogramSeries,
  LineSeries,
  createChart,
  createSeriesMarkers,
} from "../vendor/lightweight-charts.mjs";

const VOLUME_SCALE = "volume";

// The page's theme colours (CSS custom properties on :root).
function palette() {
  const css = getComputedStyle(document.documentElement);
  const read = (name, fallback) => css.getPropertyValue(name).trim() || fallback;
  return {
    bg: read("--panel", "#161c23"),
    text: read("--muted", "#8b98a5"),
    line: read("--line", "#26303b"),
    up: read("--up", "#2ebd85"),
    down: read("--down", "#f6465d"),
    accent: read("--accent", "#4aa3ff"),
  };
}

// Fades a #rrggbb colour to the given opacity (volume bars sit behind candles).
function fade(hex, alpha) {
  const m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(hex);
  if (!m) return hex;
  return `rgba(${parseInt(m[1], 16)}, ${parseInt(m[2], 16)}, ${parseInt(m[3], 16)}, ${alpha})`;
}

// The first value of the sorted array `sorted` above `x`, by bisection.
function firstAfter(sorted, x) {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] > x) hi = mid;
    else lo = mid + 1;
  }
  return sorted[lo];
}

class FinChart {
  // `intraday`: the crosshair's time label shows hours and minutes (else the date only).
  constructor(el, intraday) {
    this.el = el;
    this.colors = palette();
    this.mode = "candles";
    this.columns = { t: [], o: [], h: [], l: [], c: [], v: [] };
    this.lines = new Map(); // id -> { series, pane }
    this.panes = new Map(); // key -> IPaneApi
    this.markers = [];
    this.priceLines = [];
    this.chart = createChart(el, {
      autoSize: true,
      layout: { attributionLogo: true, fontFamily: getComputedStyle(el).fontFamily },
      crosshair: { mode: CrosshairMode.Normal },
      rightPriceScale: { borderVisible: false },
      timeScale: { borderVisible: false, timeVisible: true, secondsVisible: false, rightOffset: 4 },
      // Bars are UTC and shown as such.
      localization: {
        timeFormatter: (t) => new Date(t * 1000).toISOString().slice(0, intraday ? 16 : 10).replace("T", " "),
      },
    });
    this.volume = this.chart.addSeries(HistogramSeries, {
      priceScaleId: VOLUME_SCALE,
      priceFormat: { type: "volume" },
      lastValueVisible: false,
      priceLineVisible: false,
    });
    this.chart.priceScale(VOLUME_SCALE).applyOptions({ scaleMargins: { top: 0.8, bottom: 0 } });
    this.price = null;
    this.addPriceSeries();
    this.applyTheme();
    this.media = window.matchMedia("(prefers-color-scheme: light)");
    this.onMedia = () => {
      this.colors = palette();
      this.applyTheme();
      this.setData(this.columns);
    };
    this.media.addEventListener("change", this.onMedia);
  }

  applyTheme() {
    const c = this.colors;
    this.chart.applyOptions({
      grid: { vertLines: { color: fade(c.line, 0.5) }, horzLines: { color: fade(c.line, 0.5) } },
      layout: { background: { type: ColorType.Solid, color: c.bg }, textColor: c.text, panes: { separatorColor: c.line, separatorHoverColor: fade(c.accent, 0.3) } },
    });
    if (this.mode === "candles") {
      this.price.applyOptions({ upColor: c.up, downColor: c.down, wickUpColor: c.up, wickDownColor: c.down, borderVisible: false });
    } else if (this.mode === "line") {
      this.price.applyOptions({ color: c.accent });
    } else {
      this.price.applyOptions({ lineColor: c.accent, topColor: fade(c.accent, 0.35), bottomColor: fade(c.accent, 0.02) });
    }
  }

  addPriceSeries() {
    const kind = this.mode === "candles" ? CandlestickSeries : this.mode === "line" ? LineSeries : AreaSeries;
    this.price = this.chart.addSeries(kind, { priceLineVisible: true }, 0);
    this.markerPlugin = createSeriesMarkers(this.price, []);
  }

  // Candles, line or area; keeps data, markers and price lines.
  setMode(mode) {
    if (mode === this.mode) return;
    const range = this.chart.timeScale().getVisibleLogicalRange();
    this.chart.removeSeries(this.price);
    this.mode = mode;
    this.addPriceSeries();
    this.applyTheme();
    this.setData(this.columns);
    this.setMarkers(this.markers);
    this.setPriceLines(this.priceLines);
    if (range) this.chart.timeScale().setVisibleLogicalRange(range);
  }

  // 0 normal, 1 logarithmic, 2 percent.
  setScale(mode) {
    this.chart.priceScale("right", 0).applyOptions({ mode });
  }

  priceItem(i) {
    const k = this.columns;
    return this.mode === "candles"
      ? { time: k.t[i], open: k.o[i], high: k.h[i], low: k.l[i], close: k.c[i] }
      : { time: k.t[i], value: k.c[i] };
  }

  volumeItem(i) {
    const k = this.columns;
    return { time: k.t[i], value: k.v[i], color: fade(k.c[i] >= k.o[i] ? this.colors.up : this.colors.down, 0.45) };
  }

  // The whole series; `columns` holds arrays of equal length, t in Unix seconds.
  setData(columns) {
    const k = {};
    for (const key of ["t", "o", "h", "l", "c", "v"]) k[key] = Array.from(columns[key]);
    this.columns = k;
    const n = k.t.length;
    const price = new Array(n);
    const volume = new Array(n);
    for (let i = 0; i < n; i++) {
      price[i] = this.priceItem(i);
      volume[i] = this.volumeItem(i);
    }
    this.price.setData(price);
    this.volume.setData(volume);
  }

  // Older bars put in front of the held ones; the view stays on the same bars.
  prepend(columns, count) {
    const range = this.chart.timeScale().getVisibleLogicalRange();
    this.setData(columns);
    if (range) this.chart.timeScale().setVisibleLogicalRange({ from: range.from + count, to: range.to + count });
  }

  // The forming bar changed (`appended` false: same time as the last) or a
  // new bar opened after it.
  updateBar(t, o, h, l, c, v, appended) {
    const k = this.columns;
    const i = appended ? k.t.length : k.t.length - 1;
    k.t[i] = t; k.o[i] = o; k.h[i] = h; k.l[i] = l; k.c[i] = c; k.v[i] = v;
    this.price.update(this.priceItem(i));
    this.volume.update(this.volumeItem(i));
  }

  // A series of one indicator output: a line, or columns from zero when
  // `histogram`. `pane` is null for the price pane, else a key naming a pane of
  // its own below. Every value is finite (the Rust side leaves out warm-up).
  setLine(id, pane, color, histogram, t, values) {
    const data = new Array(t.length);
    for (let i = 0; i < t.length; i++) {
      data[i] = histogram
        ? { time: t[i], value: values[i], color: fade(values[i] >= 0 ? this.colors.up : this.colors.down, 0.6) }
        : { time: t[i], value: values[i] };
    }
    let entry = this.lines.get(id);
    if (!entry) {
      let index = 0;
      if (pane !== null && pane !== undefined) {
        const existing = this.panes.get(pane);
        index = existing ? existing.paneIndex() : this.chart.panes().length;
      }
      // The legend names the series; the axis shows only their values, in
      // their colours (titles there crowd a phone-width chart).
      const options = { title: "", priceLineVisible: false, lastValueVisible: !histogram };
      const series = histogram
        ? this.chart.addSeries(HistogramSeries, options, index)
        : this.chart.addSeries(LineSeries, { ...options, color, lineWidth: 2, crosshairMarkerVisible: false }, index);
      if (pane !== null && pane !== undefined && !this.panes.has(pane)) {
        const api = series.getPane();
        api.setStretchFactor(0.35);
        this.panes.set(pane, api);
      }
      entry = { series, pane };
      this.lines.set(id, entry);
    }
    entry.histogram = histogram;
    entry.series.setData(data);
  }

  // Separate line segments in the price pane (the lab's entry-to-exit lines):
  // `points` is [t0, v0, t1, v1, ...] with a segment from each even pair to the
  // next; `colors` has one colour per segment. Segments are kept apart by
  // whitespace points, and a point at the time of the previous one (a
  // reversal's exit and entry) is dropped, as the library needs rising times.
  setPath(id, points, colors) {
    const data = [];
    let last = -Infinity;
    for (let s = 0; s * 4 + 3 < points.length; s++) {
      const [t0, v0, t1, v1] = [points[s * 4], points[s * 4 + 1], points[s * 4 + 2], points[s * 4 + 3]];
      if (t0 > last) data.push({ time: t0, value: v0, color: colors[s] });
      else if (data.length) data[data.length - 1].color = colors[s];
      if (t1 > Math.max(t0, last)) data.push({ time: t1, value: v1, color: colors[s] });
      last = Math.max(last, t1);
      const next = s * 4 + 4 < points.length ? points[s * 4 + 4] : Infinity;
      // Whitespace between two segments that do not touch: the gap stays empty.
      const gap = firstAfter(this.columns.t, last);
      if (gap !== undefined && gap < next) {
        data.push({ time: gap });
        last = gap;
      }
    }
    let entry = this.lines.get(id);
    if (!entry) {
      const series = this.chart.addSeries(
        LineSeries,
        { title: "", priceLineVisible: false, lastValueVisible: false, lineWidth: 2, lineStyle: 2, crosshairMarkerVisible: false },
        0,
      );
      entry = { series, pane: null };
      this.lines.set(id, entry);
    }
    entry.series.setData(data);
  }

  // Sets the point of a line at time `t` (the last one or a new one; live bars).
  updateLine(id, t, value) {
    const entry = this.lines.get(id);
    if (!entry) return;
    const point = { time: t, value };
    if (entry.histogram) point.color = fade(value >= 0 ? this.colors.up : this.colors.down, 0.6);
    entry.series.update(point);
  }

  removeLine(id) {
    const entry = this.lines.get(id);
    if (!entry) return;
    this.chart.removeSeries(entry.series);
    this.lines.delete(id);
    if (entry.pane !== null && entry.pane !== undefined) {
      const inUse = [...this.lines.values()].some((e) => e.pane === entry.pane);
      if (!inUse) {
        const api = this.panes.get(entry.pane);
        this.panes.delete(entry.pane);
        if (api && this.chart.panes().length > 1) this.chart.removePane(api.paneIndex());
      }
    }
  }

  // Markers: [{ t, buy, id }]; buys below the bar, sells above.
  setMarkers(markers) {
    this.markers = markers;
    const c = this.colors;
    this.markerPlugin.setMarkers(
      markers.map((m) => ({
        time: m.t,
        position: m.buy ? "belowBar" : "aboveBar",
        shape: m.buy ? "arrowUp" : "arrowDown",
        color: m.buy ? c.up : c.down,
        id: m.id,
        size: 1.4,
      })),
    );
  }

  // Horizontal lines: [{ price, title }].
  setPriceLines(lines) {
    for (const line of this.priceLineHandles || []) this.price.removePriceLine(line);
    this.priceLines = lines;
    this.priceLineHandles = lines.map((l) =>
      this.price.createPriceLine({ price: l.price, title: l.title, color: this.colors.text, lineWidth: 1, lineStyle: 2, axisLabelVisible: true }),
    );
  }

  // Calls back with (index of the bar under the cursor or -1, id of the
  // hovered marker or "", x, y) on every crosshair move.
  onCrosshair(callback) {
    this.chart.subscribeCrosshairMove((p) => {
      const index = p.time === undefined || p.logical === undefined ? -1 : Math.round(p.logical);
      const id = typeof p.hoveredObjectId === "string" ? p.hoveredObjectId : "";
      callback(index, id, p.point ? p.point.x : -1, p.point ? p.point.y : -1);
    });
  }

  // Calls back with (id, x, y) when a marker is clicked or tapped.
  onMarkerClick(callback) {
    this.chart.subscribeClick((p) => {
      if (typeof p.hoveredObjectId === "string") callback(p.hoveredObjectId, p.point ? p.point.x : 0, p.point ? p.point.y : 0);
    });
  }

  // Calls back with (from, to) logical indexes whenever the visible range changes.
  onRange(callback) {
    this.chart.timeScale().subscribeVisibleLogicalRangeChange((r) => {
      if (r) callback(r.from, r.to);
    });
  }

  // Shows the bars between two times (Unix seconds), as far as they are held;
  // a range holding fewer than ten of them (a minute range on daily bars)
  // keeps the default view.
  setTimeRange(from, to) {
    const k = this.columns;
    const inside = k.t.filter((t) => t >= from && t <= to).length;
    if (inside < 10) return;
    this.chart.timeScale().setVisibleRange({ from: Math.max(from, k.t[0]), to: Math.min(to, k.t[k.t.length - 1]) });
  }

  // Scrolls to the latest bar, keeping the zoom.
  toRealTime() {
    this.chart.timeScale().scrollToRealTime();
  }

  // Resolves once the frame holding the latest changes has been produced: the
  // library draws in a frame callback registered before this one, and a
  // message posted from this one is handled after that frame.
  painted() {
    return new Promise((resolve) =>
      requestAnimationFrame(() => {
        const channel = new MessageChannel();
        channel.port1.onmessage = () => resolve();
        channel.port2.postMessage(0);
      }),
    );
  }

  // Zooms around the right edge by `factor` (< 1 zooms in).
  zoom(factor) {
    const r = this.chart.timeScale().getVisibleLogicalRange();
    if (!r) return;
    const width = Math.max(5, (r.to - r.from) * factor);
    this.chart.timeScale().setVisibleLogicalRange({ from: r.to - width, to: r.to });
  }

  // Moves the view by a fraction of its width (negative: back in time).
  scroll(fraction) {
    const r = this.chart.timeScale().getVisibleLogicalRange();
    if (!r) return;
    const shift = (r.to - r.from) * fraction;
    this.chart.timeScale().setVisibleLogicalRange({ from: r.from + shift, to: r.to + shift });
  }

  reset() {
    this.chart.timeScale().resetTimeScale();
    this.chart.priceScale("right", 0).applyOptions({ autoScale: true });
  }

  destroy() {
    instances.delete(this);
    this.media.removeEventListener("change", this.onMedia);
    this.chart.remove();
  }
}

// The charts on the page, for the browser tests and benchmarks to inspect.
const instances = new Set();

globalThis.FinstageChart = {
  create(el, intraday) {
    const chart = new FinChart(el, intraday);
    instances.add(chart);
    return chart;
  },
  instances,
};
