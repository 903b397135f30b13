import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { Calendar } from "./Calendar";

const available = new Map([
  ["2026-12-08", 3],
  ["2026-12-09", 1],
  ["2026-12-16", 2],
]);

function renderCalendar(onSelect = vi.fn(), onMonthChange = vi.fn()) {
  render(
    <Calendar
      month="2026-12"
      onMonthChange={onMonthChange}
      selected="2026-12-08"
      onSelect={onSelect}
      available={available}
      minMonth="2026-12"
      maxMonth="2027-01"
    />,
  );
  return { onSelect, onMonthChange };
}

describe("the calendar", () => {
  it("makes only days with availability buttons, named with their count", () => {
    renderCalendar();
    const days = screen.getAllByRole("button", { name: /available/ });
    expect(days.map((day) => day.textContent)).toEqual(["8", "9", "16"]);
    expect(screen.getByRole("button", { name: /(8 December|December 8), 3 times available/ })).toHaveAttribute("aria-pressed", "true");
    expect(screen.getByRole("button", { name: "Previous month" })).toBeDisabled();
  });

  it("moves between available days with the arrow keys and picks with Enter", async () => {
    const { onSelect } = renderCalendar();
    const user = userEvent.setup();
    await user.tab(); // "Previous month" is disabled: "Next month" first
    await user.tab();
    expect(screen.getByRole("button", { name: /(8 December|December 8),/ })).toHaveFocus();
    await user.keyboard("{ArrowRight}");
    await vi.waitFor(() => expect(screen.getByRole("button", { name: /(9 December|December 9),/ })).toHaveFocus());
    await user.keyboard("{ArrowDown}");
    await vi.waitFor(() => expect(screen.getByRole("button", { name: /(16 December|December 16),/ })).toHaveFocus());
    await user.keyboard("{Enter}");
    expect(onSelect).toHaveBeenCalledWith("2026-12-16");
  });
});
