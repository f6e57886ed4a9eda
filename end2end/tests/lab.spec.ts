import { expect, test, type Page } from "@playwright/test";

function collectErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(`console: ${m.text()}`);
  });
  return errors;
}

async function metric(page: Page, key: string, column = 1): Promise<string> {
  return (await page.locator(`[data-testid=lab-metrics] tr[data-metric=${key}] td`).nth(column - 1).textContent()) ?? "";
}

async function done(page: Page) {
  await expect(page.getByTestId("lab-status")).toHaveAttribute("data-state", "done");
}

test("the lab runs a backtest in a worker and reruns when a parameter changes", async ({ page }) => {
  const errors = collectErrors(page);
  await page.goto("/lab?symbol=AAPL&tf=1d&strategy=sma_cross&p.fast=10&p.slow=30");
  await done(page);
  await expect(page.getByTestId("lab-metrics")).toBeVisible();
  const trades = await metric(page, "trades");
  const total = await metric(page, "total_return");
  expect(Number(trades)).toBeGreaterThan(0);
  expect(total).toMatch(/^-?\d+\.\d\d%$/);
  // Long-only: every trade is long, so the Long column equals All and Short has none.
  expect(await metric(page, "trades", 2)).toBe(trades);
  expect(await metric(page, "trades", 3)).toBe("0");
  // The trade list shows a page of 50 at most, and says how many there are.
  await expect(page.getByTestId("lab-trades").locator("tbody tr")).toHaveCount(Math.min(Number(trades), 50));
  await expect(page.getByTestId("lab-trades").locator("caption")).toContainText(`${trades} trades`);
  await expect(page.getByTestId("lab-monthly").locator("tbody tr").first()).toBeVisible();

  // The charts: candles with a marker per entry and exit, equity with buy-and-hold and a drawdown pane.
  const drawn = await page.evaluate(`(() => {
    const charts = [...globalThis.FinstageChart.instances];
    return charts.map((c) => ({ bars: c.price.data().length, markers: c.markers.length, panes: c.chart.panes().length, lines: [...c.lines.keys()] }));
  })()`) as { bars: number; markers: number; panes: number; lines: string[] }[];
  expect(drawn).toHaveLength(2);
  expect(drawn[0].bars).toBeGreaterThan(250);
  expect(drawn[0].markers).toBeGreaterThanOrEqual(2 * Number(trades) - 1);
  expect(drawn[0].lines).toContain("trades");
  expect(drawn[1].lines).toEqual(expect.arrayContaining(["hold", "drawdown"]));
  expect(drawn[1].panes).toBe(2);

  // A new parameter reruns without a click, and the URL follows.
  await page.locator("#lab-p-fast").fill("3");
  await expect.poll(() => metric(page, "trades")).not.toBe(trades);
  await done(page);
  await expect(page).toHaveURL(/p\.fast=3/);
  const changed = { trades: await metric(page, "trades"), total: await metric(page, "total_return") };

  // Reloading the shared URL gives the same run.
  await page.reload();
  await done(page);
  expect({ trades: await metric(page, "trades"), total: await metric(page, "total_return") }).toEqual(changed);

  // The server runs the same backtest natively: bit-identical.
  await page.getByTestId("lab-check").click();
  await expect(page.getByTestId("lab-check-result")).toContainText(/Identical bit for bit on \d+ bars: metrics [0-9a-f]{16}, trades [0-9a-f]{16}, equity [0-9a-f]{16}/);

  // Clicking a trade moves the price chart to it.
  await page.getByTestId("lab-trades").locator("tbody tr").first().getByRole("button").click();

  // A bad value is refused next to its field and nothing reruns.
  await page.locator("#lab-p-fast").fill("0");
  await expect(page.locator("#err-p-fast")).toContainText("fast must be within 1..=2000");
  expect(await metric(page, "trades")).toBe(changed.trades);
  expect(errors).toEqual([]);
});

test("a run with more than a page of trades lists them a page at a time", async ({ page }) => {
  const errors = collectErrors(page);
  // SMA(1) against SMA(2) crosses every few bars: well over 50 trades in 400 days.
  await page.goto("/lab?symbol=AAPL&tf=1d&strategy=sma_cross&p.fast=1&p.slow=2");
  await done(page);
  const trades = Number(await metric(page, "trades"));
  expect(trades).toBeGreaterThan(50);
  const list = page.getByTestId("lab-trades");
  await expect(list.locator("tbody tr")).toHaveCount(50);
  await expect(list.locator("caption")).toContainText(`Trades 1–50 of ${trades}`);
  const pager = page.getByTestId("lab-trades-pager");
  await expect(pager.getByRole("button", { name: "Previous" })).toBeDisabled();
  await pager.getByRole("button", { name: "Next" }).click();
  await expect(list.locator("tbody tr").first()).toHaveAttribute("data-trade", "50");
  await expect(list.locator("caption")).toContainText(`Trades 51–${Math.min(100, trades)} of ${trades}`);
  await pager.getByRole("button", { name: "First" }).click();
  await expect(list.locator("tbody tr").first()).toHaveAttribute("data-trade", "0");
  await expect(pager.getByRole("button", { name: "Previous" })).toBeDisabled();
  await pager.getByRole("button", { name: "Last" }).click();
  await expect(list.locator("tbody tr")).toHaveCount(trades - 50 * Math.floor((trades - 1) / 50));
  await expect(pager.getByRole("button", { name: "Next" })).toBeDisabled();
  await expect(pager.getByRole("button", { name: "Last" })).toBeDisabled();
  // The last page's last row is the run's last trade, and choosing it moves the chart.
  await expect(list.locator("tbody tr").last()).toHaveAttribute("data-trade", String(trades - 1));
  const entry = Date.parse(`${await list.locator("tbody tr").last().locator("td").nth(2).textContent()}T00:00:00Z`) / 1000;
  await list.locator("tbody tr").last().getByRole("button").click();
  await expect.poll(() => page.evaluate(`(() => {
    const chart = [...globalThis.FinstageChart.instances].find((c) => c.el.dataset.testid === "lab-price");
    const r = chart.chart.timeScale().getVisibleRange();
    return r.from <= ${entry} && ${entry} <= r.to && r.to - r.from < 100 * 86400;
  })()`)).toBe(true);
  expect(errors).toEqual([]);
});

test("a long series is drawn at the chart's width and in full detail when zoomed in", async ({ page }) => {
  const errors = collectErrors(page);
  await page.goto("/lab?symbol=AAPL&tf=1d&strategy=sma_cross");
  await done(page);
  // The lab's level of detail on a chart of its own: 300,000 one-minute bars
  // and 3,000 trades, generated in the page.
  const result = await page.evaluate(`(async () => {
    const { Detailed, TRADE_WIDTH } = await import("/lab/detail.js");
    const el = document.createElement("div");
    el.style.cssText = "position: relative; width: 800px; height: 300px";
    document.body.appendChild(el);
    const chart = globalThis.FinstageChart.create(el, true);
    const n = 300000;
    const t = new Float64Array(n), o = new Float64Array(n), h = new Float64Array(n), l = new Float64Array(n), c = new Float64Array(n), v = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      t[i] = 1700000000 + 60 * i;
      c[i] = 100 + 10 * Math.sin(i / 5000) + (i % 7);
      o[i] = c[i] - 1; h[i] = c[i] + 2 + (i === 123457 ? 50 : 0); l[i] = c[i] - 3; v[i] = 1;
    }
    const trades = new Float64Array(3000 * TRADE_WIDTH);
    for (let k = 0; k < 3000; k++) {
      const entry = k * 100 + 10, exit = k * 100 + 60;
      trades.set([1, t[entry], c[entry], t[exit], c[exit], 1, c[exit] - c[entry], 0, 50, 0], k * TRADE_WIDTH);
    }
    const detail = new Detailed(chart).set({ t, candles: { o, h, l, c, v }, lines: [], trades }, false);
    await chart.painted();
    const whole = { points: chart.price.data().length, markers: chart.markers.length, hint: el.querySelector(".lab-chart-hint").hidden ? "" : el.querySelector(".lab-chart-hint").textContent,
      spike: Math.max(...chart.price.data().map((p) => p.high)), volume: chart.volume.data().reduce((s, p) => s + p.value, 0) };
    detail.show(150000, 150300);
    await chart.painted();
    const range = chart.chart.timeScale().getVisibleRange();
    const shown = chart.price.data().filter((p) => p.time >= range.from && p.time <= range.to);
    const exact = shown.every((p) => { const i = (p.time - 1700000000) / 60; return p.open === o[i] && p.high === h[i] && p.low === l[i] && p.close === c[i]; });
    const zoomed = { points: chart.price.data().length, shown: shown.length, exact, markers: chart.markers.length,
      hint: el.querySelector(".lab-chart-hint").hidden, path: chart.lines.get("trades").series.data().length };
    chart.destroy();
    el.remove();
    return { whole, zoomed };
  })()`) as { whole: { points: number; markers: number; hint: string; spike: number; volume: number }; zoomed: { points: number; shown: number; exact: boolean; markers: number; hint: boolean; path: number } };
  // Whole: about two points per pixel (at least 1,000), the highest high kept, every bar's volume counted, no markers but a note.
  expect(result.whole.points).toBeLessThanOrEqual(4 * 1600);
  expect(result.whole.points).toBeGreaterThanOrEqual(1000);
  expect(result.whole.spike).toBeCloseTo(100 + 10 * Math.sin(123457 / 5000) + (123457 % 7) + 52, 6);
  expect(result.whole.volume).toBe(300000);
  expect(result.whole.markers).toBe(0);
  expect(result.whole.hint).toContain("3,000 trades here: zoom in");
  // Zoomed to 300 bars: each drawn bar is the bar itself, and the trades around it are marked.
  expect(result.zoomed.shown).toBeGreaterThanOrEqual(290);
  expect(result.zoomed.exact).toBe(true);
  expect(result.zoomed.hint).toBe(true);
  expect(result.zoomed.markers).toBeGreaterThanOrEqual(6);
  expect(result.zoomed.path).toBeGreaterThanOrEqual(6);
  expect(result.zoomed.points).toBeLessThan(10000);
  expect(errors).toEqual([]);
});

test("a two-parameter sweep shows progress, can be cancelled, and a heatmap cell loads its run", async ({ page }) => {
  const errors = collectErrors(page);
  await page.goto("/lab?symbol=AAPL&tf=1d&strategy=sma_cross");
  await done(page);
  const sweep = page.getByTestId("sweep-form");
  await sweep.locator("select[name=x]").selectOption("fast");
  await sweep.locator("input[name=x_from]").fill("2");
  await sweep.locator("input[name=x_to]").fill("60");
  await sweep.locator("input[name=x_step]").fill("1");
  await sweep.locator("select[name=y]").selectOption("slow");
  await sweep.locator("input[name=y_from]").fill("10");
  await sweep.locator("input[name=y_to]").fill("400");
  await sweep.locator("input[name=y_step]").fill("1");
  await sweep.locator("select[name=metric]").selectOption("total_return");

  // A big grid (59 x 391): progress shows, then cancel stops it part way.
  await sweep.getByRole("button", { name: "Run sweep" }).click();
  await expect(page.getByTestId("sweep-progress")).toContainText(/of 23069 combinations/);
  await page.getByTestId("sweep-cancel").click();
  await expect(page.getByTestId("sweep-status")).toContainText("(cancelled)");
  const cancelled = await page.getByTestId("sweep-status").textContent();
  expect(Number(/^(\d+) of/.exec(cancelled ?? "")?.[1])).toBeLessThan(23069);

  // A small grid runs to the end: a ranked table and the neighbourhood guard.
  await sweep.locator("input[name=x_to]").fill("11");
  await sweep.locator("input[name=y_to]").fill("40");
  await sweep.locator("input[name=y_step]").fill("5");
  await sweep.getByRole("button", { name: "Run sweep" }).click();
  await expect(page.getByTestId("sweep-status")).toContainText("70 of 70 combinations");
  await expect(page.getByTestId("sweep-guard")).toContainText("Best: fast");
  const ranked = page.getByTestId("sweep-ranked").locator("tbody tr");
  await expect(ranked).toHaveCount(20);
  // The best row's return is the highest of the listed ones.
  const returns = await ranked.locator("td:nth-child(5)").allTextContents();
  const values = returns.map((t) => parseFloat(t));
  expect(values[0]).toBe(Math.max(...values));

  // Clicking a heatmap cell puts its parameters into the form and reruns.
  const canvas = page.getByTestId("sweep-heatmap");
  const box = (await canvas.boundingBox())!;
  // The plot spans x from 56 px to width - 70, y from 10 to height - 34: the first column, the top row.
  await canvas.click({ position: { x: 60, y: 14 } });
  await expect(page.locator("#lab-p-fast")).toHaveValue("2");
  await expect(page.locator("#lab-p-slow")).toHaveValue("40");
  await expect(page).toHaveURL(/p\.fast=2&p\.slow=40/);
  await done(page);
  expect(box.width).toBeGreaterThan(100);

  // Walk-forward over the same grid: windows, the chosen parameters, and both curves.
  await sweep.locator("input[name=train]").fill("100");
  await sweep.locator("input[name=test]").fill("25");
  await page.getByTestId("wf-run").click();
  await expect(page.getByTestId("wf-summary")).toContainText(/^\d+ windows\. Mean total_return in sample/);
  const windows = page.getByTestId("wf-windows").locator("tbody tr");
  expect(await windows.count()).toBeGreaterThan(3);
  await expect(windows.first().locator("td.params")).toContainText('"fast":');
  const wfLines = await page.evaluate(`[...globalThis.FinstageChart.instances].map((c) => [...c.lines.keys()])`) as string[][];
  expect(wfLines).toContainEqual(["in-sample"]);
  expect(errors).toEqual([]);
});

test("runs are saved, listed, compared side by side and deleted", async ({ page }) => {
  const errors = collectErrors(page);
  await page.goto("/lab?symbol=AAPL&tf=1d&strategy=sma_cross&p.fast=5&p.slow=20");
  await done(page);
  const save = page.getByTestId("save-form");
  await save.locator("input[name=name]").fill("fast five");
  await save.getByRole("button", { name: "Save this run" }).click();
  await expect(save).toContainText('Saved as "fast five"');
  const firstReturn = await metric(page, "total_return");

  await page.locator("#lab-p-fast").fill("12");
  await expect.poll(() => metric(page, "total_return")).not.toBe(firstReturn);
  await done(page);
  await save.locator("input[name=name]").fill("fast twelve");
  await save.getByRole("button", { name: "Save this run" }).click();
  await expect(save).toContainText('Saved as "fast twelve"');

  const list = page.getByTestId("saved-runs").locator("tbody tr");
  await expect(list).toHaveCount(2);
  await page.getByRole("checkbox", { name: "Compare fast five" }).check();
  await page.getByRole("checkbox", { name: "Compare fast twelve" }).check();
  await page.getByTestId("compare").click();
  const table = page.getByTestId("compare-table");
  await expect(table.locator("thead th")).toHaveText(["Metric", "fast five", "fast twelve"]);
  // The saved metrics are the runs' own.
  await expect(table.locator("tr[data-metric=total_return] td").first()).toHaveText(firstReturn);
  await expect.poll(() =>
    page.evaluate(`[...globalThis.FinstageChart.instances].filter((c) => c.lines.has("run-1")).length`),
  ).toBe(1);
  await done(page);

  // Opening a saved run puts its input in the URL.
  await page.getByRole("button", { name: "fast five", exact: true }).click();
  await expect(page).toHaveURL(/p\.fast=5/);
  await done(page);
  expect(await metric(page, "total_return")).toBe(firstReturn);

  await page.getByRole("button", { name: "Delete fast twelve" }).click();
  await expect(page.getByTestId("saved-runs").locator("tbody tr")).toHaveCount(1);
  expect(errors).toEqual([]);
});

test("the lab opens from the symbol page, from a signal at its bar, and from the strategy settings", async ({ page }) => {
  const errors = collectErrors(page);
  await page.goto("/symbol/AAPL?tf=1d");
  await page.getByTestId("open-lab").click();
  await expect(page).toHaveURL(/\/lab\?symbol=AAPL&tf=1d/);
  await done(page);

  // A strategy from the settings: the first watched symbol is filled in.
  await page.goto("/settings");
  await page.locator("tr[data-strategy=ema_cross] a.lab-link").click();
  await expect(page).toHaveURL(/strategy=ema_cross/);
  await expect(page.locator("#lab-symbol")).not.toHaveValue("");
  await done(page);
  await expect(page.locator("#lab-strategy")).toHaveValue("ema_cross");

  // A signal: its strategy, parameters and series, up to its bar's day.
  await page.goto("/signals");
  const link = page.getByTestId("signal-row").first().locator("a.lab-link");
  const href = (await link.getAttribute("href")) ?? "";
  // Parameters are listed when the signal carries any (default ones may be left out).
  expect(href).toMatch(/^\/lab\?symbol=[A-Z.-]+&tf=\w+&strategy=\w+(&p\.\w+=[^&]+)*&to=\d{4}-\d\d-\d\d$/);
  await link.click();
  await expect(page.getByTestId("lab-status")).toHaveAttribute("data-state", /done|failed/);
  expect(errors).toEqual([]);
});

test("the lab fits a 360 px phone and answers the keyboard", async ({ page }) => {
  const errors = collectErrors(page);
  await page.setViewportSize({ width: 360, height: 800 });
  await page.goto("/lab?symbol=AAPL&tf=1d&strategy=rsi_reversal");
  await done(page);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(overflow).toBeLessThanOrEqual(0);
  // Keyboard only: the strategy's first parameter, a new value, a rerun.
  const before = await metric(page, "trades");
  await page.locator("#lab-p-period").focus();
  await page.keyboard.press("Control+A");
  await page.keyboard.type("5");
  await expect.poll(() => metric(page, "trades")).not.toBe(before);
  await expect(page).toHaveURL(/p\.period=5/);
  expect(errors).toEqual([]);
});
