import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, test, type Page } from "@playwright/test";
import { PASSWORD } from "../playwright.config";

// Accounts as a browser meets them: the first start's setup link, logging in
// and out, a session that expires, and a viewer who sees no control that
// would change anything. These tests start without the admin session the
// others share.
test.use({ storageState: { cookies: [], origins: [] } });

function collectErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(`console: ${m.text()}`);
  });
  return errors;
}

async function logIn(page: Page, name: string, password: string) {
  await page.getByLabel("User name").fill(name);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Log in" }).click();
}

test("logging in takes you where you were going; logging out ends the session", async ({ page }) => {
  const errors = collectErrors(page);
  await page.goto("/signals");
  await expect(page).toHaveURL(/\/login\?next=\/signals$/);

  // A wrong password: the reason next to the form, and still logged out.
  await logIn(page, "e2e", "not the password");
  await expect(page.getByRole("alert")).toHaveText("wrong user name or password");
  await expect(page).toHaveURL(/\/login\?/);

  // With the keyboard only: the fields, then Enter.
  await page.getByLabel("User name").fill("e2e");
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByLabel("Password").press("Enter");
  await expect(page).toHaveURL(/\/signals$/);
  await expect(page.getByTestId("user")).toContainText("e2e");
  await expect(page.getByRole("link", { name: "Audit" })).toBeVisible();

  await page.getByTestId("logout").click();
  await expect(page).toHaveURL(/\/login$/);
  await page.goto("/");
  await expect(page).toHaveURL(/\/login\?next=\/$/);
  expect(errors).toEqual([]);
});

test("a viewer sees the data and no control that changes it", async ({ page }) => {
  const errors = collectErrors(page);
  await page.goto("/login");
  await logIn(page, "watcher", PASSWORD);
  await expect(page).toHaveURL(/\/$/);
  await expect(page.getByTestId("user")).toContainText("watcher");
  const rows = page.getByTestId("watchlist").locator("tbody tr");
  await expect(rows.first()).toBeVisible();
  await expect(page.getByLabel("Add a symbol")).toHaveCount(0);
  await expect(page.locator("button.remove")).toHaveCount(0);
  await expect(page.getByRole("link", { name: "Audit" })).toHaveCount(0);

  await page.goto("/settings");
  await expect(page.locator("tr[data-strategy]").first()).toBeVisible();
  await expect(page.getByRole("button", { name: "Save" })).toHaveCount(0);
  await expect(page.getByTestId("new-code")).toHaveCount(0);

  await page.goto("/lab");
  await expect(page.getByTestId("saved-runs")).toBeVisible();
  await expect(page.getByTestId("save-form")).toHaveCount(0);

  // The audit log is an admin's: a viewer asking for it is refused.
  const audit = await page.request.get("/api/v1/audit");
  expect(audit.status()).toBe(403);
  expect(errors).toEqual([]);
});

// A second server with no user yet, for the first start, and with sessions
// that end after four idle seconds.
test.describe("a fresh install", () => {
  test.describe.configure({ mode: "serial" });
  const port = Number(process.env.E2E_PORT ?? 3137) + 1;
  const base = `http://127.0.0.1:${port}`;
  let server: ChildProcess;
  let link = "";

  test.beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), "finstage-e2e-setup-"));
    server = spawn("../target/release/finstage", ["serve"], {
      env: {
        ...process.env,
        FINSTAGE_LISTEN: `127.0.0.1:${port}`,
        FINSTAGE_DATABASE_URL: `sqlite://${join(dir, "fresh.db")}`,
        FINSTAGE_SITE_ROOT: "../target/site",
        FINSTAGE_SIM__INTERVAL: "1s",
        FINSTAGE_SIM__HISTORY_DAYS: "30",
        FINSTAGE_AUTH__SESSION_IDLE_SECS: "4",
        FINSTAGE_LOG: "warn",
      },
      stdio: ["ignore", "pipe", "ignore"],
    });
    let out = "";
    link = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no setup link printed:\n${out}`)), 60_000);
      server.stdout!.on("data", (chunk: Buffer) => {
        out += chunk.toString();
        const found = out.match(/http:\/\/\S+\/setup\?token=\w+/);
        if (found) {
          clearTimeout(timer);
          resolve(found[0]);
        }
      });
    });
  });

  test.afterAll(() => {
    server?.kill("SIGTERM");
  });

  test("the setup link creates the first admin once; until then nothing else opens", async ({ page }) => {
    const errors = collectErrors(page);
    await page.goto(`${base}/`);
    await expect(page).toHaveURL(`${base}/setup`);
    const api = await page.request.get(`${base}/api/v1/symbols`);
    expect(api.status()).toBe(503);

    await page.goto(link);
    await expect(page.getByRole("heading", { name: "Create the first admin" })).toBeVisible();
    await page.getByLabel("User name").fill("root");
    // A common password is refused next to the form, and the link still works.
    await page.getByLabel("Password (at least 8 characters)").fill("password1");
    await page.getByLabel("Password again").fill("password1");
    await page.getByRole("button", { name: "Create admin" }).click();
    await expect(page.getByRole("alert")).toContainText("most common");
    await page.getByLabel("Password (at least 8 characters)").fill(PASSWORD);
    await page.getByLabel("Password again").fill(PASSWORD);
    await page.getByRole("button", { name: "Create admin" }).click();
    await expect(page).toHaveURL(`${base}/`);
    await expect(page.getByTestId("user")).toContainText("root");
    await expect(page.getByTestId("watchlist")).toBeVisible();

    // Used: the link now says so.
    await page.goto(link);
    await page.getByLabel("User name").fill("mallory");
    await page.getByLabel("Password (at least 8 characters)").fill(PASSWORD);
    await page.getByLabel("Password again").fill(PASSWORD);
    await page.getByRole("button", { name: "Create admin" }).click();
    await expect(page.getByRole("alert")).toContainText("not valid");
    expect(errors).toEqual([]);
  });

  test("an idle session expires and the next page asks to log in again", async ({ page }) => {
    await page.goto(`${base}/login`);
    await logIn(page, "root", PASSWORD);
    await expect(page.getByTestId("user")).toContainText("root");
    await page.waitForTimeout(5_000);
    await page.goto(`${base}/settings`);
    await expect(page).toHaveURL(`${base}/login?next=/settings`);
  });
});
