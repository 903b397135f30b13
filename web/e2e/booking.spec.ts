/** The event type journey: an admin creates one, a guest books it from the public
 * link in another browser context while the admin watches it arrive live, then the
 * guest cancels through the manage link. */
import { expect, test } from "@playwright/test";
import { expectAccessible, screenshots, signIn } from "./helpers";

test("admin creates an event type, a guest books and cancels it, the admin sees it live", async ({ browser }) => {
  const suffix = Date.now().toString(36);
  const admin = await (await browser.newContext({ timezoneId: "Europe/Berlin" })).newPage();
  await signIn(admin);
  await expect(admin.getByText("Live", { exact: true })).toBeVisible();
  await screenshots(admin, "admin-dashboard");

  await admin.getByRole("link", { name: "New event type" }).first().click();
  await admin.getByLabel("Name").fill(`Yoga ${suffix}`);
  await admin.getByLabel("Location").fill("Studio 1");
  await admin.getByLabel("Host").selectOption({ label: "Demo Clinic" });
  await admin.getByLabel("Time zone").selectOption("Europe/Berlin");
  // Every day, all day: there is always a slot soon.
  for (let day = 6; day <= 7; day++) await admin.getByRole("button", { name: "Add hours" }).click();
  const weekdays = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];
  for (let day = 1; day <= 7; day++) {
    await admin.getByLabel(`Day ${day}`, { exact: true }).selectOption(weekdays[day - 1]!);
    await admin.getByLabel("From").nth(day - 1).fill("00:00");
    await admin.getByLabel("To").nth(day - 1).fill("23:30");
  }
  await admin.getByLabel("Places per slot").fill("5");
  await admin.getByLabel("Minimum notice (minutes)").fill("0");
  await admin.getByLabel("Custom link (optional)").fill(`yoga-${suffix}`);
  await expectAccessible(admin, "new event type");
  await admin.getByRole("button", { name: "Create event type" }).click();

  await expect(admin.getByRole("heading", { name: `Yoga ${suffix}` })).toBeVisible();
  // The second slot: the first may start (and stop being offered) while the test runs.
  const slot = admin.locator(".slot-summary li").nth(1);
  await expect(slot).toContainText("5 of 5 left");
  const slotStart = await slot.getAttribute("data-start");
  await expect(admin.getByText("Live", { exact: true })).toBeVisible();
  await screenshots(admin, "admin-event-type");
  const bookingUrl = await admin.getByRole("link", { name: new RegExp(`/book/yoga-${suffix}$`) }).getAttribute("href");
  expect(bookingUrl).toMatch(new RegExp(`/book/yoga-${suffix}$`));

  // The guest, in another context (no session), in another time zone.
  const guest = await (await browser.newContext({ timezoneId: "America/New_York" })).newPage();
  await guest.goto(bookingUrl!);
  await expect(guest.getByRole("heading", { name: `Yoga ${suffix}` })).toBeVisible();
  await expect(guest.getByLabel("Time zone")).toHaveValue("America/New_York");
  const slotButton = guest.locator(`button.slot[data-start="${slotStart}"]`);
  if (!(await slotButton.isVisible())) {
    // That slot is on another day (or month) in the guest's zone.
    const day = await guest.evaluate(
      (start) => new Intl.DateTimeFormat("en-CA", { timeZone: "America/New_York" }).format(new Date(start)),
      slotStart!,
    );
    const month = await guest.evaluate(() => new Date().toISOString().slice(0, 7));
    if (!day.startsWith(month)) await guest.getByRole("button", { name: "Next month" }).click();
    await guest.getByRole("button", { name: new RegExp(`\\b${Number(day.slice(8))}\\b.*available`) }).first().click();
  }
  await expect(slotButton).toContainText("5 left");
  await expect(guest.getByText("Live", { exact: true })).toBeVisible();
  await screenshots(guest, "booking-page");
  await slotButton.click();

  await guest.getByRole("button", { name: "Confirm booking" }).click();
  await expect(guest.getByText("First name is required")).toBeVisible();
  await guest.getByLabel("First name").fill("Ada");
  await guest.getByLabel("Last name").fill("Lovelace");
  await guest.getByLabel("Email").fill(`ada.${suffix}@example.com`);
  await guest.getByLabel("Phone").fill("030 1234567");
  await guest.getByRole("button", { name: "Confirm booking" }).click();
  await expect(guest.getByText(/phone number with its country code/)).toBeVisible();
  await guest.getByLabel("Phone").fill("+49 30 1234567");
  await expectAccessible(guest, "booking form");
  await guest.getByRole("button", { name: "Confirm booking" }).click();

  await expect(guest.getByRole("heading", { name: "You are booked" })).toBeVisible();
  const reference = (await guest.getByTestId("reference").textContent())!.trim();
  expect(reference).toMatch(/^[0-9A-Z]{8}$/);
  const ics = await guest.request.get((await guest.getByRole("link", { name: "Add to calendar (.ics)" }).getAttribute("href"))!);
  expect(ics.status()).toBe(200);
  expect(ics.headers()["content-type"]).toContain("text/calendar");
  expect(await ics.text()).toContain("BEGIN:VEVENT");
  await screenshots(guest, "booking-confirmed");

  // Live on the admin's page, with no reload: the booking and the place it took.
  await expect(admin.locator(`.slot-summary li[data-start="${slotStart}"]`)).toContainText("4 of 5 left");
  await expect(admin.getByRole("cell", { name: /Ada Lovelace/ })).toBeVisible();
  await expect(admin.getByRole("cell", { name: reference })).toBeVisible();

  // The guest changes their mind through the manage link.
  await guest.getByRole("link", { name: "View or cancel" }).click();
  await expect(guest.getByTestId("status")).toHaveText("Confirmed");
  await expectAccessible(guest, "manage page");
  await guest.getByRole("button", { name: "Cancel booking" }).click();
  const dialog = guest.getByRole("dialog", { name: "Cancel this booking?" });
  await expect(dialog).toBeVisible();
  await expectAccessible(guest, "cancel dialog");
  await dialog.getByLabel("Reason (optional)").fill("Something came up");
  await dialog.getByRole("button", { name: "Yes, cancel" }).click();
  await expect(guest.getByText("This booking is cancelled: Something came up")).toBeVisible();
  await screenshots(guest, "manage-cancelled");

  await expect(admin.locator(`.slot-summary li[data-start="${slotStart}"]`)).toContainText("5 of 5 left");
  await expect(admin.locator("tr", { hasText: reference })).toContainText("cancelled");
});
