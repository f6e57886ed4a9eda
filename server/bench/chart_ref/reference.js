// Draws `bars` ({t, o, h, l, c, v} columns) the way the symbol page does:
// candles, volume in its own scale, two averages over the price and a
// 14-period RSI in a pane below, each computed here in plain JavaScript, and
// resolves with the milliseconds from the call to the first frame drawn.
import { CandlestickSeries, HistogramSeries, LineSeries, createChart } from "./lightweight-charts.mjs";

function ema(values, n) {
  const out = new Array(values.length).fill(NaN);
  const k = 2 / (n + 1);
  let sum = 0;
  for (let i = 0; i < values.length; i++) {
    if (i < n) {
      sum += values[i];
      if (i === n - 1) out[i] = sum / n;
    } else {
      out[i] = values[i] * k + out[i - 1] * (1 - k);
    }
  }
  return out;
}

function sma(values, n) {
  const out = new Array(values.length).fill(NaN);
  let sum = 0;
  for (let i = 0; i < values.length; i++) {
    sum += values[i];
    if (i >= n) sum -= values[i - n];
    if (i >= n - 1) out[i] = sum / n;
  }
  return out;
}

function rsi(values, n) {
  const out = new Array(values.length).fill(NaN);
  let gain = 0;
  let loss = 0;
  for (let i = 1; i < values.length; i++) {
    const d = values[i] - values[i - 1];
    const g = Math.max(d, 0);
    const l = Math.max(-d, 0);
    if (i <= n) {
      gain += g / n;
      loss += l / n;
    } else {
      gain = (gain * (n - 1) + g) / n;
      loss = (loss * (n - 1) + l) / n;
    }
    if (i >= n) out[i] = loss === 0 ? 100 : 100 - 100 / (1 + gain / loss);
  }
  return out;
}

const points = (t, values) => values.flatMap((v, i) => (Number.isFinite(v) ? [{ time: t[i], value: v }] : []));

window.draw = (bars) => {
  const start = performance.now();
  const el = document.getElementById("chart");
  el.replaceChildren();
  const chart = createChart(el, { autoSize: true });
  const n = bars.t.length;
  const candles = new Array(n);
  const volume = new Array(n);
  for (let i = 0; i < n; i++) {
    candles[i] = { time: bars.t[i], open: bars.o[i], high: bars.h[i], low: bars.l[i], close: bars.c[i] };
    volume[i] = { time: bars.t[i], value: bars.v[i], color: bars.c[i] >= bars.o[i] ? "rgba(46,189,133,.45)" : "rgba(246,70,93,.45)" };
  }
  chart.addSeries(CandlestickSeries).setData(candles);
  chart.addSeries(HistogramSeries, { priceScaleId: "volume" }).setData(volume);
  chart.priceScale("volume").applyOptions({ scaleMargins: { top: 0.8, bottom: 0 } });
  chart.addSeries(LineSeries, { color: "#f0a202" }).setData(points(bars.t, ema(bars.c, 50)));
  chart.addSeries(LineSeries, { color: "#7b61ff" }).setData(points(bars.t, sma(bars.c, 200)));
  chart.addSeries(LineSeries, { color: "#00a6a6" }, 1).setData(points(bars.t, rsi(bars.c, 14)));
  return new Promise((resolve) =>
    requestAnimationFrame(() => {
      const channel = new MessageChannel();
      channel.port1.onmessage = () => {
        resolve(performance.now() - start);
        chart.remove();
      };
      channel.port2.postMessage(0);
    }),
  );
};
window.ready = true;
