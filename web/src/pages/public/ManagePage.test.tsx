import { screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";
import { fakeFetch, json, problem, renderAt } from "../../test/render";
import { ManagePage } from "./ManagePage";

const booking = (status: "confirmed" | "cancelled") => ({
  booking: {
    id: "b1",
    reference: "ABCD2345",
    status,
    startTime: "2026-12-08T09:00:00Z",
    endTime: "2026-12-08T09:30:00Z",
    createdAt: "2026-12-01T09:00:00Z",
    guest: { firstName: "Ada", lastName: "Lovelace", email: "ada@example.com", phone: "+49301234567" },
    eventType: { name: "Yoga", providerName: "Studio", location: "Hall 1" },
    ...(status === "cancelled" ? { cancelReason: "ill" } : {}),
  },
});

afterEach(() => vi.unstubAllGlobals());

describe("the manage page", () => {
  it("shows the booking and cancels it after asking", async () => {
    const calls = fakeFetch((call) => json(200, booking(call.method === "POST" ? "cancelled" : "confirmed")));
    renderAt(<ManagePage />, { path: "/manage/ABCD2345?token=t0k", pattern: "/manage/:reference" });
    expect(await screen.findByRole("heading", { name: "Yoga" })).toBeInTheDocument();
    expect(screen.getByTestId("status")).toHaveTextContent("Confirmed");
    expect(screen.getByRole("link", { name: "Add to calendar (.ics)" })).toHaveAttribute("href", "/public/bookings/ABCD2345.ics?token=t0k");
    const user = userEvent.setup();
    await user.click(screen.getByRole("button", { name: "Cancel booking" }));
    const dialog = await screen.findByRole("dialog", { name: "Cancel this booking?" });
    await user.type(screen.getByLabelText("Reason (optional)"), "ill");
    await user.click(screen.getByRole("button", { name: "Yes, cancel" }));
    expect(await screen.findByText("This booking is cancelled: ill")).toBeInTheDocument();
    expect(dialog).not.toBeInTheDocument();
    expect(calls.at(-1)).toMatchObject({ method: "POST", url: "/public/bookings/ABCD2345/cancel?token=t0k", body: { reason: "ill" } });
  });

  it("says so when the link is wrong", async () => {
    fakeFetch(() => problem(404, "NOT_FOUND", "booking not found"));
    renderAt(<ManagePage />, { path: "/manage/NOPE?token=x", pattern: "/manage/:reference" });
    expect(await screen.findByRole("heading", { name: "Booking not found" })).toBeInTheDocument();
    expect(screen.getByRole("alert")).toHaveTextContent("booking not found");
  });
});
