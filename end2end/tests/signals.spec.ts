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

type ApiSignal = { id: number; action: string; price: number; evidence: Record<string, number> };

test("a new signal appears live on the signals page", async ({ page }) => {
  // The page's own request context: it carries the logged-in session.
  const request = page.request;
  const errors = collectErrors(page);
  await page.goto("/signals");
  await expect(page.getByTestId("signals")).toBeVisible();
  await page.evaluate(() => ((window as unknown as { finstageMark: number }).finstageMark = 1));

  // The rows the server rendered; a live one is any row not among them.
  const rows = page.getByTestId("signal-row");
  const initial = new Set(await rows.evaluateAll((els) => els.map((e) => e.getAttribute("data-id"))));
  await expect
    .poll(async () => (await rows.evaluateAll((els) => els.map((e) => e.getAttribute("data-id")))).some((id) => !initial.has(id)), {
      timeout: 55_000,
    })
    .toBe(true);

  // A live row shows the stored signal: its action, price and evidence as the API returns them.
  const ids = await rows.evaluateAll((els) => els.map((e) => e.getAttribute("data-id")));
  const id = Number(ids.find((id) => !initial.has(id)));
  const fresh = page.locator(`[data-testid="signal-row"][data-id="${id}"]`);
  const response = await request.get("/api/v1/signals?limit=500");
  expect(response.ok()).toBe(true);
  const { signals } = (await response.json()) as { signals: ApiSignal[] };
  const stored = signals.find((s) => s.id === id);
  expect(stored, `signal ${id} is served by the API`).toBeDefined();
  const evidence = Object.keys(stored!.evidence)
    .sort()
    .map((name) => `${name} ${formatNumber(stored!.evidence[name])}`)
    .join(" · ");
  expect(evidence).not.toBe("");
  await expect(fresh.locator(".badge")).toHaveText(stored!.action);
  await expect(fresh.locator("td.num")).toHaveText(formatPrice(stored!.price));
  await expect(fresh.locator(".evidence")).toHaveText(evidence);
  expect(await page.evaluate(() => (window as unknown as { finstageMark?: number }).finstageMark)).toBe(1);
  expect(errors).toEqual([]);
});

test("a strategy's minimum backtest quality can be changed and is kept", async ({ page }) => {
  const errors = collectErrors(page);
  await page.goto("/settings");
  const row = page.locator('tr[data-strategy="sma_cross"]');
  await expect(row).toBeVisible();
  await row.locator('input[name="min_trades"]').fill("7");
  await row.locator('input[name="min_win_rate"]').fill("0.4");
  await row.getByRole("button", { name: "Save" }).click();
  await expect(row.getByTestId("saved")).toBeVisible();
  expect(errors).toEqual([]);

  // A bad value is refused with a message and changes nothing.
  await row.locator('input[name="min_win_rate"]').fill("abc");
  await row.getByRole("button", { name: "Save" }).click();
  await expect(row.getByTestId("save-error")).toContainText("is not a number");
  // The refusal is an HTTP error status, which the browser logs; nothing else may fail.
  expect(errors.filter((e) => !e.includes("Failed to load resource"))).toEqual([]);
  errors.length = 0;

  await page.reload();
  const again = page.locator('tr[data-strategy="sma_cross"]');
  await expect(again.locator('input[name="min_trades"]')).toHaveValue("7");
  await expect(again.locator('input[name="min_win_rate"]')).toHaveValue("0.4");
  expect(errors).toEqual([]);
});

test("a Telegram subscription can be added and removed from the settings page", async ({ page }) => {
  const errors = collectErrors(page);
  await page.goto("/settings");
  await page.getByTestId("link-chat-id").fill("424242");
  await page.getByRole("button", { name: "Link chat" }).click();
  const chat = page.locator('section[data-chat="424242"]');
  await expect(chat).toBeVisible();

  await chat.getByTestId("subscribe-symbol").fill("aapl");
  await chat.locator('select[name="strategy"]').selectOption("sma_cross");
  await chat.getByTestId("subscribe").click();
  const row = chat.locator('tr[data-testid="subscription"][data-symbol="AAPL"]');
  await expect(row).toContainText("sma_cross");

  // It is stored: still there after a reload.
  await page.reload();
  await expect(page.locator('section[data-chat="424242"] tr[data-symbol="AAPL"]')).toBeVisible();
  await page.locator('section[data-chat="424242"] tr[data-symbol="AAPL"]').getByRole("button", { name: "Remove" }).click();
  await expect(page.locator('section[data-chat="424242"] tr[data-testid="subscription"]')).toHaveCount(0);
  expect(errors).toEqual([]);
});
