import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import type { EventSeat } from "../api/types";
import { applySeatStates } from "../pages/public/EventPage";
import { SeatMap } from "./SeatMap";

const seat = (id: string, number: string, state: EventSeat["state"], category = "Stalls"): EventSeat => ({
  id,
  section: "Stalls",
  row: "A",
  number,
  category,
  priceMinor: category === "Stalls" ? 2500 : 4000,
  state,
});

const seats = [seat("s1", "1", "available"), seat("s2", "2", "held"), seat("s3", "3", "sold"), seat("s4", "4", "available", "Balcony")];

describe("the seat map", () => {
  it("lets available seats be picked and keeps held and sold ones inert", async () => {
    const onToggle = vi.fn();
    render(<SeatMap seats={seats} currency="EUR" selected={new Set(["s4"])} onToggle={onToggle} />);
    const user = userEvent.setup();
    await user.click(screen.getByRole("button", { name: /seat 1, Stalls, €25.00, available/ }));
    expect(onToggle).toHaveBeenCalledWith(seats[0]);
    expect(screen.getByRole("button", { name: /seat 2, .*held by someone else/ })).toBeDisabled();
    expect(screen.getByRole("button", { name: /seat 3, .*sold/ })).toBeDisabled();
    expect(screen.getByRole("button", { name: /seat 4, Balcony, €40.00, selected/ })).toHaveAttribute("aria-pressed", "true");
  });

  it("applies live seat states", () => {
    const next = applySeatStates({ currency: "EUR", items: seats }, { eventId: "e", seats: [{ seatId: "s1", state: "held" }, { seatId: "s2", state: "available" }] });
    expect(next.items.map((item) => item.state)).toEqual(["held", "available", "sold", "available"]);
  });
});
