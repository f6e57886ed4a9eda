// Screenshots of the backtest lab for docs/screenshots/ (run by
// server/bench/screenshots.sh after the dashboard's): a run (form, charts,
// metrics), a two-parameter sweep's heatmap with its ranked table, a
// walk-forward, a comparison of two saved runs, a million one-minute bars
// (whole and zoomed to a trade), and the page on a phone.
// Dark theme. Fails on any console error.
const { chromium } = require("@playwright/test");

const BASE = process.env.BASE ?? "http://127.0.0.1:3192";
const OUT = process.env.OUT ?? "docs/screenshots";
const RUN = `${BASE}/lab?symbol=AAPL&tf=1d&strategy=sma_cross&p.fast=10&p.slow=30&commission=0.001&mode=long-short`;

async function done(page) {
  await page.waitForSelector('[data-testid="lab-status"][data-state="done"]');
}

(async () => {
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
  });
  const errors = [];
  const page = await browser.newPage({ viewport: { width: 1400, height: 1100 }, colorScheme: "dark" });
  // Saving runs needs a trader: the admin server/bench/accounts.sh made.
  await page.request.post(`${BASE}/api/v1/auth/login`, { data: { username: "bench", password: "bench passphrase 2026" } });
  page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
  page.on("pageerror", (e) => errors.push(e.message));

  await page.goto(RUN);
  await done(page);
  await page.getByTestId("lab-check").click();
  await page.waitForSelector('[data-testid="lab-check-result"] .check-ok');
  await page.screenshot({ path: `${OUT}/lab-run.png`, fullPage: false });

  const sweep = page.getByTestId("sweep-form");
  await sweep.locator("input[name=x_from]").fill("2");
  await sweep.locator("input[name=x_to]").fill("40");
  await sweep.locator("input[name=x_step]").fill("1");
  await sweep.locator("select[name=y]").selectOption("slow");
  await sweep.locator("input[name=y_from]").fill("10");
  await sweep.locator("input[name=y_to]").fill("120");
  await sweep.locator("input[name=y_step]").fill("2");
  await sweep.getByRole("button", { name: "Run sweep" }).click();
  await page.waitForSelector('[data-testid="sweep-status"]');
  await page.locator(".lab-sweep").first().screenshot({ path: `${OUT}/lab-sweep.png` });

  await sweep.locator("input[name=train]").fill("504");
  await sweep.locator("input[name=test]").fill("126");
  await page.getByTestId("wf-run").click();
  await page.waitForSelector('[data-testid="wf-summary"]');
  await page.waitForTimeout(300);
  await page.locator(".lab-sweep").nth(1).screenshot({ path: `${OUT}/lab-walk-forward.png` });

  const save = page.getByTestId("save-form");
  await page.goto(RUN);
  await done(page);
  await save.locator("input[name=name]").fill("SMA 10/30, long-short");
  await save.getByRole("button", { name: "Save this run" }).click();
  await page.waitForSelector('text=Saved as "SMA 10/30, long-short"');
  await page.locator("#lab-p-fast").fill("20");
  await page.locator("#lab-p-slow").fill("60");
  await page.waitForTimeout(400);
  await done(page);
  await save.locator("input[name=name]").fill("SMA 20/60, long-short");
  await save.getByRole("button", { name: "Save this run" }).click();
  await page.waitForSelector('text=Saved as "SMA 20/60, long-short"');
  await page.getByRole("checkbox", { name: "Compare SMA 10/30, long-short" }).check();
  await page.getByRole("checkbox", { name: "Compare SMA 20/60, long-short" }).check();
  await page.getByTestId("compare").click();
  await page.waitForSelector('[data-testid="compare-table"]');
  await page.waitForTimeout(800);
  await page.locator(".lab-sweep").nth(2).screenshot({ path: `${OUT}/lab-compare.png` });
  await page.close();

  // A million one-minute bars (LABM, imported by screenshots.sh): the whole
  // run at the chart's width with the note to zoom in, then one trade chosen
  // from the list, every bar of it drawn with its markers.
  const million = await browser.newPage({ viewport: { width: 1400, height: 1100 }, colorScheme: "dark" });
  million.on("console", (m) => m.type() === "error" && errors.push(`million: ${m.text()}`));
  million.on("pageerror", (e) => errors.push(`million: ${e.message}`));
  await million.goto(`${BASE}/lab?symbol=LABM&tf=1m&strategy=sma_cross&p.fast=10&p.slow=30&mode=long-short`);
  await million.waitForSelector('[data-testid="lab-status"][data-state="done"]', { timeout: 60_000 });
  await million.waitForTimeout(500);
  await million.screenshot({ path: `${OUT}/lab-million.png`, fullPage: false });
  await million.getByTestId("lab-trades").locator("tbody tr").nth(3).getByRole("button").click();
  await million.waitForTimeout(800);
  await million.getByTestId("lab-price").screenshot({ path: `${OUT}/lab-million-zoomed.png` });
  await million.close();

  const phone = await browser.newPage({ viewport: { width: 390, height: 900 }, colorScheme: "dark" });
  phone.on("console", (m) => m.type() === "error" && errors.push(`phone: ${m.text()}`));
  await phone.goto(RUN);
  await done(phone);
  await phone.screenshot({ path: `${OUT}/lab-phone.png`, fullPage: false });
  const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  if (overflow > 0) console.error(await phone.evaluate(() => [...document.querySelectorAll("body *")].filter((e) => e.getBoundingClientRect().right > innerWidth + 1 && !e.closest(".table-scroll")).map((e) => e.tagName + "." + e.className).slice(0, 10).join(" ")));
  if (overflow > 0) errors.push(`the lab is ${overflow} px wider than a 390 px phone`);
  await phone.close();

  await browser.close();
  if (errors.length) {
    console.error(errors.join("\n"));
    process.exit(1);
  }
})();
