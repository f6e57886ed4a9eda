import { expect, test } from "@playwright/test";

// The edge as a browser sees it: the page hydrates under its Content-Security-Policy
// (a violation is a console error), the built files come compressed, and a
// repeat visit takes them from the browser's cache.
test("the page hydrates under its CSP, and a repeat visit fetches only the HTML", async ({ page }) => {
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(`console: ${m.text()}`);
  });

  const first = await page.goto("/");
  expect(first?.headers()["content-security-policy"]).toContain("'nonce-");
  await expect(page.getByTestId("watchlist")).toBeVisible();

  // Each built file came compressed and cacheable for good.
  const pkg = await page.evaluate(() =>
    performance
      .getEntriesByType("resource")
      .map((e) => e as PerformanceResourceTiming)
      .filter((e) => new URL(e.name).pathname.startsWith("/pkg/"))
      .map((e) => ({ name: e.name, transfer: e.transferSize, body: e.decodedBodySize, encoded: e.encodedBodySize })),
  );
  // The main module, its JS glue, the stylesheet and the small loader of lazy
  // chunks (`__wasm_split.*.js`); no page chunk.
  const kind = (name: string) => {
    const path = new URL(name).pathname;
    return path.startsWith("/pkg/__wasm_split.") ? "split-loader" : path.split(".").pop();
  };
  expect(pkg.map((e) => kind(e.name)).sort()).toEqual(["css", "js", "split-loader", "wasm"]);
  for (const e of pkg) {
    expect(e.transfer, e.name).toBeGreaterThan(0);
    expect(e.encoded, `${e.name} is sent compressed`).toBeLessThan(e.body);
  }
  // The first visit's budget: the HTML and every file it loads, as sent. It
  // was 250 KB; the backtest lab (issue 15) may add at most 10% to the first
  // load before it (242,592 bytes), so 266,851. The lab's code is a lazy
  // chunk, but wasm-split keeps every chunk's data (its strings and tables)
  // in the main module: docs/WASM.md, "The lab's share". The other pages' code is not in it (they are lazy routes, fetched
  // when first opened), which is what the css/js/wasm list above also says.
  const firstLoad = await page.evaluate(() => {
    const html = performance.getEntriesByType("navigation")[0] as PerformanceNavigationTiming;
    const files = performance
      .getEntriesByType("resource")
      .map((e) => e as PerformanceResourceTiming)
      .filter((e) => new URL(e.name).origin === location.origin);
    return html.transferSize + files.reduce((sum, e) => sum + e.transferSize, 0);
  });
  // Accounts (issue 16) add the user menu and the login and setup pages to
  // it; with the principal read from the page (not a resource) the first
  // visit is 252,817 bytes (docs/WASM.md, "Accounts").
  expect(firstLoad).toBeLessThanOrEqual(266_851);

  const wasm = pkg.find((e) => e.name.endsWith(".wasm"));
  const response = await page.request.get(wasm!.name, { headers: { "accept-encoding": "br" } });
  expect(response.headers()["cache-control"]).toBe("public, max-age=31536000, immutable");
  expect(response.headers()["content-encoding"]).toBe("br");

  // A later visit (a new navigation, as from a bookmark) finds every built file cached.
  await page.goto("about:blank");
  await page.goto("/");
  await expect(page.getByTestId("watchlist")).toBeVisible();
  const again = await page.evaluate(() =>
    performance
      .getEntriesByType("resource")
      .map((e) => e as PerformanceResourceTiming)
      .filter((e) => new URL(e.name).pathname.startsWith("/pkg/"))
      .map((e) => ({ name: e.name, transfer: e.transferSize })),
  );
  expect(again.length).toBe(4);
  for (const e of again) expect(e.transfer, `${e.name} came from the cache`).toBe(0);

  // Hydrated: client-side navigation works, fetching the symbol page's chunk.
  await page.locator('tr[data-symbol="AAPL"]').getByRole("link", { name: "AAPL" }).click();
  await expect(page).toHaveURL(/\/symbol\/AAPL$/);
  await expect(page.getByTestId("last-price")).toBeVisible();
  const chunks = await page.evaluate(() =>
    performance
      .getEntriesByType("resource")
      .map((e) => new URL(e.name).pathname)
      .filter((p) => p.startsWith("/pkg/") && p.endsWith(".wasm") && !p.startsWith("/pkg/finstage.")),
  );
  expect(chunks.length, "the symbol page came in its own chunk").toBeGreaterThan(0);
  expect(errors).toEqual([]);
});
