import { expect, test, type APIRequestContext, type Page } from "@playwright/test";
import { formatPrice } from "./format";

// Any page error or console error fails the test: a broken hydration shows up
// only there, while the server-rendered HTML still looks right.
function collectErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(`console: ${m.text()}`);
  });
  return errors;
}

type Shown = { symbol: string; ts: string; text: string };
type ApiQuote = { symbol: string; price: number; ts: number };

// Compares the prices a page shows with `/api/v1/quotes`. Prices move every
// second, so each displayed quote is compared once the API serves the same
// one (the same `ts`); `read` takes the page's quotes in one evaluation, so a
// live update cannot fall between a quote's time and its price.
async function expectPricesMatchApi(request: APIRequestContext, read: () => Promise<Shown[]>) {
  const compared = new Map<string, { shown: string; api: string }>();
  await expect
    .poll(
      async () => {
        const shown = await read();
        const symbols = shown.map((s) => encodeURIComponent(s.symbol)).join(",");
        const response = await request.get(`/api/v1/quotes?symbols=${symbols}`);
        if (!response.ok()) return [`HTTP ${response.status()}`];
        const { quotes } = (await response.json()) as { quotes: ApiQuote[] };
        for (const s of shown) {
          const quote = quotes.find((q) => q.symbol === s.symbol);
          if (quote && String(quote.ts) === s.ts && !compared.has(s.symbol)) {
            compared.set(s.symbol, { shown: s.text, api: formatPrice(quote.price) });
          }
        }
        return shown.filter((s) => !compared.has(s.symbol)).map((s) => s.symbol);
      },
      { message: "every displayed quote also served by the API" },
    )
    .toEqual([]);
  expect(compared.size).toBeGreaterThan(0);
  for (const [symbol, { shown, api }] of compared) {
    expect(shown, `${symbol}: the displayed price is the API's`).toBe(api);
  }
}

test("the watchlist goes live, a symbol opens, and new prices arrive without a reload", async ({ page }) => {
  // The page's own request context: it carries the logged-in session.
  const request = page.request;
  const errors = collectErrors(page);
  await page.goto("/");

  // Server-rendered watchlist of the default symbols, labelled as simulated.
  const watchlist = page.getByTestId("watchlist");
  await expect(watchlist).toBeVisible();
  await expect(watchlist.locator("tbody tr")).toHaveCount(7);
  await expect(page.getByTestId("simulated-banner")).toBeVisible();

  // Mark this document: a reload would lose the mark.
  await page.evaluate(() => ((window as unknown as { finstageMark: number }).finstageMark = 1));

  // A new quote arrives over the WebSocket and updates the row in place.
  const aapl = watchlist.locator('tr[data-symbol="AAPL"]');
  const before = await aapl.getAttribute("data-ts");
  await expect.poll(() => aapl.getAttribute("data-ts")).not.toBe(before);
  // Every row's price is the API's, as the server formats it.
  await expectPricesMatchApi(request, () =>
    watchlist.locator("tbody tr").evaluateAll((rows) =>
      rows.map((row) => ({
        symbol: row.getAttribute("data-symbol") ?? "",
        ts: row.getAttribute("data-ts") ?? "",
        text: (row.querySelector('[data-testid="price"]')?.textContent ?? "").trim(),
      })),
    ),
  );

  // Client-side navigation (needs a hydrated router) to the symbol page.
  await aapl.getByRole("link", { name: "AAPL" }).click();
  await expect(page).toHaveURL(/\/symbol\/AAPL$/);
  await expect(page.getByTestId("chart")).toHaveAttribute("data-state", "ready");
  await expect(page.getByTestId("legend-close")).toHaveText(/^\d+\.\d{2,4}$/);

  // The symbol page's price updates live too.
  const quote = page.getByTestId("quote");
  const quoteBefore = await quote.getAttribute("data-ts");
  await expect.poll(() => quote.getAttribute("data-ts")).not.toBe(quoteBefore);
  await expectPricesMatchApi(request, async () => [
    await quote.evaluate((el) => ({
      symbol: "AAPL",
      ts: el.getAttribute("data-ts") ?? "",
      text: (el.querySelector('[data-testid="last-price"]')?.textContent ?? "").trim(),
    })),
  ]);

  // The intraday chart grows bar by bar without a reload.
  await page.getByRole("link", { name: "1s", exact: true }).click();
  await expect(page).toHaveURL(/tf=1s(&|$)/);
  const count = page.getByTestId("bar-count");
  const barsBefore = Number((await count.textContent())?.split(" ")[0]);
  await expect.poll(async () => Number((await count.textContent())?.split(" ")[0])).toBeGreaterThan(barsBefore);

  expect(await page.evaluate(() => (window as unknown as { finstageMark?: number }).finstageMark)).toBe(1);
  expect(errors).toEqual([]);
});

test("an unknown symbol shows a clear message", async ({ page }) => {
  const errors = collectErrors(page);
  const response = await page.goto("/symbol/NOSUCH");
  // The page answers 404 (which the browser logs) and says why.
  expect(response?.status()).toBe(404);
  await expect(page.getByTestId("error")).toHaveText("not found: symbol NOSUCH");
  expect(errors.filter((e) => !e.includes("status of 404"))).toEqual([]);
});
