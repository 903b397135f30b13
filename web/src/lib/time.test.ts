import { describe, expect, it } from "vitest";
import { addDays, dayKey, fromLocalInput, monthGrid, offsetMinutes, startOfDay, toLocalInput } from "./time";

describe("time zones", () => {
  it("puts an instant on the day it falls on in each zone", () => {
    const instant = "2026-03-28T23:30:00Z";
    expect(dayKey(instant, "UTC")).toBe("2026-03-28");
    expect(dayKey(instant, "Europe/Berlin")).toBe("2026-03-29");
    expect(dayKey(instant, "America/New_York")).toBe("2026-03-28");
  });

  it("knows the offset on both sides of a daylight saving change", () => {
    expect(offsetMinutes(new Date("2026-03-29T00:30:00Z"), "Europe/Berlin")).toBe(60);
    expect(offsetMinutes(new Date("2026-03-29T01:30:00Z"), "Europe/Berlin")).toBe(120);
    expect(offsetMinutes(new Date("2026-07-01T00:00:00Z"), "Asia/Kolkata")).toBe(330);
  });

  it("finds local midnight, also on a day that is 23 hours long", () => {
    expect(startOfDay("2026-03-29", "Europe/Berlin").toISOString()).toBe("2026-03-28T23:00:00.000Z");
    expect(startOfDay("2026-03-30", "Europe/Berlin").toISOString()).toBe("2026-03-29T22:00:00.000Z");
    expect(startOfDay("2026-07-01", "UTC").toISOString()).toBe("2026-07-01T00:00:00.000Z");
  });

  it("turns datetime-local values into instants and back", () => {
    expect(fromLocalInput("2026-10-25T02:30", "Europe/Berlin")).toMatch(/^2026-10-25T0[01]:30:00.000Z$/);
    expect(fromLocalInput("2026-12-03T19:30", "Europe/Berlin")).toBe("2026-12-03T18:30:00.000Z");
    expect(toLocalInput("2026-12-03T18:30:00Z", "Europe/Berlin")).toBe("2026-12-03T19:30");
    expect(fromLocalInput("2026-06-01T09:00", "America/Los_Angeles")).toBe("2026-06-01T16:00:00.000Z");
  });
});

describe("calendar grid", () => {
  it("covers the month in whole weeks starting on Monday (ISO 8601)", () => {
    const grid = monthGrid("2026-12");
    expect(grid).toHaveLength(35);
    expect(grid[0]).toBe("2026-11-30"); // 1 December 2026 is a Tuesday
    expect(grid[1]).toBe("2026-12-01");
    expect(grid.at(-1)).toBe("2027-01-03");
    expect(monthGrid("2027-02")).toHaveLength(28); // starts on a Monday, 28 days
  });

  it("adds days across month and year ends", () => {
    expect(addDays("2026-12-31", 1)).toBe("2027-01-01");
    expect(addDays("2028-03-01", -1)).toBe("2028-02-29");
  });
});
