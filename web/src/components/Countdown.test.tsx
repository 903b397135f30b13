import { act, render, screen } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { Countdown, formatClock, secondsLeft } from "./Countdown";

afterEach(() => vi.useRealTimers());

describe("the hold countdown", () => {
  it("formats minutes and seconds", () => {
    expect(formatClock(600)).toBe("10:00");
    expect(formatClock(61)).toBe("1:01");
    expect(secondsLeft("2026-12-03T10:00:10Z", Date.parse("2026-12-03T10:00:00.5Z"))).toBe(10);
    expect(secondsLeft("2026-12-03T10:00:00Z", Date.parse("2026-12-03T10:00:05Z"))).toBe(0);
  });

  it("ticks down and calls onDone once at zero", () => {
    vi.useFakeTimers();
    vi.setSystemTime(new Date("2026-12-03T10:00:00Z"));
    const onDone = vi.fn();
    render(<Countdown until="2026-12-03T10:00:03Z" onDone={onDone} />);
    expect(screen.getByTestId("countdown")).toHaveTextContent("0:03");
    act(() => vi.advanceTimersByTime(2000));
    expect(screen.getByTestId("countdown")).toHaveTextContent("0:01");
    act(() => vi.advanceTimersByTime(3000));
    expect(screen.getByTestId("countdown")).toHaveTextContent("0:00");
    expect(onDone).toHaveBeenCalledTimes(1);
    expect(screen.getByText("Your hold has ended.")).toBeInTheDocument();
  });
});
