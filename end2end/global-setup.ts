// Logs the test admin in once through the login endpoint and keeps the
// session cookie for every test (`use.storageState`).
import { request, type FullConfig } from "@playwright/test";
import { PASSWORD, STATE } from "./playwright.config";

export default async function globalSetup(config: FullConfig) {
  const baseURL = config.projects[0].use.baseURL;
  const context = await request.newContext({ baseURL });
  const response = await context.post("/api/v1/auth/login", { data: { username: "e2e", password: PASSWORD } });
  if (!response.ok()) {
    throw new Error(`logging the test admin in failed: ${response.status()} ${await response.text()}`);
  }
  await context.storageState({ path: STATE });
  await context.dispose();
}
