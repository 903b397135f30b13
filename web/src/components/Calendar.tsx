/** A month of days; days with availability are buttons, the rest are inert. Arrow
 * keys move between days (a week with up/down), Home/End to the week's ends. */
import { useRef, type KeyboardEvent } from "react";
import { addDays, addMonths, formatDay, formatMonth, monthGrid } from "../lib/time";

interface CalendarProps {
  month: string;
  onMonthChange: (month: string) => void;
  selected: string | null;
  onSelect: (day: string) => void;
  /** Day keys with at least one slot, and how many slots each has. */
  available: Map<string, number>;
  minMonth: string;
  maxMonth: string;
}

const WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

export function Calendar({
  month,
  onMonthChange,
  selected,
  onSelect,
  available,
  minMonth,
  maxMonth,
}: CalendarProps) {
  const grid = monthGrid(month);
  const refs = useRef(new Map<string, HTMLButtonElement>());
  const focusable = grid.find((day) => day === selected && available.has(day)) ??
    grid.find((day) => day.startsWith(month) && available.has(day));

  function move(event: KeyboardEvent<HTMLButtonElement>, day: string) {
    const step = { ArrowLeft: -1, ArrowRight: 1, ArrowUp: -7, ArrowDown: 7 }[event.key];
    let target: string | undefined;
    if (step) {
      target = addDays(day, step);
      for (let i = 0; i < 42 && !available.has(target); i++) target = addDays(target, step > 0 ? 1 : -1);
    } else if (event.key === "Home" || event.key === "End") {
      const index = grid.indexOf(day);
      const start = index - (index % 7);
      const week = grid.slice(start, start + 7).filter((d) => available.has(d));
      target = event.key === "Home" ? week[0] : week.at(-1);
    }
    if (!target || !available.has(target)) return;
    event.preventDefault();
    if (!target.startsWith(month)) onMonthChange(target.slice(0, 7));
    requestAnimationFrame(() => refs.current.get(target)?.focus());
  }

  return (
    <div className="calendar">
      <div className="calendar-head">
        <button
          type="button"
          className="button secondary icon"
          onClick={() => onMonthChange(addMonths(month, -1))}
          disabled={month <= minMonth}
          aria-label="Previous month"
        >
          ‹
        </button>
        <h3 aria-live="polite">{formatMonth(month)}</h3>
        <button
          type="button"
          className="button secondary icon"
          onClick={() => onMonthChange(addMonths(month, 1))}
          disabled={month >= maxMonth}
          aria-label="Next month"
        >
          ›
        </button>
      </div>
      <table role="grid" aria-label={formatMonth(month)}>
        <thead>
          <tr>
            {WEEKDAYS.map((weekday) => (
              <th key={weekday} scope="col" abbr={weekday}>
                {weekday}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {Array.from({ length: grid.length / 7 }, (_, week) => (
            <tr key={week}>
              {grid.slice(week * 7, week * 7 + 7).map((day) => {
                const count = available.get(day) ?? 0;
                const inMonth = day.startsWith(month);
                return (
                  <td key={day} role="gridcell" aria-selected={day === selected}>
                    {inMonth && count > 0 ? (
                      <button
                        type="button"
                        ref={(node) => {
                          if (node) refs.current.set(day, node);
                          else refs.current.delete(day);
                        }}
                        className={`day available${day === selected ? " selected" : ""}`}
                        tabIndex={day === focusable ? 0 : -1}
                        aria-pressed={day === selected}
                        aria-label={`${formatDay(day)}, ${count} ${count === 1 ? "time" : "times"} available`}
                        onClick={() => onSelect(day)}
                        onKeyDown={(event) => move(event, day)}
                      >
                        {Number(day.slice(8))}
                      </button>
                    ) : (
                      <span className={`day${inMonth ? "" : " outside"}`} aria-hidden={!inMonth}>
                        {inMonth ? Number(day.slice(8)) : ""}
                      </span>
                    )}
                  </td>
                );
              })}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
