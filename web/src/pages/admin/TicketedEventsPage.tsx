/** Ticketed events: create one at a venue with a price per seat category; each
 * event's sales. Times are entered in the venue's time zone. */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { Link } from "react-router";
import { createTicketedEvent, listEventTicketBookings, listTicketedEvents, listVenueSeats, listVenues } from "../../api/endpoints";
import type { TicketedEvent, Venue } from "../../api/types";
import { Button, ErrorMessage, Loading, Select, TextArea, TextInput } from "../../components/ui";
import { formatMoney, parseMoney } from "../../lib/money";
import { formatDateTime, fromLocalInput, toLocalInput } from "../../lib/time";
import { useDocumentTitle } from "../../lib/title";

export function TicketedEventsPage() {
  const events = useQuery({ queryKey: ["ticketed-events"], queryFn: listTicketedEvents });
  const venues = useQuery({ queryKey: ["venues"], queryFn: listVenues });
  useDocumentTitle("Ticketed events");
  const venueById = new Map((venues.data?.items ?? []).map((venue) => [venue.id, venue]));
  return (
    <>
      <h1>Ticketed events</h1>
      {venues.data && <NewEvent venues={venues.data.items} />}
      {events.isPending ? (
        <Loading />
      ) : events.isError ? (
        <ErrorMessage error={events.error} />
      ) : (
        events.data.items.map((event) => <EventCard key={event.id} event={event} venue={venueById.get(event.venueId)} />)
      )}
    </>
  );
}

function EventCard({ event, venue }: { event: TicketedEvent; venue?: Venue }) {
  const [open, setOpen] = useState(false);
  const bookings = useQuery({ queryKey: ["ticket-bookings", event.id], queryFn: () => listEventTicketBookings(event.id), enabled: open });
  const timeZone = venue?.timeZone ?? "UTC";
  const sold = (bookings.data?.items ?? []).filter((booking) => booking.status === "confirmed");
  return (
    <section className="card" aria-labelledby={`event-${event.id}`}>
      <h2 id={`event-${event.id}`}>{event.name}</h2>
      <p className="hint">
        {formatDateTime(event.startsAt, timeZone)} at {venue?.name ?? "a venue"} · sales {formatDateTime(event.salesOpenAt, timeZone)} –{" "}
        {formatDateTime(event.salesCloseAt, timeZone)}
      </p>
      <p>
        {event.prices.map((price) => `${price.category} ${formatMoney(price.amountMinor, event.currency)}`).join(" · ")}
      </p>
      <div className="row">
        <Link className="button secondary" to={`/events/${event.id}`}>
          Public page
        </Link>
        <Button variant="secondary" aria-expanded={open} onClick={() => setOpen(!open)}>
          {open ? "Hide sales" : "Sales"}
        </Button>
      </div>
      {open &&
        (bookings.isPending ? (
          <Loading />
        ) : bookings.isError ? (
          <ErrorMessage error={bookings.error} />
        ) : (
          <p>
            {sold.length} confirmed bookings, {sold.reduce((n, b) => n + b.items.length, 0)} seats,{" "}
            {formatMoney(sold.reduce((n, b) => n + b.totalMinor, 0), event.currency)}.
          </p>
        ))}
    </section>
  );
}

function NewEvent({ venues }: { venues: Venue[] }) {
  const queryClient = useQueryClient();
  const [venueId, setVenueId] = useState(venues[0]?.id ?? "");
  const venue = venues.find((item) => item.id === venueId);
  const timeZone = venue?.timeZone ?? "UTC";
  const seats = useQuery({ queryKey: ["venue-seats", venueId], queryFn: () => listVenueSeats(venueId), enabled: Boolean(venueId) });
  const categories = [...new Set((seats.data ?? []).map((seat) => seat.category))];
  const [problem, setProblem] = useState<string | null>(null);
  const create = useMutation({
    mutationFn: createTicketedEvent,
    onSuccess: () => void queryClient.invalidateQueries({ queryKey: ["ticketed-events"] }),
  });
  const [openedAt] = useState(() => Date.now());
  const inAWeek = toLocalInput(new Date(openedAt + 7 * 86400000), timeZone).slice(0, 11) + "19:30";
  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const data = new FormData(event.currentTarget);
    const currency = String(data.get("currency")).trim().toUpperCase();
    const prices = categories.map((category) => ({ category, amountMinor: parseMoney(String(data.get(`price-${category}`)), currency) }));
    if (prices.some((price) => price.amountMinor === null)) {
      setProblem(`Give every category a price in ${currency}, e.g. 25.00.`);
      return;
    }
    setProblem(null);
    const at = (name: string) => fromLocalInput(String(data.get(name)), timeZone);
    create.mutate({
      venueId,
      name: String(data.get("name")).trim(),
      description: String(data.get("description")).trim(),
      startsAt: at("startsAt"),
      endsAt: at("endsAt"),
      salesOpenAt: new Date().toISOString(),
      salesCloseAt: at("startsAt"),
      currency,
      prices: prices as { category: string; amountMinor: number }[],
    });
  };
  if (venues.length === 0) return <p>Add a venue with seats first.</p>;
  return (
    <form className="card stack" onSubmit={submit} aria-label="New ticketed event">
      <h2>New event</h2>
      <Select label="Venue" value={venueId} onChange={(e) => setVenueId(e.target.value)}>
        {venues.map((item) => (
          <option key={item.id} value={item.id}>
            {item.name}
          </option>
        ))}
      </Select>
      <TextInput label="Name" name="name" required maxLength={200} />
      <TextArea label="Description" name="description" maxLength={5000} />
      <div className="grid three">
        <TextInput label={`Starts (${timeZone})`} name="startsAt" type="datetime-local" required defaultValue={inAWeek} />
        <TextInput label={`Ends (${timeZone})`} name="endsAt" type="datetime-local" required defaultValue={inAWeek.slice(0, 11) + "22:00"} />
        <TextInput label="Currency" name="currency" required pattern="[A-Za-z]{3}" defaultValue="EUR" maxLength={3} />
      </div>
      <p className="hint">Sales open now and close when the event starts.</p>
      <div className="grid three">
        {categories.map((category) => (
          <TextInput key={category} label={`Price: ${category}`} name={`price-${category}`} inputMode="decimal" required defaultValue="25.00" />
        ))}
      </div>
      {problem && (
        <p className="error" role="alert">
          {problem}
        </p>
      )}
      <ErrorMessage error={create.error} />
      <Button type="submit" busy={create.isPending} disabled={categories.length === 0}>
        Create event
      </Button>
    </form>
  );
}
