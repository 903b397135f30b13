import { describe, expect, it } from "vitest";
import { applyAvailability } from "./BookingPage";

const list = {
  timeZone: "UTC",
  slots: [
    { start: "2026-12-08T09:00:00Z", end: "2026-12-08T09:30:00Z", capacity: 5, remaining: 2 },
    { start: "2026-12-08T10:00:00Z", end: "2026-12-08T10:30:00Z", capacity: 5, remaining: 5 },
  ],
};

describe("live slot availability", () => {
  it("updates the places left of a listed slot, matching instants in any offset", () => {
    const next = applyAvailability(list, { slug: "y", slotStart: "2026-12-08T10:00:00+01:00", slotEnd: "", capacity: 5, remaining: 0 });
    expect(next.slots.map((slot) => slot.remaining)).toEqual([0, 5]);
  });

  it("brings back a slot that frees up, in order, and ignores a full unknown one", () => {
    const freed = applyAvailability(list, { slug: "y", slotStart: "2026-12-08T09:30:00Z", slotEnd: "2026-12-08T10:00:00Z", capacity: 5, remaining: 1 });
    expect(freed.slots.map((slot) => slot.start)).toEqual(["2026-12-08T09:00:00Z", "2026-12-08T09:30:00Z", "2026-12-08T10:00:00Z"]);
    expect(applyAvailability(list, { slug: "y", slotStart: "2026-12-09T09:00:00Z", slotEnd: "", capacity: 5, remaining: 0 })).toBe(list);
  });
});
