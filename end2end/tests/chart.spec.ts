import { expect, test, type Page } from "@playwright/test";
import { formatNumber, formatPrice } from "./format";

function collectErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(`console: ${m.text()}`);
  });
  return errors;
}

type ApiBar = { ts: number; open: number; high: number; low: number; close: number; volume: number };
type ApiSignal = { id: number; strategy: string; timeframe: string; bar_ts: number; action: string };

// The adapter's charts (public/chart/finchart.js publishes them for tests).
type Series = {
  seriesType(): string;
  data(): { time: number; close?: number; value?: number; low?: number; high?: number }[];
  priceToCoordinate(p: number): number | null;
};
type Adapter = {
  instances: Set<{
    chart: { panes(): unknown[]; timeScale(): { timeToCoordinate(t: number): number | null } };
    price: Series;
    volume: Series;
  }>;
};
// Evaluated in the page as plain JavaScript.
const adapter = "globalThis.FinstageChart";

function day(ts: number): string {
  return new Date(ts * 1000).toISOString().slice(0, 10);
}

async function drawn(page: Page) {
  return page.evaluate(`(() => {
    const c = [...${adapter}.instances][0];
    const bars = c.price.data();
    return {
      type: c.price.seriesType(),
      bars: bars.length,
      volume: c.volume.data().length,
      panes: c.chart.panes().length,
      last: bars[bars.length - 1],
    };
  })()`) as Promise<{ type: string; bars: number; volume: number; panes: number; last: { time: number; close: number } }>;
}

test("the symbol chart: candles, legend, indicators, zoom and live bars", async ({ page }) => {
  // The page's own request context: it carries the logged-in session.
  const request = page.request;
  const errors = collectErrors(page);
  await page.goto("/symbol/AAPL?tf=1d");
  const chart = page.getByTestId("chart");
  await expect(chart).toHaveAttribute("data-state", "ready");

  // Candles and volume, one of each per bar held.
  const first = await drawn(page);
  expect(first.type).toBe("Candlestick");
  expect(first.bars).toBeGreaterThan(250);
  expect(first.volume).toBe(first.bars);
  await expect(page.getByTestId("bar-count")).toHaveText(`${first.bars} bars of 1d loaded`);
  // The default study (SMA(20)) is over the price: one pane.
  expect(first.panes).toBe(1);

  // Hovering a bar shows its O/H/L/C as the API serves them.
  const bars = (await (await request.get("/api/v1/symbols/AAPL/bars?timeframe=1d&limit=5000")).json()).bars as ApiBar[];
  const target = bars[bars.length - 10];
  const box = (await chart.boundingBox())!;
  const x = (await page.evaluate(`[...${adapter}.instances][0].chart.timeScale().timeToCoordinate(${target.ts})`)) as number;
  await page.mouse.move(box.x + x, box.y + box.height * 0.3);
  await expect(page.getByTestId("legend-time")).toHaveText(day(target.ts));
  await expect(page.getByTestId("legend-open")).toHaveText(formatPrice(target.open));
  await expect(page.getByTestId("legend-high")).toHaveText(formatPrice(target.high));
  await expect(page.getByTestId("legend-low")).toHaveText(formatPrice(target.low));
  await expect(page.getByTestId("legend-close")).toHaveText(formatPrice(target.close));

  // Adding RSI(14) opens a pane; its value at the last closed bar is the API's,
  // and the study list is kept in the URL.
  await page.getByLabel("Indicator", { exact: true }).fill("rsi(14)");
  await page.getByRole("button", { name: "Add", exact: true }).click();
  await expect(page).toHaveURL(/ind=SMA\(20\)(%3B|;)RSI\(14\)/);
  await expect.poll(async () => (await drawn(page)).panes).toBe(2);
  const api = await (await request.get("/api/v1/symbols/AAPL/indicators?ind=RSI(14)&timeframe=1d&limit=5")).json();
  const closed = api.ts.length - 2;
  const closedTs = api.ts[closed] as number;
  const rsi = api.columns[0].values[closed] as number;
  const xClosed = (await page.evaluate(`[...${adapter}.instances][0].chart.timeScale().timeToCoordinate(${closedTs})`)) as number;
  await page.mouse.move(box.x + xClosed, box.y + box.height * 0.3);
  await expect(page.getByTestId("legend-time")).toHaveText(day(closedTs));
  await expect(page.locator('[data-study="RSI(14)"] b')).toHaveText(formatNumber(rsi));

  // A bad indicator gets a message next to the field and changes nothing.
  await page.getByLabel("Indicator", { exact: true }).fill("RSI(0)");
  await page.getByRole("button", { name: "Add", exact: true }).click();
  await expect(page.getByTestId("study-error")).toContainText("RSI");
  await expect(page).toHaveURL(/RSI\(14\)$/);

  // The list survives a reload; removing RSI(14) closes its pane.
  await page.reload();
  await expect(chart).toHaveAttribute("data-state", "ready");
  await expect.poll(async () => (await drawn(page)).panes).toBe(2);
  await page.getByRole("button", { name: "Remove RSI(14)" }).click();
  await expect.poll(async () => (await drawn(page)).panes).toBe(1);

  // Zooming in with the keyboard shows fewer bars.
  const summary = page.getByTestId("chart-summary");
  const shown = async () => Number(/Showing (\d+) of/.exec((await summary.textContent()) ?? "")?.[1] ?? NaN);
  await chart.focus();
  const before = await shown();
  expect(before).toBeGreaterThan(10);
  await page.keyboard.press("+");
  await page.keyboard.press("+");
  await expect.poll(shown).toBeLessThan(before);
  await page.keyboard.press("ArrowLeft");
  await expect(summary).not.toContainText(`to ${day(bars[bars.length - 1].ts)}.`);
  await page.keyboard.press("Home");
  await expect(summary).toContainText(`to ${day(bars[bars.length - 1].ts)}.`);

  // A live bar moves the last candle (the simulated feed ticks every second).
  const lastBefore = (await drawn(page)).last;
  await expect.poll(async () => JSON.stringify((await drawn(page)).last)).not.toBe(JSON.stringify(lastBefore));
  expect((await drawn(page)).bars).toBeGreaterThanOrEqual(first.bars);

  // Line mode keeps the data.
  await page.getByRole("button", { name: "Line", exact: true }).click();
  await expect.poll(async () => (await drawn(page)).type).toBe("Line");
  expect(errors).toEqual([]);
});

test("a signal marker shows its strategy and links to the signal", async ({ page }) => {
  // The page's own request context: it carries the logged-in session.
  const request = page.request;
  const errors = collectErrors(page);
  // The simulated feed produces signals on short timeframes within seconds.
  let signal: ApiSignal | undefined;
  await expect
    .poll(
      async () => {
        const r = await request.get("/api/v1/signals?symbol=AAPL&limit=50");
        const { signals } = (await r.json()) as { signals: ApiSignal[] };
        signal = signals.find((s) => s.timeframe.endsWith("s") || s.timeframe.endsWith("m"));
        return signal !== undefined;
      },
      { timeout: 55_000 },
    )
    .toBe(true);
  await page.goto(`/symbol/AAPL?tf=${signal!.timeframe}`);
  const chart = page.getByTestId("chart");
  await expect(chart).toHaveAttribute("data-state", "ready");
  const box = (await chart.boundingBox())!;

  // The marker sits below the bar for a buy, above it for a sell: sweep the
  // mouse down (or up) from the bar's low (or high) until its tooltip opens.
  const at = (await page.evaluate(`(() => {
    const c = [...${adapter}.instances][0];
    const bar = c.price.data().find((b) => b.time === ${signal!.bar_ts});
    return {
      x: c.chart.timeScale().timeToCoordinate(${signal!.bar_ts}),
      low: c.price.priceToCoordinate(bar.low),
      high: c.price.priceToCoordinate(bar.high),
    };
  })()`)) as { x: number; low: number; high: number };
  const tip = page.getByTestId("signal-tip");
  const buy = signal!.action === "buy";
  for (let d = 0; d <= 60 && !(await tip.isVisible()); d += 2) {
    const y = buy ? at.low + d : at.high - d;
    await page.mouse.move(box.x + at.x, box.y + y);
  }
  await expect(tip).toBeVisible();
  // Several strategies may fire on one bar: the details are those of the
  // marker under the mouse, whichever it is, as the API stores that signal.
  const href = (await tip.getByRole("link", { name: /Open in signals/ }).getAttribute("href")) ?? "";
  const id = Number(/#signal-(\d+)$/.exec(href)?.[1]);
  const r = await request.get("/api/v1/signals?symbol=AAPL&limit=500");
  const shown = ((await r.json()) as { signals: ApiSignal[] }).signals.find((s) => s.id === id);
  expect(shown, `signal ${id} is stored`).toBeDefined();
  expect(shown!.bar_ts).toBe(signal!.bar_ts);
  await expect(page.getByTestId("tip-strategy")).toHaveText(shown!.strategy);
  expect(href).toContain(`strategy=${shown!.strategy}&tf=${shown!.timeframe}`);
  expect(errors).toEqual([]);
});

test("pages without a chart never load the chart library", async ({ page }) => {
  const loaded: string[] = [];
  page.on("request", (r) => loaded.push(new URL(r.url()).pathname));
  await page.goto("/");
  await expect(page.getByTestId("watchlist")).toBeVisible();
  await page.goto("/signals");
  await expect(page.getByTestId("signals")).toBeVisible();
  expect(loaded.filter((p) => p.startsWith("/chart/") || p.startsWith("/vendor/"))).toEqual([]);
});

test("the chart fits a 360 px phone and uses a 2560 px screen, in both themes", async ({ browser }) => {
  for (const [width, colorScheme] of [
    [360, "dark"],
    [2560, "light"],
  ] as const) {
    const context = await browser.newContext({ viewport: { width, height: 900 }, colorScheme });
    const page = await context.newPage();
    const errors = collectErrors(page);
    await page.goto("/symbol/AAPL?tf=1d&ind=EMA(50)%3BRSI(14)");
    const chart = page.getByTestId("chart");
    await expect(chart).toHaveAttribute("data-state", "ready");
    // Nothing scrolls sideways; the chart takes the width it is given.
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(width);
    const box = (await chart.boundingBox())!;
    if (width > 2000) expect(box.width).toBeGreaterThan(1500);
    else expect(box.width).toBeGreaterThan(300);
    // The indicator field works from the keyboard alone.
    await page.getByLabel("Indicator", { exact: true }).focus();
    await page.keyboard.type("EMA(20)");
    await page.keyboard.press("Enter");
    await expect(page).toHaveURL(/EMA\(20\)/);
    expect(errors).toEqual([]);
    await context.close();
  }
});
