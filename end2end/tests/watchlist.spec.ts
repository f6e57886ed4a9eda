import { expect, test, type Page } from "@playwright/test";

// Any page error or console error fails the test (a broken hydration shows up
// only there).
function collectErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(`console: ${m.text()}`);
  });
  return errors;
}

// The page is hydrated (and live) once a row's price has moved after load.
async function waitUntilLive(page: Page) {
  const aapl = page.getByTestId("watchlist").locator('tr[data-symbol="AAPL"]');
  const before = await aapl.getAttribute("data-ts");
  await expect.poll(() => aapl.getAttribute("data-ts")).not.toBe(before);
}

test("a symbol is added from the page, goes live, and is removed; a bad ticker is refused", async ({ page }) => {
  const errors = collectErrors(page);
  await page.goto("/");
  const watchlist = page.getByTestId("watchlist");
  const rows = watchlist.locator("tbody tr");
  await expect(rows).toHaveCount(7);
  await waitUntilLive(page);

  // Every row carries its sparkline, day range, volume and 52-week position.
  const aapl = watchlist.locator('tr[data-symbol="AAPL"]');
  await expect(aapl.locator("svg.sparkline polyline")).toHaveCount(1);
  await expect(aapl.getByTestId("day-range")).toHaveText(/^\d+\.\d{2,4}–\d+\.\d{2,4}$/);
  await expect(aapl.getByTestId("volume")).toHaveText(/^\d+(\.\d+)?[KMB]?$/);
  await expect(aapl.getByTestId("w52")).toHaveText(/^\d{1,3}%$/);

  // A malformed ticker, typed and sent with the keyboard: refused with a
  // message next to the field, and the list is unchanged.
  const field = page.getByLabel("Add a symbol");
  const message = page.getByTestId("watch-error");
  await field.fill("NO GOOD!");
  await field.press("Enter");
  await expect(message).toHaveText("Symbol `NO GOOD!` may only contain letters, digits and . - = ^ _");
  await expect(field).toHaveAttribute("aria-invalid", "true");
  await expect(rows).toHaveCount(7);

  // A new symbol: its row appears at the end, the field empties, the message goes.
  await field.fill("amd");
  await page.getByRole("button", { name: "Add", exact: true }).click();
  const amd = watchlist.locator('tr[data-symbol="AMD"]');
  await expect(amd).toHaveCount(1);
  await expect(rows).toHaveCount(8);
  await expect(rows.last()).toHaveAttribute("data-symbol", "AMD");
  await expect(field).toHaveValue("");
  await expect(message).toHaveText("");
  await expect(field).toHaveAttribute("aria-invalid", "false");

  // The running feed follows it without a restart: live prices arrive and
  // keep arriving, and its history (sparkline, 52 weeks) is there.
  await expect(amd.getByTestId("price")).toHaveText(/^\d+\.\d{2,4}$/);
  const first = await amd.getAttribute("data-ts");
  await expect.poll(() => amd.getAttribute("data-ts")).not.toBe(first);
  await expect(amd.locator("svg.sparkline polyline")).toHaveCount(1);
  await expect(amd.getByTestId("w52")).toHaveText(/^\d{1,3}%$/);
  await expect(amd.getByTestId("day-range")).toHaveText(/–/);

  // Adding it again changes nothing.
  await field.fill("AMD");
  await field.press("Enter");
  await expect(field).toHaveValue("");
  await expect(rows).toHaveCount(8);

  // Removed with the keyboard, by the button's accessible name.
  const remove = page.getByRole("button", { name: "Remove AMD" });
  await remove.focus();
  await remove.press("Enter");
  await expect(amd).toHaveCount(0);
  await expect(rows).toHaveCount(7);

  // Stored: a fresh load shows the list without it.
  await page.reload();
  await expect(page.getByTestId("watchlist").locator("tbody tr")).toHaveCount(7);
  await expect(page.getByTestId("watchlist").locator('tr[data-symbol="AMD"]')).toHaveCount(0);
  await waitUntilLive(page);
  // The server answers the bad ticker 400, which the browser itself logs; nothing else.
  const refused = errors.filter((e) => e.includes("status of 400"));
  expect(refused.length).toBeLessThanOrEqual(1);
  expect(errors.filter((e) => !e.includes("status of 400"))).toEqual([]);
});

test("the watchlist fits a 360 px phone and a 2560 px screen, in both themes", async ({ page }) => {
  const errors = collectErrors(page);
  const backgrounds = new Set<string>();
  for (const colorScheme of ["dark", "light"] as const) {
    await page.emulateMedia({ colorScheme });
    for (const width of [360, 2560]) {
      await page.setViewportSize({ width, height: 900 });
      await page.goto("/");
      const watchlist = page.getByTestId("watchlist");
      await expect(watchlist.locator("tbody tr")).toHaveCount(7);
      // Nothing wider than the window: no sideways scrolling of the page.
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      expect(overflow, `${colorScheme} at ${width} px`).toBeLessThanOrEqual(0);
      // What a glance needs stays visible at every width.
      const aapl = watchlist.locator('tr[data-symbol="AAPL"]');
      await expect(aapl.getByTestId("price")).toBeVisible();
      await expect(aapl.getByRole("button", { name: "Remove AAPL" })).toBeVisible();
      await expect(page.getByLabel("Add a symbol")).toBeVisible();
      if (width === 2560) {
        await expect(aapl.getByTestId("w52")).toBeVisible();
        await expect(aapl.getByTestId("volume")).toBeVisible();
      }
      backgrounds.add(await page.evaluate(() => getComputedStyle(document.body).backgroundColor));
    }
  }
  expect(backgrounds.size, "the system's theme is followed").toBe(2);
  expect(errors).toEqual([]);
});
