/** The public booking page of an event type (`/book/:slug`): a month of days with
 * availability, the chosen day's times in the guest's time zone with the places
 * left (live), then the guest form. */
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useMemo, useRef, useState } from "react";
import { useParams } from "react-router";
import { getPublicEventType, getSlots } from "../../api/endpoints";
import type { Slot, SlotAvailability, SlotList } from "../../api/types";
import { Calendar } from "../../components/Calendar";
import { ErrorMessage, LiveBadge, Loading, Select } from "../../components/ui";
import { useLiveEvents } from "../../lib/live";
import {
  addMonths,
  browserTimeZone,
  dayKey,
  formatDay,
  formatTime,
  startOfDay,
  timeZones,
} from "../../lib/time";
import { GuestBookingForm } from "./GuestBookingForm";
import { useDocumentTitle } from "../../lib/title";

/** Apply one slot.availability event to a cached slot list: a full slot stays listed
 * (greyed out), a slot that frees up again comes back. */
export function applyAvailability(list: SlotList, event: SlotAvailability): SlotList {
  const at = Date.parse(event.slotStart);
  const index = list.slots.findIndex((slot) => Date.parse(slot.start) === at);
  if (index >= 0) {
    const slots = list.slots.slice();
    slots[index] = { ...slots[index]!, remaining: event.remaining, capacity: event.capacity };
    return { ...list, slots };
  }
  if (event.remaining <= 0) return list;
  const slot: Slot = {
    start: event.slotStart,
    end: event.slotEnd,
    capacity: event.capacity,
    remaining: event.remaining,
  };
  const slots = [...list.slots, slot].sort((a, b) => Date.parse(a.start) - Date.parse(b.start));
  return { ...list, slots };
}

export function BookingPage() {
  const { slug = "" } = useParams();
  const queryClient = useQueryClient();
  const eventType = useQuery({
    queryKey: ["public-event-type", slug],
    queryFn: () => getPublicEventType(slug),
  });
  const [timeZone, setTimeZone] = useState(browserTimeZone);
  const today = dayKey(new Date(), timeZone);
  const [month, setMonth] = useState(today.slice(0, 7));
  const [chosenDay, setDay] = useState<string | null>(null);
  const [openedAt] = useState(() => Date.now());
  const [slot, setSlot] = useState<Slot | null>(null);
  const zones = useMemo(() => timeZones(), []);
  useDocumentTitle(eventType.data ? `Book ${eventType.data.name}` : "Book");

  const from = useMemo(() => {
    const first = startOfDay(`${month}-01`, timeZone);
    return new Date(Math.max(first.getTime(), openedAt)).toISOString();
  }, [month, timeZone, openedAt]);
  const to = startOfDay(`${addMonths(month, 1)}-01`, timeZone).toISOString();
  const slotsKey = ["slots", slug, month, timeZone];
  const slots = useQuery({
    queryKey: slotsKey,
    queryFn: () => getSlots(slug, { from, to, timeZone }),
    enabled: eventType.isSuccess,
  });
  const live = useLiveEvents<SlotAvailability>(
    eventType.isSuccess ? `/public/event-types/${encodeURIComponent(slug)}/availability` : null,
    "slot.availability",
    (event) => {
      queryClient.setQueriesData<SlotList>({ queryKey: ["slots", slug] }, (list) =>
        list ? applyAvailability(list, event.data) : list,
      );
    },
  );

  const byDay = useMemo(() => {
    const groups = new Map<string, Slot[]>();
    for (const item of slots.data?.slots ?? []) {
      const key = dayKey(item.start, timeZone);
      groups.set(key, [...(groups.get(key) ?? []), item]);
    }
    return groups;
  }, [slots.data, timeZone]);
  const available = useMemo(() => {
    const counts = new Map<string, number>();
    for (const [key, items] of byDay) {
      const open = items.filter((item) => item.remaining > 0).length;
      if (open > 0) counts.set(key, open);
    }
    return counts;
  }, [byDay]);

  // The chosen day, else the month's first day with availability.
  const day =
    chosenDay && chosenDay.startsWith(month) && byDay.has(chosenDay)
      ? chosenDay
      : ([...available.keys()].sort()[0] ?? null);

  const formHeading = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    if (slot) formHeading.current?.focus();
  }, [slot]);

  if (eventType.isPending) return <Loading />;
  if (eventType.isError) {
    return (
      <main className="page narrow">
        <h1>Booking page not found</h1>
        <ErrorMessage error={eventType.error} />
      </main>
    );
  }
  const type = eventType.data;
  const horizonMonth = dayKey(new Date(openedAt + type.bookingHorizonDays * 86400000), timeZone).slice(0, 7);
  const daySlots = day ? (byDay.get(day) ?? []) : [];

  return (
    <main className="page booking-page">
      <header className="event-header">
        <p className="eyebrow">{type.providerName}</p>
        <h1>{type.name}</h1>
        <ul className="facts">
          <li>{type.periodMinutes} minutes</li>
          {type.location && <li>{type.location}</li>}
          {type.capacity > 1 && <li>{type.capacity} places per time</li>}
        </ul>
        {type.description && <p className="description">{type.description}</p>}
      </header>

      {slot ? (
        <section aria-labelledby="form-heading" className="card">
          <h2 id="form-heading" ref={formHeading} tabIndex={-1}>
            {formatDay(dayKey(slot.start, timeZone))}, {formatTime(slot.start, timeZone)}
          </h2>
          <GuestBookingForm
            slug={slug}
            slot={slot}
            timeZone={timeZone}
            onBack={() => setSlot(null)}
            onSlotGone={() => {
              setSlot(null);
              void slots.refetch();
            }}
          />
        </section>
      ) : (
        <div className="picker">
          <section aria-labelledby="calendar-heading" className="card">
            <div className="row spread">
              <h2 id="calendar-heading">Pick a day</h2>
              <LiveBadge state={live} />
            </div>
            <Select
              label="Time zone"
              value={timeZone}
              onChange={(event) => setTimeZone(event.target.value)}
            >
              {(zones.includes(timeZone) ? zones : [timeZone, ...zones]).map((zone) => (
                <option key={zone} value={zone}>
                  {zone.replace(/_/g, " ")}
                </option>
              ))}
            </Select>
            <Calendar
              month={month}
              onMonthChange={(next) => {
                setMonth(next);
                setDay(null);
              }}
              selected={day}
              onSelect={setDay}
              available={available}
              minMonth={today.slice(0, 7)}
              maxMonth={horizonMonth}
            />
            {slots.isError && <ErrorMessage error={slots.error} />}
          </section>
          <section aria-labelledby="slots-heading" className="card">
            <h2 id="slots-heading">{day ? formatDay(day) : "Times"}</h2>
            {slots.isPending ? (
              <Loading label="Loading times…" />
            ) : daySlots.length === 0 ? (
              <p>No times left this month. Try the next month.</p>
            ) : (
              <ul className="slots" aria-label="Available times">
                {daySlots.map((item) => {
                  const full = item.remaining <= 0;
                  return (
                    <li key={item.start}>
                      <button
                        type="button"
                        className="slot"
                        disabled={full}
                        data-start={new Date(item.start).toISOString()}
                        onClick={() => setSlot(item)}
                        aria-label={`${formatTime(item.start, timeZone)}, ${full ? "full" : `${item.remaining} of ${item.capacity} places left`}`}
                      >
                        <span className="slot-time">{formatTime(item.start, timeZone)}</span>
                        {type.capacity > 1 || full ? (
                          <span className="slot-left" data-testid="remaining">
                            {full ? "Full" : `${item.remaining} left`}
                          </span>
                        ) : null}
                      </button>
                    </li>
                  );
                })}
              </ul>
            )}
          </section>
        </div>
      )}
    </main>
  );
}
