// The chart's benchmarks in Chromium (run by server/bench/chart.sh, which
// prepares the server and its data). Every figure comes from the page's own
// clock (performance.now and the Performance API), read through Playwright.
//
// - render: `finchart:render`, measured by the app from the moment the bars
//   are in the browser (the chart's model is created during hydration) to the
//   first frame that shows them, with volume, two overlays (EMA(50), SMA(200))
//   and an RSI(14) pane over 10,000 daily bars; `finchart:draw` is the part after the
//   drawing library has loaded. Cold: a new browser context (nothing cached);
//   warm: a reload of the same page.
// - pan/zoom: main-thread work per frame over 50,000 one-minute bars (the
//   page starts with 10,000 and pages in the rest as it scrolls back), while
//   the mouse wheel zooms and drags pan: the time spent in frame callbacks
//   (where the library draws) plus the input handlers since the previous frame.
// - live: the main-thread time of each WebSocket message carrying a 1d bar of
//   the charted symbol (the listener, then the decoding, the model and the
//   library's update in the microtasks it queues), and, apart, the work of
//   the frames the library draws meanwhile.
// - first load: bytes as sent (HTML and every same-origin file, compressed)
//   and time to hydrated (the hydrated page opens its live feed: the time of
//   `new WebSocket`), for `/` and `/symbol/AAPL` (there once the chart is drawn).
const { chromium } = require("@playwright/test");

// BASE: the server; RUNS: page loads per figure; ONLY: one part.
const BASE = process.env.BASE ?? "http://127.0.0.1:3191";
const RUNS = Number(process.env.RUNS ?? 7);

// Installed before any page script: times frame callbacks, input handlers and
// WebSocket messages, and notes when the first WebSocket is created.
function instrument() {
  const frames = [];
  let pendingInput = 0;
  const nativeRaf = window.requestAnimationFrame.bind(window);
  const perFrame = new Map();
  window.requestAnimationFrame = (callback) =>
    nativeRaf((ts) => {
      const start = performance.now();
      try {
        callback(ts);
      } finally {
        perFrame.set(ts, (perFrame.get(ts) ?? 0) + performance.now() - start);
      }
    });
  // One frame callback of our own per frame closes the accounts of the frames
  // before it (callbacks registered after it in a frame run after it).
  const tick = (ts) => {
    for (const [frame, work] of perFrame) {
      if (frame < ts) {
        frames.push({ ts: frame, work: work + pendingInput });
        pendingInput = 0;
        perFrame.delete(frame);
      }
    }
    if (frames.length > 20000) frames.splice(0, frames.length - 20000);
    nativeRaf(tick);
  };
  nativeRaf(tick);
  const timed = new Set(["wheel", "mousemove", "mousedown", "mouseup", "pointermove", "pointerdown", "pointerup", "touchmove"]);
  const messages = [];
  // A WebSocket message: its handling time, by the message's type.
  // The listener only queues the message; the app decodes and applies it in
  // the microtasks that follow (gloo-net's stream, then the app's task), all
  // before the task ends. The clock stops at the end of a chain of 20
  // microtasks queued after the listener returns: after the app's work
  // however it awaits internally, and before any frame or other task.
  const timeMessage = (handler, target, event) => {
    const start = performance.now();
    const result = handler.call(target, event);
    let hops = 20;
    const hop = () => {
      if (--hops > 0) return queueMicrotask(hop);
      const took = performance.now() - start;
      try {
        const m = JSON.parse(event.data);
        messages.push({ type: m.type, timeframe: m.timeframe, symbol: m.symbol, took });
      } catch {
        messages.push({ type: "?", took });
      }
    };
    queueMicrotask(hop);
    return result;
  };
  const add = EventTarget.prototype.addEventListener;
  EventTarget.prototype.addEventListener = function (type, listener, options) {
    if (type === "message" && this instanceof WebSocket && typeof listener === "function") {
      return add.call(this, type, (event) => timeMessage(listener, this, event), options);
    }
    if (timed.has(type) && typeof listener === "function") {
      const wrapped = function (...args) {
        const start = performance.now();
        try {
          return listener.apply(this, args);
        } finally {
          pendingInput += performance.now() - start;
        }
      };
      return add.call(this, type, wrapped, options);
    }
    return add.call(this, type, listener, options);
  };
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      window.__wsCreatedAt ??= performance.now();
    }
    set onmessage(handler) {
      super.onmessage = handler ? (event) => timeMessage(handler, this, event) : handler;
    }
    get onmessage() {
      return super.onmessage;
    }
  };
  window.__bench = { frames, messages };
}

function quantile(values, q) {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}
const ms = (v) => `${v.toFixed(v < 10 ? 2 : 1)} ms`;
const median = (v) => quantile(v, 0.5);

async function measureEntry(page, name) {
  await page.waitForFunction((n) => performance.getEntriesByName(n).length > 0, name, { timeout: 60_000 });
  return page.evaluate((n) => performance.getEntriesByName(n)[0].duration, name);
}

async function render(browser) {
  const url = `${BASE}/symbol/BENCH?tf=1d&bars=10000&ind=EMA(50)%3BSMA(200)%3BRSI(14)`;
  const cold = { render: [], draw: [] };
  const warm = { render: [], draw: [] };
  let bars = "";
  for (let i = 0; i < RUNS; i++) {
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    const page = await context.newPage();
    await page.goto(url);
    cold.render.push(await measureEntry(page, "finchart:render"));
    cold.draw.push(await measureEntry(page, "finchart:draw"));
    bars = await page.getByTestId("bar-count").textContent();
    await page.reload();
    warm.render.push(await measureEntry(page, "finchart:render"));
    warm.draw.push(await measureEntry(page, "finchart:draw"));
    await context.close();
  }
  // The reference: the library alone, given the same bars (fetched once from
  // the API) and the same series, in a bare page of the same browser.
  const ref = [];
  if (process.env.REF) {
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    const page = await context.newPage();
    const response = await page.request.get(`${BASE}/api/v1/symbols/BENCH/bars?timeframe=1d&limit=5000&from=0`);
    let { bars: first, next_after } = await response.json();
    const all = [...first];
    while (next_after) {
      const more = await (await page.request.get(`${BASE}/api/v1/symbols/BENCH/bars?timeframe=1d&limit=5000&from=0&after=${next_after}`)).json();
      all.push(...more.bars);
      next_after = more.next_after;
    }
    const columns = { t: [], o: [], h: [], l: [], c: [], v: [] };
    for (const b of all) {
      columns.t.push(b.ts); columns.o.push(b.open); columns.h.push(b.high);
      columns.l.push(b.low); columns.c.push(b.close); columns.v.push(b.volume);
    }
    await page.goto(`${process.env.REF}/index.html`);
    await page.waitForFunction(() => window.ready);
    for (let i = 0; i < RUNS + 1; i++) {
      const took = await page.evaluate((bars) => window.draw(bars), columns);
      if (i > 0) ref.push(took); // the first run compiles the library's code
    }
    await context.close();
    console.log(`\n(reference: ${columns.t.length} bars)`);
  }
  console.log(`\n## First render: ${bars}, volume, EMA(50) and SMA(200) over the price, an RSI(14) pane (${RUNS} runs, median [min-max])`);
  for (const [label, set] of [["cold (library fetched)", cold], ["warm (library cached)", warm]]) {
    for (const key of ["render", "draw"]) {
      const v = set[key];
      console.log(`${label.padEnd(24)} finchart:${key.padEnd(7)} ${ms(median(v))} [${ms(Math.min(...v))}-${ms(Math.max(...v))}]`);
    }
  }
  if (ref.length) {
    console.log(`${"the library alone".padEnd(24)} same series     ${ms(median(ref))} [${ms(Math.min(...ref))}-${ms(Math.max(...ref))}]`);
  }
}

async function panZoom(browser) {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  await context.addInitScript(instrument);
  const page = await context.newPage();
  await page.goto(`${BASE}/symbol/BENCH?tf=1m&bars=10000&ind=`);
  await page.waitForSelector('[data-state="ready"]');
  const held = async () => Number(((await page.getByTestId("bar-count").textContent()) ?? "0").split(" ")[0]);
  // Scrolls to the oldest bar held until the server has no older ones.
  for (let previous = 0; (await held()) !== previous; ) {
    previous = await held();
    await page.evaluate(() => [...globalThis.FinstageChart.instances][0].chart.timeScale().setVisibleLogicalRange({ from: 0, to: 500 }));
    await page.waitForFunction((n) => {
      const text = document.querySelector('[data-testid="bar-count"]').textContent;
      const state = document.querySelector('[data-testid="chart"]').dataset.state;
      return Number(text.split(" ")[0]) > n || state === "ready";
    }, previous);
    await page.waitForTimeout(300);
  }
  const count = await held();
  // From the latest bar, zoomed out to ~2,000 bars in view.
  await page.evaluate(() => {
    const c = [...globalThis.FinstageChart.instances][0];
    const n = c.price.data().length;
    c.chart.timeScale().setVisibleLogicalRange({ from: n - 2000, to: n });
  });
  await page.waitForTimeout(500);
  const box = await page.getByTestId("chart").boundingBox();
  const x = box.x + box.width / 2;
  const y = box.y + box.height * 0.35;
  const start = await page.evaluate(() => performance.now());
  await page.mouse.move(x, y);
  for (let round = 0; round < 6; round++) {
    for (let i = 0; i < 8; i++) {
      await page.mouse.wheel(0, round % 2 === 0 ? -120 : 120);
      await page.waitForTimeout(16);
    }
    await page.mouse.down();
    for (let i = 0; i < 30; i++) {
      await page.mouse.move(x + (round % 2 === 0 ? 1 : -1) * i * 12, y);
      await page.waitForTimeout(8);
    }
    await page.mouse.up();
    await page.mouse.move(x, y);
  }
  const frames = await page.evaluate((t) => window.__bench.frames.filter((f) => f.ts >= t), start);
  const work = frames.map((f) => f.work);
  const intervals = frames.slice(1).map((f, i) => f.ts - frames[i].ts);
  const dropped = intervals.filter((d) => d > 25).length;
  console.log(`\n## Pan and zoom over ${count.toLocaleString("en")} one-minute bars (${frames.length} frames)`);
  console.log(`main-thread work per frame: p50 ${ms(quantile(work, 0.5))}, p95 ${ms(quantile(work, 0.95))}, max ${ms(Math.max(...work))}`);
  console.log(`frame intervals: p50 ${ms(quantile(intervals, 0.5))}, p95 ${ms(quantile(intervals, 0.95))}; ${dropped} of ${intervals.length} over 25 ms`);
  await context.close();
}

async function live(browser) {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  await context.addInitScript(instrument);
  const page = await context.newPage();
  await page.goto(`${BASE}/symbol/AAPL?tf=1d`);
  await page.waitForSelector('[data-state="ready"]');
  await page.mouse.move(10, 10);
  const start = await page.evaluate(() => performance.now());
  await page.waitForTimeout(20_000);
  const { messages, frames } = await page.evaluate((t) => ({
    messages: window.__bench.messages,
    frames: window.__bench.frames.filter((f) => f.ts >= t && f.work > 0),
  }), start);
  const bars = messages.filter((m) => m.type === "bar" && m.timeframe === "1d").map((m) => m.took);
  const all = messages.map((m) => m.took);
  const work = frames.map((f) => f.work);
  console.log(`\n## One live bar update (AAPL 1d, simulated feed at 1 s, 20 s)`);
  console.log(`1d bar messages: ${bars.length}, main-thread time p50 ${ms(quantile(bars, 0.5))}, p95 ${ms(quantile(bars, 0.95))}, max ${ms(Math.max(...bars))}`);
  console.log(`all ${all.length} messages: p50 ${ms(quantile(all, 0.5))}, p95 ${ms(quantile(all, 0.95))}`);
  console.log(`frames drawn meanwhile: ${work.length}, work p50 ${ms(quantile(work, 0.5))}, p95 ${ms(quantile(work, 0.95))}`);
  await context.close();
}

async function firstLoad(browser) {
  console.log(`\n## First load (${RUNS} runs, new context each; median)`);
  for (const path of ["/", "/symbol/AAPL"]) {
    const bytes = [];
    const hydrated = [];
    const chartReady = [];
    for (let i = 0; i < RUNS; i++) {
      const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
      await context.addInitScript(instrument);
      const page = await context.newPage();
      await page.goto(`${BASE}${path}`);
      await page.waitForFunction(() => window.__wsCreatedAt !== undefined, null, { timeout: 30_000 });
      // NO_CHART=1 measures a build from before the chart (for the comparison).
      if (path !== "/" && process.env.NO_CHART !== "1") {
        chartReady.push(await measureEntry(page, "finchart:render"));
        await page.waitForTimeout(200);
      } else {
        await page.waitForTimeout(500);
      }
      const sent = await page.evaluate(() => {
        const nav = performance.getEntriesByType("navigation")[0];
        const files = performance.getEntriesByType("resource").filter((e) => new URL(e.name).origin === location.origin);
        const byKind = {};
        for (const e of files) {
          const ext = new URL(e.name).pathname.split(".").pop();
          byKind[ext] = (byKind[ext] ?? 0) + e.transferSize;
        }
        return { total: nav.transferSize + files.reduce((s, e) => s + e.transferSize, 0), html: nav.transferSize, byKind };
      });
      bytes.push(sent);
      hydrated.push(await page.evaluate(() => window.__wsCreatedAt));
      await context.close();
    }
    const total = median(bytes.map((b) => b.total));
    const kinds = Object.entries(bytes[0].byKind).map(([k, v]) => `${k} ${v.toLocaleString("en")}`).join(", ");
    console.log(`${path.padEnd(13)} ${total.toLocaleString("en")} bytes sent (html ${bytes[0].html.toLocaleString("en")}, ${kinds}); hydrated at ${ms(median(hydrated))}` +
      (chartReady.length ? `; chart drawn ${ms(median(chartReady))} after its data` : ""));
  }
}

(async () => {
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  // ONLY=live (or render, panZoom, firstLoad) runs one part.
  const parts = { firstLoad, render, live, panZoom };
  try {
    for (const [name, part] of Object.entries(parts)) {
      if (!process.env.ONLY || process.env.ONLY === name) await part(browser);
    }
  } finally {
    await browser.close();
  }
})();
