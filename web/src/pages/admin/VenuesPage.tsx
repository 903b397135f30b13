/** Venues and their seats (added a row at a time: section, row, numbers from..to). */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useMemo, useState, type FormEvent } from "react";
import { addSeatRows, createVenue, listVenueSeats, listVenues } from "../../api/endpoints";
import type { Venue } from "../../api/types";
import { Button, ErrorMessage, Loading, Select, TextInput } from "../../components/ui";
import { browserTimeZone, timeZones } from "../../lib/time";
import { useDocumentTitle } from "../../lib/title";

export function VenuesPage() {
  const queryClient = useQueryClient();
  const venues = useQuery({ queryKey: ["venues"], queryFn: listVenues });
  const zones = useMemo(() => timeZones(), []);
  const create = useMutation({
    mutationFn: (body: { name: string; address: string; timeZone: string }) => createVenue(body),
    onSuccess: () => void queryClient.invalidateQueries({ queryKey: ["venues"] }),
  });
  useDocumentTitle("Venues");
  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const data = new FormData(event.currentTarget);
    create.mutate({
      name: String(data.get("name")).trim(),
      address: String(data.get("address")).trim(),
      timeZone: String(data.get("timeZone")),
    });
    event.currentTarget.reset();
  };
  return (
    <>
      <h1>Venues</h1>
      <form className="card filters" onSubmit={submit} aria-label="New venue">
        <TextInput label="Name" name="name" required maxLength={200} />
        <TextInput label="Address" name="address" maxLength={500} />
        <Select label="Time zone" name="timeZone" defaultValue={browserTimeZone()}>
          {zones.map((zone) => (
            <option key={zone} value={zone}>
              {zone.replace(/_/g, " ")}
            </option>
          ))}
        </Select>
        <Button type="submit" busy={create.isPending}>
          Add venue
        </Button>
        <ErrorMessage error={create.error} />
      </form>
      {venues.isPending ? (
        <Loading />
      ) : venues.isError ? (
        <ErrorMessage error={venues.error} />
      ) : (
        venues.data.items.map((venue) => <VenueCard key={venue.id} venue={venue} />)
      )}
    </>
  );
}

function VenueCard({ venue }: { venue: Venue }) {
  const queryClient = useQueryClient();
  const [open, setOpen] = useState(false);
  const seats = useQuery({ queryKey: ["venue-seats", venue.id], queryFn: () => listVenueSeats(venue.id), enabled: open });
  const add = useMutation({
    mutationFn: (row: { section: string; row: string; from: number; to: number; category: string }) => addSeatRows(venue.id, [row]),
    onSuccess: () => {
      void queryClient.invalidateQueries({ queryKey: ["venues"] });
      void queryClient.invalidateQueries({ queryKey: ["venue-seats", venue.id] });
    },
  });
  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const data = new FormData(event.currentTarget);
    add.mutate({
      section: String(data.get("section")).trim(),
      row: String(data.get("row")).trim(),
      from: Number(data.get("from")),
      to: Number(data.get("to")),
      category: String(data.get("category")).trim(),
    });
  };
  const summary = new Map<string, number>();
  for (const seat of seats.data ?? []) summary.set(`${seat.section} · ${seat.category}`, (summary.get(`${seat.section} · ${seat.category}`) ?? 0) + 1);
  return (
    <section className="card" aria-labelledby={`venue-${venue.id}`}>
      <h2 id={`venue-${venue.id}`}>{venue.name}</h2>
      <p className="hint">
        {venue.address || "No address"} · {venue.timeZone.replace(/_/g, " ")} · {venue.seatCount} seats
      </p>
      <Button variant="secondary" aria-expanded={open} onClick={() => setOpen(!open)}>
        {open ? "Hide seats" : "Seats"}
      </Button>
      {open && (
        <>
          {seats.isPending ? (
            <Loading />
          ) : (
            <ul>
              {[...summary].map(([label, count]) => (
                <li key={label}>
                  {label}: {count}
                </li>
              ))}
            </ul>
          )}
          <form className="filters" onSubmit={submit} aria-label={`Add a row of seats to ${venue.name}`}>
            <TextInput label="Section" name="section" required maxLength={50} defaultValue="Stalls" />
            <TextInput label="Row" name="row" required maxLength={50} />
            <TextInput label="First number" name="from" type="number" min={0} required defaultValue={1} />
            <TextInput label="Last number" name="to" type="number" min={0} required defaultValue={10} />
            <TextInput label="Price category" name="category" required maxLength={50} defaultValue="Standard" />
            <Button type="submit" busy={add.isPending}>
              Add row
            </Button>
            <ErrorMessage error={add.error} />
          </form>
        </>
      )}
    </section>
  );
}
