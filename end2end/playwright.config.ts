// Browser tests run against the release build (`cargo leptos build --release`),
// served by the real `finstage` binary on a private port with a fresh SQLite
// file and a fast (1 s) simulated feed.
import { defineConfig } from "@playwright/test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const port = Number(process.env.E2E_PORT ?? 3137);
const dataDir = mkdtempSync(join(tmpdir(), "finstage-e2e-"));

export default defineConfig({
  testDir: "./tests",
  timeout: 60_000,
  expect: { timeout: 15_000 },
  fullyParallel: false,
  workers: 1,
  retries: 0,
  forbidOnly: !!process.env.CI,
  reporter: "list",
  use: {
    baseURL: `http://127.0.0.1:${port}`,
    trace: "off",
    launchOptions: {
      executablePath: "/usr/bin/chromium",
      // Without the background-networking flags Chromium keeps trying to reach
      // Google's services, which this machine's closed network refuses.
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    },
  },
  webServer: {
    command: "../target/release/finstage serve",
    url: `http://127.0.0.1:${port}/readyz`,
    reuseExistingServer: false,
    timeout: 60_000,
    stdout: "ignore",
    stderr: "pipe",
    env: {
      FINSTAGE_LISTEN: `127.0.0.1:${port}`,
      FINSTAGE_DATABASE_URL: `sqlite://${join(dataDir, "e2e.db")}`,
      FINSTAGE_SITE_ROOT: "../target/site",
      FINSTAGE_SIM__INTERVAL: "1s",
      FINSTAGE_SIM__HISTORY_DAYS: "400",
      FINSTAGE_LOG: "warn",
    },
  },
});
