// The backtest lab's benchmarks in Chromium (run by server/bench/lab.sh, which
// prepares the server, its data and the native reference). Every browser
// figure comes from the page's own clock (performance.now, MutationObserver,
// PerformanceObserver), read through Playwright; every part prints the
// machine's load average as it starts.
//
// An init script, installed before any page script, wraps the session that
// `globalThis.FinstageLab.create()` returns (public/lab/lab.js) so that its
// load, backtest, sweep and cancel calls, the two chart drawings inside a
// backtest and every sweep progress callback are timed; it watches the lab's
// status line (`data-testid=lab-status`) for `data-state` changes and, after
// each change to `done`, notes the painted frame (the frame callback, then a
// task posted from it: the same definition as the charts' `painted()`); and it
// records clicks and input events (capturing, before the page's handlers) and
// main-thread long tasks.
//
// - engine: the wasm engine in a Web Worker against the same engine natively.
//   In the browser a module worker of our own imports /lab/pkg/lab.js (the
//   worker's wasm, as served) and times `backtest(settings)` in batches of
//   100 (the worker's clock has 0.1 ms resolution here), and estimates what
//   the bindings' copies out add; the native side is
//   lab/examples/native_timing, run from here between the browser batches on
//   the same packed bars (saved from the same URL) with the same settings
//   text (the one the page sent). Also the page's own `timing.engineMs`, and
//   with LAB_PKGS (lab.sh VARIANTS=1) other builds of the worker's wasm.
// - click: 20 clicks on Run, then 20 parameter changes, each to the lab's
//   status reaching `done` and the frame after it painted; split into the
//   wait before the run starts (the form's debounce), lab.js's backtest
//   (worker, charts, their painted frame) and the page's own update.
// - sweep: the page's sweep form, 10,000 combinations: wall time (the
//   session's sweep call to its settling), gaps between progress callbacks,
//   long tasks while it runs and while the result is drawn; then cancel
//   latency (cancel() to the sweep's promise settling, and the Cancel click
//   to "(cancelled)" painted).
// - million: 1,000,000 one-minute bars: transfer sizes by encoding, then the
//   page loading and backtesting them (fetch, decode, engine, drawing, the
//   page's update), and a rerun after a parameter change; native reference.
// - bundle: the lab's files (raw, gzip, brotli as served), what `/lab` loads
//   (every response, workers' included), and the first load of `/` measured
//   as server/bench/chart_bench.cjs measures it.
const { chromium } = require("@playwright/test");
const { execFileSync } = require("node:child_process");
const fs = require("node:fs");
const http = require("node:http");
const path = require("node:path");

const BASE = process.env.BASE ?? "http://127.0.0.1:3291";
const RUNS = Number(process.env.RUNS ?? 3);
const WORK = process.env.WORK ?? "/tmp";
const NATIVE = process.env.NATIVE;
const SITE = process.env.SITE;
const CLICKS = Number(process.env.CLICKS ?? 20);
const LOADS = Number(process.env.LOADS ?? 7);

const DAILY = "/lab?symbol=LABD&tf=1d&strategy=sma_cross&p.fast=10&p.slow=20";
const MINUTES = "/lab?symbol=LABM&tf=1m&strategy=sma_cross&p.fast=10&p.slow=20";
const DAILY_BARS = "/api/v1/symbols/LABD/bars.fsb?timeframe=1d";
const MINUTE_BARS = "/api/v1/symbols/LABM/bars.fsb?timeframe=1m";

function instrument() {
  const lab = { events: [], states: [], longtasks: [], clicks: [], inputs: [], draws: [] };
  window.__lab = lab;
  const painted = () =>
    new Promise((resolve) =>
      requestAnimationFrame(() => {
        const channel = new MessageChannel();
        channel.port1.onmessage = () => resolve(performance.now());
        channel.port2.postMessage(0);
      }),
    );
  lab.painted = painted;
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) lab.longtasks.push({ start: e.startTime, duration: e.duration });
    }).observe({ type: "longtask", buffered: true });
  } catch {}
  new MutationObserver((records) => {
    for (const r of records) {
      const el = r.target;
      if (!(el instanceof Element)) continue;
      const id = el.getAttribute("data-testid");
      if (id !== "lab-status") continue;
      const entry = { state: el.getAttribute("data-state"), at: performance.now() };
      lab.states.push(entry);
      if (entry.state === "done") {
        painted().then((t) => {
          entry.painted = t;
          entry.text = el.textContent;
        });
      }
    }
  }).observe(document, { subtree: true, attributes: true, attributeFilter: ["data-state"] });
  document.addEventListener("click", (e) => lab.clicks.push({ at: performance.now(), label: (e.target?.textContent ?? "").trim() }), true);
  document.addEventListener("input", (e) => lab.inputs.push({ at: performance.now(), name: e.target?.name }), true);

  const wrapSession = (s) => {
    const log = (e) => lab.events.push(e);
    const around = (name, record) => {
      const original = s[name].bind(s);
      s[name] = (...args) => record(original, ...args);
    };
    around("load", async (original, url) => {
      const e = { op: "load", url, start: performance.now() };
      log(e);
      try {
        e.result = await original(url);
        return e.result;
      } finally {
        e.end = performance.now();
      }
    });
    around("backtest", async (original, settings, priceEl, equityEl) => {
      const e = { op: "backtest", settings, start: performance.now(), draws: [], calls: [] };
      log(e);
      lab.current = e;
      try {
        const json = await original(settings, priceEl, equityEl);
        e.jsonBytes = json.length;
        return json;
      } finally {
        e.end = performance.now();
        e.timing = s.timing;
        lab.current = null;
      }
    });
    for (const name of ["drawPrice", "drawEquity"]) {
      around(name, (original, ...args) => {
        const start = performance.now();
        try {
          return original(...args);
        } finally {
          lab.current?.draws.push({ name, start, end: performance.now() });
        }
      });
    }
    around("sweep", async (original, settings, grid, metric, total, onProgress) => {
      const e = { op: "sweep", grid, metric, total, start: performance.now(), progress: [] };
      log(e);
      try {
        const result = await original(settings, grid, metric, total, (done, all, elapsed) => {
          e.progress.push({ at: performance.now(), done });
          return onProgress(done, all, elapsed);
        });
        e.result = { done: result.done, cancelled: result.cancelled, ms: result.ms };
        return result;
      } catch (error) {
        e.error = String(error);
        throw error;
      } finally {
        e.end = performance.now();
      }
    });
    around("cancel", (original) => {
      log({ op: "cancel", start: performance.now() });
      return original();
    });
    return s;
  };
  // The chart adapter's calls inside a backtest, each timed (the library's
  // own processing of the data happens in them; its drawing in the frame after).
  let charts;
  Object.defineProperty(globalThis, "FinstageChart", {
    configurable: true,
    get: () => charts,
    set: (f) => {
      charts = {
        ...f,
        create: (...args) => {
          const chart = f.create(...args);
          for (const name of ["setData", "setMarkers", "setPath", "setLine", "setMode"]) {
            const original = chart[name].bind(chart);
            chart[name] = (...a) => {
              const start = performance.now();
              try {
                return original(...a);
              } finally {
                lab.current?.calls.push({ name: name === "setLine" || name === "setPath" ? `${name}(${a[0]})` : name, ms: performance.now() - start });
              }
            };
          }
          return chart;
        },
      };
    },
  });
  let factory;
  Object.defineProperty(globalThis, "FinstageLab", {
    configurable: true,
    get: () => factory,
    set: (f) => {
      factory = {
        ...f,
        create: (...args) => wrapSession(f.create(...args)),
        drawSweep: (...args) => {
          const start = performance.now();
          try {
            return f.drawSweep(...args);
          } finally {
            lab.draws.push({ start, end: performance.now() });
          }
        },
      };
    },
  });
}

// ---------------------------------------------------------------- helpers

function quantile(values, q) {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}
// The nearest-rank percentile: of 20 values, p95 is the 19th smallest (the
// second largest), p50 the 10th.
function rank(values, q) {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)];
}
const p95 = (v) => rank(v, 0.95);
const median = (v) => quantile(v, 0.5);
const ms = (v) => (Number.isFinite(v) ? `${v.toFixed(v < 1 ? 3 : v < 10 ? 2 : 1)} ms` : "n/a");
const spread = (v) => `${ms(median(v))} [${ms(Math.min(...v))}-${ms(Math.max(...v))}]`;
const bytes = (n) => n.toLocaleString("en");
const load = () => fs.readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
const heading = (title) => console.log(`\n## ${title} (load ${load()})`);

const pageErrors = new WeakMap();

async function newPage(browser, options = {}) {
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 }, ...options });
  await context.addInitScript(instrument);
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
  pageErrors.set(page, errors);
  return { context, page, errors };
}

// The first `done` after `since`, once its frame is painted.
async function doneAfter(page, since, timeout = 30_000) {
  try {
    await page.waitForFunction((t) => window.__lab.states.some((s) => s.state === "done" && s.at > t && s.painted), since, { timeout, polling: 25 });
  } catch (error) {
    const seen = await page.evaluate(() => ({
      status: document.querySelector('[data-testid="lab-status"]')?.outerHTML,
      states: window.__lab.states,
      events: window.__lab.events.map((e) => ({ op: e.op, start: e.start, end: e.end })),
    })).catch(() => null);
    console.error(`no run finished: ${JSON.stringify(seen)}; page errors: ${pageErrors.get(page)?.join(" | ")}`);
    throw error;
  }
  return page.evaluate((t) => window.__lab.states.find((s) => s.state === "done" && s.at > t && s.painted), since);
}

async function openLab(browser, url, options) {
  const handle = await newPage(browser, options);
  await handle.page.goto(`${BASE}${url}`);
  await doneAfter(handle.page, 0, 120_000);
  return handle;
}

function native(fsb, settings, extra) {
  const out = execFileSync(NATIVE, [fsb, settings, ...extra], { encoding: "utf8", maxBuffer: 1 << 20 });
  return JSON.parse(out);
}

function get(url, encoding) {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    http.get(url, { headers: { "accept-encoding": encoding } }, (res) => {
      let size = 0;
      res.on("data", (chunk) => (size += chunk.length));
      res.on("end", () => resolve({ size, encoding: res.headers["content-encoding"] ?? "identity", ms: Number(process.hrtime.bigint() - started) / 1e6 }));
    }).on("error", reject);
  });
}

// ---------------------------------------------------------------- engine

// Runs in the page: a module worker of our own on the lab's wasm, timing
// `backtest` in batches. Needs the context's CSP bypassed (blob: worker).
async function workerTiming({ barsUrl, settings, batch, batches, warmup, pkg = "pkg" }) {
  const source = `
    import init, * as lab from "${location.origin}/lab/${pkg}/lab.js";
    self.onmessage = async ({ data }) => {
      const t0 = performance.now();
      await init();
      const t1 = performance.now();
      const packed = new Uint8Array(await (await fetch(new URL(data.barsUrl, "${location.origin}"))).arrayBuffer());
      const t2 = performance.now();
      const bars = lab.load(packed).time.length;
      const t3 = performance.now();
      let out = lab.backtest(data.settings);
      const first = performance.now() - t3;
      for (let i = 0; i < data.warmup; i++) out = lab.backtest(data.settings);
      const perRun = [];
      for (let b = 0; b < data.batches; b++) {
        const s = performance.now();
        for (let i = 0; i < data.batch; i++) out = lab.backtest(data.settings);
        perRun.push((performance.now() - s) / data.batch);
      }
      // What the wasm-bindgen glue adds to each call, estimated on the same
      // sizes: the JSON text decoded into a JS string (one cached decoder, as
      // the glue has) and the equity and trade columns copied out of wasm memory.
      const text = new TextEncoder().encode(out.json);
      const n = out.equity.length + out.trades.length;
      const memory = new Float64Array(n);
      const decoder = new TextDecoder("utf-8", { ignoreBOM: true, fatal: true });
      let sink = 0;
      const g = performance.now();
      for (let i = 0; i < 500; i++) {
        sink += decoder.decode(text).length;
        sink += memory.slice(0, out.equity.length).length + memory.slice(out.equity.length).length;
      }
      const glueMs = (performance.now() - g) / 500;
      const summary = JSON.parse(out.json);
      self.postMessage({ bars, initMs: t1 - t0, fetchMs: t2 - t1, loadMs: t3 - t2, firstMs: first, perRun, glueMs, jsonBytes: text.length, sink,
        trades: summary.sides.all.trades, totalReturn: summary.metrics.total_return, fingerprint: JSON.parse(lab.fingerprint()),
        isolated: self.crossOriginIsolated });
    };`;
  const url = URL.createObjectURL(new Blob([source], { type: "text/javascript" }));
  const worker = new Worker(url, { type: "module" });
  try {
    return await new Promise((resolve, reject) => {
      worker.onmessage = (e) => resolve(e.data);
      worker.onerror = (e) => reject(new Error(e.message || "worker failed"));
      worker.postMessage({ barsUrl, settings, batch, batches, warmup });
    });
  } finally {
    worker.terminate();
  }
}

async function engine(browser) {
  heading("Engine: SMA-cross (10, 20) on 2,520 daily bars, wasm in a worker vs native");
  const { context, page } = await openLab(browser, DAILY, { bypassCSP: true });
  const first = await page.evaluate(() => window.__lab.events.find((e) => e.op === "backtest"));
  const settings = first.settings;
  fs.writeFileSync(path.join(WORK, "settings.json"), settings);
  console.log(`settings (as the page sends them): ${settings}`);
  console.log(`the page's first run: engine ${ms(first.timing.engineMs)} (worker's clock, one call, cold)`);
  const fsb = path.join(WORK, "labd.fsb");
  // Batches of 100: the worker's clock ticks in 0.1 ms, so a batch's figure is exact to 1 µs.
  const batch = 100, batches = 15, warmup = 200;
  const wasm = [], nat = [], firsts = [], glue = [];
  let lastPhases = {};
  let check = null;
  for (let r = 0; r < RUNS; r++) {
    const w = await page.evaluate(workerTiming, { barsUrl: DAILY_BARS, settings, batch, batches, warmup });
    const n = native(fsb, settings, ["--batch", String(batch), "--batches", String(batches), "--warmup", String(warmup)]);
    wasm.push(median(w.perRun));
    glue.push(w.glueMs);
    nat.push(n.median_ms);
    lastPhases = n.phases_ms;
    firsts.push(w.firstMs);
    const same = ["metrics", "trades", "equity"].every((k) => w.fingerprint[k] === n.fingerprint[k]) && w.totalReturn === n.total_return;
    check = { bars: w.bars, trades: w.trades, same, isolated: w.isolated, fingerprint: w.fingerprint };
    console.log(`run ${r + 1} (load ${load()}): wasm ${ms(median(w.perRun))} per backtest [${ms(Math.min(...w.perRun))}-${ms(Math.max(...w.perRun))}] ` +
      `(init ${ms(w.initMs)}, unpack ${ms(w.loadMs)}, first call ${ms(w.firstMs)}); native ${ms(n.median_ms)} [${ms(n.min_ms)}-${ms(n.max_ms)}]; ` +
      `ratio ${(median(w.perRun) / n.median_ms).toFixed(2)}x`);
  }
  const ratios = wasm.map((w, i) => w / nat[i]);
  console.log(`${check.bars} bars, ${check.trades} trades; same fingerprint and total return on both sides: ${check.same}; crossOriginIsolated ${check.isolated}`);
  console.log(`wasm in a worker: ${spread(wasm)} per backtest (median of ${batches} batches of ${batch}, after ${warmup} warm-up runs; ${RUNS} runs)`);
  console.log(`native (lab-release): ${spread(nat)}`);
  console.log(`ratio wasm/native: median ${median(ratios).toFixed(2)}x [${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)}] (target <= 1.5x)`);
  console.log(`first call in a new worker (before the optimising tier): ${spread(firsts)}`);
  console.log(`native, where a backtest's time goes (medians, ms): ${phaseText(lastPhases)}`);
  const net = wasm.map((w, i) => (w - glue[i]) / nat[i]);
  console.log(`of the wasm figure, the glue's copies out (JSON text decoded, three ${check.bars}-value columns copied) estimated at ${spread(glue)}; ` +
    `without it the ratio would be ${median(net).toFixed(2)}x [${Math.min(...net).toFixed(2)}-${Math.max(...net).toFixed(2)}]`);
  // Builds of the same engine beside the served one (lab.sh VARIANTS=1 puts
  // them in the site as /lab/pkg-*/), interleaved with it, RUNS times.
  const variants = (process.env.LAB_PKGS ?? "").split(",").filter(Boolean);
  if (variants.length) {
    const times = Object.fromEntries(["pkg", ...variants].map((v) => [v, []]));
    for (let r = 0; r < RUNS; r++) {
      for (const pkg of Object.keys(times)) {
        const w = await page.evaluate(workerTiming, { barsUrl: DAILY_BARS, settings, batch, batches, warmup, pkg });
        times[pkg].push(median(w.perRun));
      }
    }
    for (const [pkg, t] of Object.entries(times)) {
      const s = fileSizes(`lab/${pkg}/lab_bg.wasm`);
      console.log(`variant /lab/${pkg}/ (${bytes(s.raw)} bytes raw, ${bytes(s.br)} brotli): ${spread(t)} per backtest, ${(median(t) / median(nat)).toFixed(2)}x native`);
    }
  }
  await context.close();
}

// ---------------------------------------------------------------- click

async function click(browser) {
  heading(`Click to painted: ${CLICKS} clicks on Run, then ${CLICKS} parameter changes (2,520 daily bars)`);
  const all = { run: [], change: [] };
  for (let r = 0; r < RUNS; r++) {
    const { context, page, errors } = await openLab(browser, DAILY);
    await page.waitForTimeout(500);
    const run = page.locator('[data-testid="lab-form"] button[type="submit"]');
    const fast = page.locator("#lab-p-fast");
    for (const kind of ["run", "change"]) {
      const rows = [];
      for (let i = 0; i < CLICKS; i++) {
        const before = await page.evaluate(() => performance.now());
        if (kind === "run") await run.click();
        else await fast.fill(i % 2 === 0 ? "11" : "10");
        const done = await doneAfter(page, before);
        const row = await page.evaluate(({ t, done }) => {
          const lab = window.__lab;
          const trigger = (lab.clicks.find((c) => c.at > t) ?? lab.inputs.find((c) => c.at > t)).at;
          const bt = lab.events.filter((e) => e.op === "backtest" && e.start > t && e.end <= done.at + 0.001).pop();
          return { trigger, btStart: bt.start, btEnd: bt.end, engine: bt.timing.engineMs, draws: bt.draws, done: done.at, painted: done.painted, text: done.text };
        }, { t: before, done });
        rows.push(row);
        await page.waitForTimeout(200);
      }
      const toPainted = rows.map((x) => x.painted - x.trigger);
      const fromRequest = rows.map((x) => x.painted - x.btStart);
      const wait = rows.map((x) => x.btStart - x.trigger);
      const labJs = rows.map((x) => x.btEnd - x.btStart);
      const engineMs = rows.map((x) => x.engine);
      const draw = rows.map((x) => x.draws.reduce((s, d) => s + d.end - d.start, 0));
      const page_ = rows.map((x) => x.painted - x.btEnd);
      all[kind].push({ toPainted, fromRequest, wait, labJs, engineMs, draw, page: page_ });
      console.log(`run ${r + 1} ${kind === "run" ? "Run clicks" : "fast 10<->11"} (load ${load()}): ` +
        `to painted p50 ${ms(median(toPainted))}, p95 ${ms(p95(toPainted))}, max ${ms(Math.max(...toPainted))}; ` +
        `of which wait before the run p50 ${ms(median(wait))}; from the run's request p50 ${ms(median(fromRequest))}, p95 ${ms(p95(fromRequest))}; ` +
        `lab.js backtest p50 ${ms(median(labJs))} (engine ${ms(median(engineMs))}, chart calls ${ms(median(draw))}); page update to painted p50 ${ms(median(page_))}` +
        (errors.length ? `; page errors: ${errors.join(" | ")}` : ""));
      if (r === 0 && kind === "run") console.log(`  status line: ${rows[0].text}`);
    }
    await context.close();
  }
  for (const kind of ["run", "change"]) {
    const set = all[kind];
    const pick = (k, f) => set.map((s) => f(s[k]));
    console.log(`${kind === "run" ? "Run button" : "parameter change"}: click to painted p95 ${spread(pick("toPainted", p95))}, p50 ${spread(pick("toPainted", median))}; ` +
      `from the run's request p95 ${spread(pick("fromRequest", p95))}; wait before the run p50 ${spread(pick("wait", median))} (${RUNS} runs of ${CLICKS}; median [min-max] of the runs' figures)`);
  }
}

// ---------------------------------------------------------------- sweep

async function fillSweep(page, x, y, metric) {
  const form = page.getByTestId("sweep-form");
  await form.locator("select[name=x]").selectOption(x.name);
  await form.locator("input[name=x_from]").fill(String(x.from));
  await form.locator("input[name=x_to]").fill(String(x.to));
  await form.locator("input[name=x_step]").fill("1");
  await form.locator("select[name=y]").selectOption(y.name);
  await form.locator("input[name=y_from]").fill(String(y.from));
  await form.locator("input[name=y_to]").fill(String(y.to));
  await form.locator("input[name=y_step]").fill("1");
  await form.locator("select[name=metric]").selectOption(metric);
  return form;
}

// The sweep started after `t` has settled and its result has been drawn
// (drawSweep called after it); resolves with the frame after that painted.
async function sweepShown(page, t) {
  await page.waitForFunction((t) => {
    const e = window.__lab.events.filter((x) => x.op === "sweep" && x.start > t).pop();
    return e?.end && window.__lab.draws.some((d) => d.start > e.end);
  }, t, { timeout: 60_000, polling: 25 });
  return page.evaluate(() => window.__lab.painted());
}

async function sweepOnce(page, form, total) {
  const before = await page.evaluate(() => performance.now());
  await form.getByRole("button", { name: "Run sweep" }).click();
  const shown = await sweepShown(page, before);
  await page.getByTestId("sweep-status").filter({ hasText: `${total} of ${total} combinations` }).waitFor({ timeout: 10_000 });
  return page.evaluate(({ t, shown }) => {
    const lab = window.__lab;
    const click = lab.clicks.find((c) => c.at > t).at;
    const e = lab.events.filter((x) => x.op === "sweep" && x.start > t).pop();
    const marks = [e.start, ...e.progress.map((p) => p.at), e.end];
    const gaps = marks.slice(1).map((m, i) => m - marks[i]);
    const during = lab.longtasks.filter((l) => l.start >= e.start && l.start < e.end);
    const after = lab.longtasks.filter((l) => l.start >= e.end && l.start < shown);
    const draw = lab.draws.filter((d) => d.start > e.start).pop();
    return {
      click, start: e.start, end: e.end, wall: e.end - e.start, ms: e.result.ms, callbacks: e.progress.length, gaps, maxGap: Math.max(...gaps),
      firstProgress: e.progress[0]?.at - e.start, during: during.map((l) => l.duration), after: after.map((l) => l.duration),
      toShown: shown - click, drawMs: draw ? draw.end - draw.start : NaN, afterSweep: shown - e.end, done: e.result.done,
    };
  }, { t: before, shown });
}

async function sweep(browser) {
  heading("Sweep: 10,000 combinations of SMA-cross over 2,520 daily bars, worker pool");
  const grids = [
    { label: "fast 2..101 x slow 10..109", x: { name: "fast", from: 2, to: 101 }, y: { name: "slow", from: 10, to: 109 } },
    { label: "fast 2..101 x slow 110..209 (every combination valid)", x: { name: "fast", from: 2, to: 101 }, y: { name: "slow", from: 110, to: 209 } },
  ];
  const results = {};
  const cancels = [];
  const settings = fs.existsSync(path.join(WORK, "settings.json")) ? fs.readFileSync(path.join(WORK, "settings.json"), "utf8") : '{"strategy":"sma_cross"}';
  for (let r = 0; r < RUNS; r++) {
    const { context, page, errors } = await openLab(browser, DAILY);
    const cores = await page.evaluate(() => navigator.hardwareConcurrency);
    for (const g of grids) {
      const form = await fillSweep(page, g.x, g.y, "sharpe");
      for (const pass of ["first", "again"]) {
        const key = `${g.label}|${pass}`;
        const s = await sweepOnce(page, form, 10_000);
        (results[key] ??= []).push(s);
        console.log(`run ${r + 1} ${g.label}, ${pass === "first" && g === grids[0] ? "first sweep of the page (second worker started)" : pass} (load ${load()}, ${cores} workers): ` +
          `wall ${ms(s.wall)}; ${s.callbacks} progress callbacks, first after ${ms(s.firstProgress)}, largest gap ${ms(s.maxGap)}; ` +
          `long tasks while running: ${s.during.length ? s.during.map(ms).join(", ") : "none"}; click to heatmap painted ${ms(s.toShown)} ` +
          `(after the sweep: ${ms(s.afterSweep)}, heatmap drawing ${ms(s.drawMs)}, long tasks ${s.after.length ? s.after.map(ms).join(", ") : "none"})`);
      }
    }
    // Cancel part way through a bigger grid (30,000 combinations).
    const form = await fillSweep(page, { name: "fast", from: 2, to: 101 }, { name: "slow", from: 110, to: 409 }, "sharpe");
    for (let i = 0; i < 3; i++) {
      const before = await page.evaluate(() => performance.now());
      await form.getByRole("button", { name: "Run sweep" }).click();
      await page.waitForFunction((t) => window.__lab.events.some((e) => e.op === "sweep" && e.start > t && e.progress.length >= 3), before);
      await page.waitForTimeout(150);
      await page.getByTestId("sweep-cancel").click();
      const shown = await sweepShown(page, before);
      await page.getByTestId("sweep-status").filter({ hasText: "(cancelled)" }).waitFor({ timeout: 10_000 });
      const c = await page.evaluate(({ t, shown }) => {
        const lab = window.__lab;
        const e = lab.events.filter((x) => x.op === "sweep" && x.start > t).pop();
        const cancel = lab.events.filter((x) => x.op === "cancel" && x.start > t).pop();
        const clickAt = lab.clicks.filter((c) => c.at > t).pop().at;
        return { settle: e.end - cancel.start, shown: shown - clickAt, done: e.result?.done, cancelled: e.result?.cancelled, lastProgress: e.end - e.progress[e.progress.length - 1].at };
      }, { t: before, shown });
      cancels.push(c);
      console.log(`run ${r + 1} cancel ${i + 1}: cancel() to the sweep settled ${ms(c.settle)}; Cancel click to "(cancelled)" painted ${ms(c.shown)} (${c.done} of 30000 done)`);
      await page.waitForTimeout(300);
    }
    // The first backtest after a cancel starts new workers.
    const before = await page.evaluate(() => performance.now());
    await page.locator('[data-testid="lab-form"] button[type="submit"]').click();
    const d = await doneAfter(page, before);
    const bt = await page.evaluate((t) => window.__lab.events.filter((e) => e.op === "backtest" && e.start > t).pop(), before);
    console.log(`run ${r + 1} first backtest after a cancel (new workers, bars loaded again): lab.js backtest ${ms(bt.end - bt.start)}, click to painted ${ms(d.painted - before)}` +
      (errors.length ? `; page errors: ${errors.join(" | ")}` : ""));
    await context.close();
  }
  for (const [key, set] of Object.entries(results)) {
    const all = (k) => set.map((s) => s[k]);
    const during = set.flatMap((s) => s.during);
    console.log(`${key.replace("|", ", ")}: wall ${spread(all("wall"))} (target < 1 s); largest progress gap ${spread(all("maxGap"))} (target <= 200 ms); ` +
      `long tasks while running ${during.length} (longest ${during.length ? ms(Math.max(...during)) : "-"}); click to heatmap painted ${spread(all("toShown"))}`);
  }
  console.log(`cancel: cancel() to settled ${spread(cancels.map((c) => c.settle))} (target < 100 ms); Cancel click to "(cancelled)" painted ${spread(cancels.map((c) => c.shown))}`);
  // The reference: the same sweeps natively on one thread (the browser has two workers).
  for (const g of grids) {
    const grid = JSON.stringify([[g.x.name, range(g.x.from, g.x.to)], [g.y.name, range(g.y.from, g.y.to)]]);
    const n = native(path.join(WORK, "labd.fsb"), settings, ["--sweep", grid, "--metric", "sharpe", "--batches", String(RUNS)]);
    console.log(`native, one thread, ${g.label}: ${spread(n.runs_ms)} (${n.refused} of ${n.combinations} refused by the strategy's rules)`);
  }
}

const phaseText = (p) => Object.entries(p ?? {}).map(([k, v]) => `${k} ${v.toFixed(3)}`).join(", ");
const range = (a, b) => Array.from({ length: b - a + 1 }, (_, i) => a + i);

// ---------------------------------------------------------------- million

async function million(browser) {
  heading("1,000,000 one-minute bars: load and backtest");
  for (const [label, url] of [["2,520 daily", DAILY_BARS], ["1,000,000 one-minute", MINUTE_BARS]]) {
    const sizes = [];
    for (const enc of ["identity", "gzip", "br", "gzip, deflate, br, zstd"]) sizes.push(await get(`${BASE}${url}`, enc));
    console.log(`${label} bars.fsb: ${sizes.map((s, i) => `${["identity", "gzip", "br", "Chromium's Accept-Encoding"][i]} -> ${s.encoding} ${bytes(s.size)} bytes in ${ms(s.ms)}`).join("; ")}`);
  }
  const rows = [];
  for (let r = 0; r < RUNS; r++) {
    const handle = await newPage(browser);
    const { context, page, errors } = handle;
    let fsb = null;
    page.on("response", async (response) => {
      if (response.url().includes("bars.fsb")) {
        const sizes = await response.request().sizes().catch(() => null);
        fsb = { encoding: response.headers()["content-encoding"] ?? "identity", body: sizes?.responseBodySize };
      }
    });
    await page.goto(`${BASE}${MINUTES}`);
    const done = await doneAfter(page, 0, 180_000);
    const row = await page.evaluate((done) => {
      const lab = window.__lab;
      const l = lab.events.find((e) => e.op === "load");
      const b = lab.events.find((e) => e.op === "backtest");
      const price = b.draws.find((d) => d.name === "drawPrice");
      const equity = b.draws.find((d) => d.name === "drawEquity");
      const res = performance.getEntriesByType("resource").find((e) => e.name.includes("bars.fsb"));
      return {
        settings: b.settings, loadStart: l.start, fetch: l.result.fetchMs, decode: l.result.decodeMs, packed: l.result.bytes, bars: l.result.bars,
        gap: b.start - l.end, engine: b.timing.engineMs, toDraw: price.start - b.start, drawPrice: price.end - price.start,
        drawEquity: equity.end - equity.start, paintWait: b.end - equity.end, labJs: b.end - b.start, page: done.painted - b.end,
        pageDom: done.at - b.end, pagePaint: done.painted - done.at, calls: b.calls, jsonBytes: b.jsonBytes,
        total: done.painted - l.start, fromNav: done.painted, text: done.text,
        transfer: res?.transferSize, encoded: res?.encodedBodySize, decoded: res?.decodedBodySize,
        ttfb: res ? res.responseStart - res.requestStart : NaN, download: res ? res.responseEnd - res.responseStart : NaN,
        nodes: document.querySelectorAll("*").length,
        trades: JSON.parse(document.querySelector('[data-testid="lab-trades"] caption')?.textContent?.split(" ")[0] ?? "0"),
        longest: Math.max(0, ...lab.longtasks.map((t) => t.duration)),
      };
    }, done);
    row.fsb = fsb;
    // A rerun on the bars already loaded (a parameter change).
    const before = await page.evaluate(() => performance.now());
    await page.locator("#lab-p-fast").fill("11");
    const again = await doneAfter(page, before, 180_000);
    row.rerun = await page.evaluate(({ t, done }) => {
      const lab = window.__lab;
      const b = lab.events.filter((e) => e.op === "backtest" && e.start > t).pop();
      const price = b.draws.find((d) => d.name === "drawPrice");
      const equity = b.draws.find((d) => d.name === "drawEquity");
      return { engine: b.timing.engineMs, toDraw: price.start - b.start, drawPrice: price.end - price.start, drawEquity: equity.end - equity.start,
        paintWait: b.end - equity.end, labJs: b.end - b.start, page: done.painted - b.end, calls: b.calls,
        total: done.painted - lab.inputs.filter((i) => i.at > t)[0].at, wait: b.start - lab.inputs.filter((i) => i.at > t)[0].at };
    }, { t: before, done: again });
    rows.push(row);
    console.log(`run ${r + 1} (load ${load()}): ${bytes(row.bars)} bars, ${row.trades} trades; load() to painted ${ms(row.total)} (navigation to painted ${ms(row.fromNav)}): ` +
      `fetch ${ms(row.fetch)} (${fsb?.encoding}, ${bytes(fsb?.body ?? row.encoded ?? 0)} bytes on the wire, ${bytes(row.packed)} packed), decode in the worker and columns back ${ms(row.decode)}, ` +
      `until the backtest starts ${ms(row.gap)}, backtest in lab.js ${ms(row.labJs)} = [worker: engine ${ms(row.engine)}; message + JSON.parse ${ms(row.toDraw - row.engine)}; ` +
      `price chart calls ${ms(row.drawPrice)}; equity chart calls ${ms(row.drawEquity)}; to the charts' painted frame ${ms(row.paintWait)}], then the page's update to painted ${ms(row.page)} ` +
      `(to the status's change ${ms(row.pageDom)}, then its frame ${ms(row.pagePaint)}); longest task ${ms(row.longest)}` +
      (errors.length ? `; page errors: ${errors.join(" | ")}` : ""));
    console.log(`  fetch: request to first byte ${ms(row.ttfb)}, first to last byte ${ms(row.download)}; summary JSON ${bytes(row.jsonBytes)} bytes; ${bytes(row.nodes)} elements in the page`);
    console.log(`  chart calls: ${row.calls.map((c) => `${c.name} ${ms(c.ms)}`).join(", ")}`);
    console.log(`  rerun (fast 11): input to painted ${ms(row.rerun.total)}: wait before the run ${ms(row.rerun.wait)}, engine ${ms(row.rerun.engine)}, message + JSON.parse ${ms(row.rerun.toDraw - row.rerun.engine)}, price chart ${ms(row.rerun.drawPrice)}, ` +
      `equity chart ${ms(row.rerun.drawEquity)}, to painted ${ms(row.rerun.paintWait)}, page update ${ms(row.rerun.page)}; chart calls: ${row.rerun.calls.map((c) => `${c.name} ${ms(c.ms)}`).join(", ")}`);
    await context.close();
  }
  // The engine alone on these bars, in a worker of our own (as in `engine`),
  // RUNS times one batch of 7 runs after 2 warm-up runs.
  const tight = [];
  {
    const { context, page } = await openLab(browser, DAILY, { bypassCSP: true });
    for (let r = 0; r < RUNS; r++) {
      const w = await page.evaluate(workerTiming, { barsUrl: MINUTE_BARS, settings: rows[0]?.settings ?? JSON.stringify({ strategy: "sma_cross", params: { fast: 10, slow: 20 } }), batch: 1, batches: 7, warmup: 2 });
      tight.push(w);
      console.log(`engine alone in a worker, run ${r + 1} (load ${load()}): ${ms(median(w.perRun))} per backtest [${ms(Math.min(...w.perRun))}-${ms(Math.max(...w.perRun))}], ` +
        `first call ${ms(w.firstMs)}, unpack ${ms(w.loadMs)}; the glue's copies out (JSON ${bytes(w.jsonBytes)} bytes, equity and trade columns) estimated at ${ms(w.glueMs)}`);
    }
    await context.close();
  }
  const col = (f) => rows.map(f);
  console.log(`load + backtest (load() call to painted): ${spread(col((r) => r.total))} (target < 3 s)`);
  console.log(`  fetch ${spread(col((r) => r.fetch))}; decode ${spread(col((r) => r.decode))}; engine ${spread(col((r) => r.engine))} (target < 50 ms); ` +
    `message + JSON.parse ${spread(col((r) => r.toDraw - r.engine))}; price chart ${spread(col((r) => r.drawPrice))}; equity chart ${spread(col((r) => r.drawEquity))}; ` +
    `to painted ${spread(col((r) => r.paintWait))}; page update ${spread(col((r) => r.page))}`);
  const chartTotal = col((r) => r.drawPrice + r.drawEquity + r.paintWait);
  const share = col((r) => (r.drawPrice + r.drawEquity + r.paintWait) / r.total);
  console.log(`  the two charts (calls and their painted frame): ${spread(chartTotal)}, ${(median(share) * 100).toFixed(0)}% of load() to painted; ` +
    `everything but fetch and charts: ${spread(col((r) => r.total - r.fetch - r.drawPrice - r.drawEquity - r.paintWait))}`);
  console.log(`rerun on loaded bars: input to painted ${spread(col((r) => r.rerun.total))}; engine ${spread(col((r) => r.rerun.engine))}`);
  const settings = rows.length ? JSON.stringify({ strategy: "sma_cross", params: { fast: 10, slow: 20 } }) : "";
  const saved = path.join(WORK, "settings.json");
  const n = native(path.join(WORK, "labm.fsb"), fs.existsSync(saved) ? `@${saved}` : settings, ["--batch", "1", "--batches", "7", "--warmup", "1"]);
  console.log(`native (lab-release), same bars and settings: ${spread(n.batches_ms)} per backtest (${n.trades} trades, JSON ${bytes(n.json_bytes)} bytes), unpack ${ms(n.load_ms)}`);
  console.log(`  where it goes (medians, ms): ${phaseText(n.phases_ms)}`);
  const engines = col((r) => r.engine).concat(col((r) => r.rerun.engine));
  const steady = tight.map((w) => median(w.perRun));
  console.log(`  wasm/native: the page's engine figure (first runs and reruns) ${(median(engines) / median(n.batches_ms)).toFixed(2)}x; ` +
    `the engine alone in a worker ${spread(steady)}, ${(median(steady) / median(n.batches_ms)).toFixed(2)}x; ` +
    `without the glue's copies ${((median(steady) - median(tight.map((w) => w.glueMs))) / median(n.batches_ms)).toFixed(2)}x`);
}

// ---------------------------------------------------------------- bundle

// A site file's size raw and compressed: the build's .gz and .br beside it,
// or (for files the build did not write) compressed here at the highest level.
function fileSizes(rel) {
  const file = path.join(SITE, rel);
  const size = (p) => (fs.existsSync(p) ? fs.statSync(p).size : NaN);
  const out = { raw: size(file), gz: size(`${file}.gz`), br: size(`${file}.br`) };
  if (Number.isFinite(out.raw) && !Number.isFinite(out.br)) {
    const zlib = require("node:zlib");
    const data = fs.readFileSync(file);
    out.gz = zlib.gzipSync(data, { level: 9 }).length;
    out.br = zlib.brotliCompressSync(data, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11 } }).length;
  }
  return out;
}

async function firstLoad(browser, url, wait) {
  const { context, page } = await newPage(browser);
  await context.addInitScript(() => {
    const Native = window.WebSocket;
    window.WebSocket = class extends Native {
      constructor(...args) {
        super(...args);
        window.__wsCreatedAt ??= performance.now();
      }
    };
  });
  const responses = [];
  context.on("response", async (response) => {
    const u = new URL(response.url());
    if (u.origin !== BASE) return;
    const sizes = await response.request().sizes().catch(() => null);
    responses.push({ path: u.pathname, status: response.status(), encoding: response.headers()["content-encoding"] ?? "identity", body: sizes?.responseBodySize ?? 0, headers: sizes?.responseHeadersSize ?? 0 });
  });
  await page.goto(`${BASE}${url}`);
  await wait(page);
  await page.waitForTimeout(500);
  const sent = await page.evaluate(() => {
    const nav = performance.getEntriesByType("navigation")[0];
    const files = performance.getEntriesByType("resource").filter((e) => new URL(e.name).origin === location.origin);
    return { total: nav.transferSize + files.reduce((s, e) => s + e.transferSize, 0), hydrated: window.__wsCreatedAt };
  });
  await context.close();
  return { ...sent, responses };
}

async function bundle(browser) {
  heading("Bundle: the lab's files, what /lab loads, the first load of /");
  const list = (rel) => {
    const s = fileSizes(rel);
    return `${rel}: ${bytes(s.raw)} raw, ${bytes(s.gz)} gzip, ${bytes(s.br)} brotli`;
  };
  for (const rel of ["lab/pkg/lab_bg.wasm", "lab/pkg/lab.js", "lab/lab.js", "lab/worker.js"]) console.log(list(rel));
  const pkg = fs.readdirSync(path.join(SITE, "pkg"));
  const main = pkg.find((f) => /^finstage\..*\.wasm$/.test(f));
  const labChunk = pkg.filter((f) => f.startsWith("split___lab_route_view") && f.endsWith(".wasm"));
  for (const f of [main, ...labChunk]) console.log(list(`pkg/${f}`));

  // What /lab fetches (the page, its chunks, lab.js, the workers and their wasm).
  const labLoad = await firstLoad(browser, DAILY, (page) => doneAfter(page, 0, 60_000));
  const lines = labLoad.responses.filter((r) => !r.path.includes("/api/") || r.path.endsWith(".fsb"));
  const byPath = new Map();
  for (const r of lines) {
    const prev = byPath.get(r.path);
    byPath.set(r.path, { ...r, count: (prev?.count ?? 0) + 1 });
  }
  console.log(`/lab (first visit, ${DAILY}): ${bytes(labLoad.total)} bytes sent (page's resource timing; worker fetches excluded); every response:`);
  for (const r of [...byPath.values()].sort((a, b) => b.body - a.body)) {
    console.log(`  ${r.path}${r.count > 1 ? ` (x${r.count})` : ""}: ${bytes(r.body)} bytes (${r.encoding}, status ${r.status})`);
  }
  const everything = lines.reduce((s, r) => s + r.body + r.headers, 0);
  console.log(`  all of them: ${bytes(everything)} bytes with headers`);
  const kinds = [
    ["the main module (also loaded by /)", (p) => /^\/pkg\/finstage\..*\.wasm$/.test(p)],
    ["the lab route's chunk", (p) => p.includes("split___lab_route_view")],
    ["chunks shared with other routes", (p) => /^\/pkg\/chunk_/.test(p)],
    ["the worker (lab.js, worker.js, its glue and wasm)", (p) => p.startsWith("/lab/")],
    ["the chart library and adapter (shared with /symbol)", (p) => p.startsWith("/vendor/") || p.startsWith("/chart/")],
    ["the bars (.fsb)", (p) => p.endsWith(".fsb")],
  ];
  const seen = new Set();
  const parts = kinds.map(([label, test]) => {
    const picked = [...byPath.values()].filter((r) => !seen.has(r.path) && test(r.path));
    picked.forEach((r) => seen.add(r.path));
    return `${label} ${bytes(picked.reduce((s, r) => s + r.body, 0))}`;
  });
  const rest = [...byPath.values()].filter((r) => !seen.has(r.path)).reduce((s, r) => s + r.body, 0);
  console.log(`  by part (bodies as sent): ${parts.join("; ")}; the page, its JS, CSS and the rest ${bytes(rest)}` +
    ` (worker.js's body is not reported for a worker's own script: ${bytes(fileSizes("lab/worker.js").br)} bytes brotli on disk)`);

  // The first load of `/`, as chart_bench.cjs measures it.
  const home = [];
  let homeFiles = null;
  for (let i = 0; i < LOADS; i++) {
    const h = await firstLoad(browser, "/", (page) => page.waitForFunction(() => window.__wsCreatedAt !== undefined, null, { timeout: 30_000 }));
    home.push(h);
    homeFiles ??= h.responses;
  }
  const totals = home.map((h) => h.total);
  const before = 242_592; // docs/BENCHMARKS.md, "The chart (issue 14)": `/` at 190bf7b (the app unchanged to bb5308b but for one attribute)
  console.log(`/ first load (${LOADS} loads): ${bytes(median(totals))} bytes sent [${bytes(Math.min(...totals))}-${bytes(Math.max(...totals))}], hydrated at ${ms(median(home.map((h) => h.hydrated)))}; ` +
    `before the lab ${bytes(before)}: ${(((median(totals) - before) / before) * 100).toFixed(1)}% (target <= +10%)`);
  console.log(`  files: ${homeFiles.map((r) => `${r.path.replace(/\.[A-Za-z0-9_-]{22}\./, ".*.")} ${bytes(r.body)}`).join(", ")}`);
  const labOnly = homeFiles.filter((r) => r.path.includes("/lab/") || r.path.includes("lab_route"));
  console.log(`  lab files fetched by /: ${labOnly.length ? labOnly.map((r) => r.path).join(", ") : "none"}`);
}

(async () => {
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const parts = { bundle, engine, click, sweep, million };
  try {
    for (const [name, part] of Object.entries(parts)) {
      if (!process.env.ONLY || process.env.ONLY.split(",").includes(name)) await part(browser);
    }
  } finally {
    await browser.close();
  }
})().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
