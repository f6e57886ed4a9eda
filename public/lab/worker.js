// One worker of the backtest lab: loads the lab's wasm (quant compiled for
// the browser, lab/ in the repository) and answers the page's requests one at
// a time. Messages are { id, op, args }; answers { id, ok, result | error }.
// Long arrays cross as transferred Float64Array buffers, never as JSON.

import init, * as lab from "./pkg/lab.js";

// The engine warms up on generated bars as soon as it is compiled, while the
// page is still downloading the real ones (lab/src/engine.rs, `warm_up`).
const ready = init().then(() => lab.warmUp());

function columns(object) {
  return Object.values(object).filter((v) => v instanceof Float64Array).map((a) => a.buffer);
}

const ops = {
  load({ packed }) {
    const result = lab.load(new Uint8Array(packed));
    return [result, columns(result)];
  },
  backtest({ settings }) {
    const started = performance.now();
    const out = lab.backtest(settings);
    const result = { json: out.json, equity: out.equity, trades: out.trades, months: out.months, ms: performance.now() - started };
    return [result, columns(result)];
  },
  sweep({ settings, grid, metric, start, end }) {
    const started = performance.now();
    const rows = lab.sweepChunk(settings, grid, metric, start, end);
    return [{ rows, start, end, ms: performance.now() - started }, [rows.buffer]];
  },
  walkForward({ settings, grid, metric, train, test, anchored }) {
    const started = performance.now();
    const json = lab.walkForward(settings, grid, metric, train, test, anchored);
    return [{ json, ms: performance.now() - started }, []];
  },
  fingerprint() {
    return [lab.fingerprint(), []];
  },
  difference({ report }) {
    return [lab.difference(report) ?? null, []];
  },
  columns() {
    return [lab.sweepColumns(), []];
  },
};

self.onmessage = async (event) => {
  const { id, op, args } = event.data;
  try {
    await ready;
    const [result, transfer] = ops[op](args);
    self.postMessage({ id, ok: true, result }, transfer);
  } catch (error) {
    self.postMessage({ id, ok: false, error: String(error?.message ?? error) });
  }
};
