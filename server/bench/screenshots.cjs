// Screenshots of the dashboard for docs/screenshots/ (run by
// server/bench/screenshots.sh against a server it starts): the symbol page
// with candles, volume, two overlays, an RSI and a MACD pane and the crosshair
// on a bar, and the watchlist, each in the dark and the light theme, on a
// desktop (1400 px) and a phone (390 px) screen. Fails on any console error.
const { chromium } = require("@playwright/test");

const BASE = process.env.BASE ?? "http://127.0.0.1:3192";
const OUT = process.env.OUT ?? "docs/screenshots";
const SYMBOL = `${BASE}/symbol/AAPL?tf=1d&ind=EMA(50)%3BBBANDS(20,2,2)%3BRSI(14)%3BMACD(12,26,9)`;

(async () => {
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
  });
  const errors = [];
  for (const scheme of ["dark", "light"]) {
    for (const [name, width] of [["desktop", 1400], ["phone", 390]]) {
      const page = await browser.newPage({ viewport: { width, height: 900 }, colorScheme: scheme });
      page.on("console", (m) => m.type() === "error" && errors.push(`${scheme} ${width}: ${m.text()}`));
      page.on("pageerror", (e) => errors.push(`${scheme} ${width}: ${e.message}`));
      await page.goto(SYMBOL);
      await page.waitForSelector('[data-testid="chart"][data-state="ready"]');
      const box = await page.getByTestId("chart").boundingBox();
      await page.mouse.move(box.x + box.width * 0.62, box.y + box.height * 0.3);
      await page.waitForTimeout(400);
      await page.screenshot({ path: `${OUT}/symbol-${scheme}-${name}.png`, fullPage: true });
      await page.goto(BASE + "/");
      await page.waitForSelector('[data-testid="watchlist"]');
      await page.waitForTimeout(1500);
      await page.screenshot({ path: `${OUT}/watchlist-${scheme}-${name}.png`, fullPage: true });
      await page.close();
    }
  }
  await browser.close();
  if (errors.length) {
    console.error(errors.join("\n"));
    process.exit(1);
  }
})();
