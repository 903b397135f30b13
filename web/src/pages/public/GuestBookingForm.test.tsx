import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";
import { fakeFetch, json, problem, renderAt } from "../../test/render";
import { GuestBookingForm } from "./GuestBookingForm";

const slot = { start: "2026-12-08T09:00:00Z", end: "2026-12-08T09:30:00Z", capacity: 5, remaining: 3 };

function renderForm(onSlotGone = vi.fn()) {
  renderAt(
    <GuestBookingForm slug="yoga" slot={slot} timeZone="Europe/Berlin" onBack={vi.fn()} onSlotGone={onSlotGone} />,
    { path: "/book/yoga", pattern: "/book/:slug" },
  );
  return onSlotGone;
}

async function fill(values: Record<string, string>) {
  const user = userEvent.setup();
  for (const [label, value] of Object.entries(values)) await user.type(screen.getByLabelText(label), value);
  await user.click(screen.getByRole("button", { name: "Confirm booking" }));
  return user;
}

const ada = { "First name": "Ada", "Last name": "Lovelace", Email: "ada@example.com", Phone: "+49 30 1234567" };

afterEach(() => vi.unstubAllGlobals());

describe("the guest booking form", () => {
  it("checks every field before sending anything", async () => {
    const calls = fakeFetch(() => json(500, {}));
    renderForm();
    await fill({ Phone: "030 123" });
    expect(await screen.findByText("First name is required")).toBeInTheDocument();
    expect(screen.getByText("Last name is required")).toBeInTheDocument();
    expect(screen.getByText("Email is required")).toBeInTheDocument();
    expect(screen.getByText(/phone number with its country code/)).toBeInTheDocument();
    expect(screen.getByLabelText("Phone")).toHaveAttribute("aria-invalid", "true");
    expect(calls).toHaveLength(0);
  });

  it("books the slot once with an idempotency key and opens the confirmation", async () => {
    const calls = fakeFetch(() =>
      json(201, { bookingId: "b1", reference: "ABCD2345", manageUrl: "http://localhost/manage/ABCD2345?token=t0k" }),
    );
    renderForm();
    await fill(ada);
    expect(await screen.findByText("elsewhere")).toBeInTheDocument();
    expect(calls).toHaveLength(1);
    const [call] = calls;
    expect(call!.url).toBe("/public/event-types/yoga/bookings");
    expect(call!.body).toMatchObject({
      slotStart: slot.start,
      firstName: "Ada",
      lastName: "Lovelace",
      email: "ada@example.com",
      phone: "+49 30 1234567",
    });
    expect((call!.body as { idempotencyKey: string }).idempotencyKey).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("puts the server's field errors on the fields", async () => {
    fakeFetch(() =>
      problem(400, "VALIDATION_FAILED", "invalid", {
        errors: [{ field: "guest.email", message: "must be an email address (domain does not exist)" }],
      }),
    );
    renderForm();
    await fill(ada);
    expect(await screen.findByText("must be an email address (domain does not exist)")).toBeInTheDocument();
    await waitFor(() => expect(screen.getByLabelText("Email")).toHaveFocus());
  });

  it("says when the slot filled up meanwhile and offers another", async () => {
    fakeFetch(() => problem(409, "SLOT_FULL", "the slot is full"));
    const onSlotGone = renderForm();
    const user = await fill(ada);
    const alert = await screen.findByRole("alert");
    expect(alert).toHaveTextContent("That time has just been taken");
    await user.click(screen.getByRole("button", { name: "Pick another time" }));
    expect(onSlotGone).toHaveBeenCalled();
  });

  it("shows what went wrong when the gateway is down, with the request id", async () => {
    fakeFetch(() => problem(503, "UPSTREAM_UNAVAILABLE", "booking-core is unavailable"));
    renderForm();
    await fill(ada);
    expect(await screen.findByRole("alert")).toHaveTextContent("Not booked. booking-core is unavailable (request req-1)");
  });
});
