/** The ticket journey on the demo concert: seats held live for everyone, a hold that
 * runs out while the countdown shows, and a paid one. */
import { expect, test, type Page } from "@playwright/test";
import { expectAccessible, required, screenshots } from "./helpers";

async function pickSeats(page: Page, count: number): Promise<string[]> {
  const free = page.locator('button.seat[data-state="available"]:not([aria-pressed="true"])');
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const seat = free.first();
    ids.push((await seat.getAttribute("data-seat-id"))!);
    await seat.click();
  }
  return ids;
}

async function hold(page: Page, name: string): Promise<void> {
  await page.getByLabel("Name").fill(name);
  await page.getByLabel("Email").fill(`${name.toLowerCase().replace(/\W+/g, ".")}@example.com`);
  await page.getByRole("button", { name: /^Hold \d+ seats? and pay$/ }).click();
  await expect(page.getByRole("heading", { name: "Pay for your seats" })).toBeVisible();
}

test("a hold expires while its countdown shows; others see the seats held, then free", async ({ browser }) => {
  const event = required("EVENT_ID");
  const buyer = await (await browser.newContext()).newPage();
  const watcher = await (await browser.newContext()).newPage();
  await buyer.goto(`/events/${event}`);
  await watcher.goto(`/events/${event}`);
  await expect(buyer.getByText("Live", { exact: true })).toBeVisible();
  await expect(watcher.getByText("Live", { exact: true })).toBeVisible();
  await screenshots(buyer, "seat-map");

  const seats = await pickSeats(buyer, 2);
  await expect(buyer.getByRole("button", { name: "Hold 2 seats and pay" })).toBeEnabled();
  await hold(buyer, "Hedy Lamarr");
  const clock = buyer.getByTestId("countdown");
  await expect(clock).toHaveText(/^0:[0-5]\d$/); // HOLD_TTL_SECONDS=20 in the test system
  const first = await clock.textContent();
  await expect(clock).not.toHaveText(first!);
  await expectAccessible(buyer, "checkout");
  await screenshots(buyer, "checkout");

  for (const id of seats) await expect(watcher.locator(`[data-seat-id="${id}"]`)).toHaveAttribute("data-state", "held");
  await expect(watcher.locator(`[data-seat-id="${seats[0]}"]`)).toBeDisabled();

  await expect(buyer.getByTestId("hold-ended")).toHaveText("Your hold expired", { timeout: 60_000 });
  await expect(clock).toHaveCount(0);
  for (const id of seats) {
    await expect(watcher.locator(`[data-seat-id="${id}"]`)).toHaveAttribute("data-state", "available", { timeout: 30_000 });
  }
  await screenshots(buyer, "hold-expired");
});

test("a declined card releases the seats; a good card confirms the tickets", async ({ page }) => {
  await page.goto(`/events/${required("EVENT_ID")}`);
  const [declined] = await pickSeats(page, 1);
  await hold(page, "Grace Hopper");
  await page.getByLabel("Card number (test mode)").fill("4000 0000 0000 0002");
  await page.getByRole("button", { name: /^Pay / }).click();
  await expect(page.getByTestId("hold-ended")).toHaveText("Payment failed");
  await expect(page.getByRole("alert")).toContainText("Your card was declined. Nothing was charged.");
  await expectAccessible(page, "payment failed");
  await page.getByRole("button", { name: "Pick seats again" }).click();
  await expect(page.locator(`[data-seat-id="${declined}"]`)).toHaveAttribute("data-state", "available");

  const [seat] = await pickSeats(page, 1);
  await hold(page, "Grace Hopper");
  await page.getByLabel("Card number (test mode)").fill("4242 4242 4242 4242");
  await page.getByRole("button", { name: /^Pay / }).click();
  await expect(page.getByRole("heading", { name: "You have tickets" })).toBeVisible();
  await expect(page.getByTestId("ticket-reference")).toHaveText(/\S{6,}/);
  await screenshots(page, "tickets-confirmed");
  await page.getByRole("button", { name: "Back to the seat map" }).click();
  await expect(page.locator(`[data-seat-id="${seat}"]`)).toHaveAttribute("data-state", "sold");
});
