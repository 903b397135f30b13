/** A venue's seats by section and row; available seats toggle, held and sold ones are
 * shown but inert. */
import type { EventSeat } from "../api/types";
import { formatMoney } from "../lib/money";

interface SeatMapProps {
  seats: EventSeat[];
  currency: string;
  selected: ReadonlySet<string>;
  onToggle: (seat: EventSeat) => void;
  disabled?: boolean;
}

export function groupSeats(seats: EventSeat[]): Map<string, Map<string, EventSeat[]>> {
  const sections = new Map<string, Map<string, EventSeat[]>>();
  for (const seat of seats) {
    const rows = sections.get(seat.section) ?? new Map<string, EventSeat[]>();
    rows.set(seat.row, [...(rows.get(seat.row) ?? []), seat]);
    sections.set(seat.section, rows);
  }
  return sections;
}

const STATE_LABEL = { available: "available", held: "held by someone else", sold: "sold" } as const;

export function SeatMap({ seats, currency, selected, onToggle, disabled }: SeatMapProps) {
  const categories = [...new Set(seats.map((seat) => seat.category))];
  return (
    <div className="seat-map">
      <ul className="legend" aria-label="Legend">
        <li><span className="seat-swatch available" /> Available</li>
        <li><span className="seat-swatch selected" /> Your pick</li>
        <li><span className="seat-swatch held" /> Held</li>
        <li><span className="seat-swatch sold" /> Sold</li>
        {categories.map((category, index) => (
          <li key={category}>
            <span className={`seat-swatch category-${index % 4}`} /> {category}:{" "}
            {formatMoney(seats.find((seat) => seat.category === category)?.priceMinor ?? 0, currency)}
          </li>
        ))}
      </ul>
      <div className="stage" aria-hidden="true">Stage</div>
      {[...groupSeats(seats)].map(([section, rows]) => (
        <section key={section} className="seat-section" aria-label={`Section ${section}`}>
          <h3>{section}</h3>
          {[...rows].map(([row, items]) => (
            <div key={row} className="seat-row" role="group" aria-label={`${section}, row ${row}`}>
              <span className="row-label" aria-hidden="true">{row}</span>
              {items.map((seat) => {
                const mine = selected.has(seat.id);
                const category = categories.indexOf(seat.category) % 4;
                return (
                  <button
                    key={seat.id}
                    type="button"
                    className={`seat ${mine ? "selected" : seat.state} category-${category}`}
                    aria-pressed={mine}
                    disabled={disabled || (!mine && seat.state !== "available")}
                    data-seat-id={seat.id}
                    data-state={seat.state}
                    title={`${section} ${row}-${seat.number}, ${seat.category}, ${formatMoney(seat.priceMinor, currency)}`}
                    aria-label={`${section} row ${row} seat ${seat.number}, ${seat.category}, ${formatMoney(seat.priceMinor, currency)}, ${mine ? "selected" : STATE_LABEL[seat.state]}`}
                    onClick={() => onToggle(seat)}
                  >
                    {seat.number}
                  </button>
                );
              })}
            </div>
          ))}
        </section>
      ))}
    </div>
  );
}
