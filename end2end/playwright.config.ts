// Browser tests run against the release build (`cargo leptos build --release`),
// served by the real `finstage` binary on a private port with a fresh SQLite
// file and a fast (1 s) simulated feed. Before it starts, the command line adds
// the test users (an admin `e2e` and a viewer `watcher`); the global setup logs
// the admin in and every test starts with that session, unless it asks for
// another (tests/accounts.spec.ts).
import { defineConfig } from "@playwright/test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const port = Number(process.env.E2E_PORT ?? 3137);
// One data directory for the run: the config is read again by each worker,
// which inherits the environment of the process that made it.
process.env.E2E_DATA_DIR ??= mkdtempSync(join(tmpdir(), "finstage-e2e-"));
const dataDir = process.env.E2E_DATA_DIR;
export const PASSWORD = "e2e correct horse battery";
export const STATE = join(dataDir, "admin-session.json");
const bin = "../target/release/finstage";
const users =
  `printf "%s\\n" "$E2E_PASSWORD" | ${bin} users add e2e --role admin && ` +
  `printf "%s\\n" "$E2E_PASSWORD" | ${bin} users add watcher --role viewer`;

export default defineConfig({
  testDir: "./tests",
  timeout: 60_000,
  expect: { timeout: 15_000 },
  fullyParallel: false,
  workers: 1,
  retries: 0,
  forbidOnly: !!process.env.CI,
  reporter: "list",
  globalSetup: "./global-setup.ts",
  use: {
    baseURL: `http://127.0.0.1:${port}`,
    storageState: STATE,
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
    command: `sh -c '${users} && exec ${bin} serve'`,
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
      E2E_PASSWORD: PASSWORD,
    },
  },
});
