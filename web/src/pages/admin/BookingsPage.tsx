/** The organisation's bookings with filters, pages, cancel on behalf and CSV export. */
import { keepPreviousData, useMutation, useQuery } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { useSearchParams } from "react-router";
import { download } from "../../api/client";
import { listAdminBookings, type BookingFilters } from "../../api/endpoints";
import { Button, ErrorMessage, Loading, Select, TextInput } from "../../components/ui";
import { browserTimeZone, fromLocalInput } from "../../lib/time";
import { useDocumentTitle } from "../../lib/title";
import { BookingTable } from "./BookingTable";
import { useEventTypes } from "./useEventTypes";

const FILTERS = ["status", "eventTypeId", "from", "to", "guestEmail"] as const;

export function BookingsPage() {
  const [params, setParams] = useSearchParams();
  const eventTypes = useEventTypes();
  const timeZone = browserTimeZone();
  const filters: BookingFilters = {};
  for (const name of FILTERS) {
    const value = params.get(name);
    if (value) filters[name] = name === "from" || name === "to" ? fromLocalInput(`${value}T00:00`, timeZone) : value;
  }
  const [cursors, setCursors] = useState<string[]>([]);
  const cursor = cursors.at(-1);
  const bookings = useQuery({
    queryKey: ["admin-bookings", "list", filters, cursor],
    queryFn: () => listAdminBookings({ ...filters, cursor, limit: 25 }),
    placeholderData: keepPreviousData,
  });
  const exportCsv = useMutation({
    mutationFn: () => download("/admin/bookings.csv", "bookings.csv", { ...filters }),
  });
  useDocumentTitle("Bookings");

  const apply = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const data = new FormData(event.currentTarget);
    const next = new URLSearchParams();
    for (const name of FILTERS) {
      const value = String(data.get(name) ?? "").trim();
      if (value) next.set(name, value);
    }
    setCursors([]);
    setParams(next);
  };

  return (
    <>
      <div className="row spread">
        <h1>Bookings</h1>
        <Button variant="secondary" busy={exportCsv.isPending} onClick={() => exportCsv.mutate()}>
          Export CSV
        </Button>
      </div>
      <ErrorMessage error={exportCsv.error} />
      <form className="card filters" onSubmit={apply} aria-label="Filters">
        <Select label="Status" name="status" defaultValue={params.get("status") ?? ""}>
          <option value="">Any</option>
          <option value="confirmed">Confirmed</option>
          <option value="cancelled">Cancelled</option>
        </Select>
        <Select label="Event type" name="eventTypeId" defaultValue={params.get("eventTypeId") ?? ""}>
          <option value="">Any</option>
          {(eventTypes.data?.items ?? []).map((item) => (
            <option key={item.id} value={item.id}>
              {item.name}
            </option>
          ))}
        </Select>
        <TextInput label="From" type="date" name="from" defaultValue={params.get("from") ?? ""} />
        <TextInput label="To" type="date" name="to" defaultValue={params.get("to") ?? ""} />
        <TextInput label="Guest email" type="email" name="guestEmail" defaultValue={params.get("guestEmail") ?? ""} />
        <Button type="submit">Apply</Button>
      </form>
      <section className="card" aria-label="Results">
        {bookings.isPending ? (
          <Loading />
        ) : bookings.isError ? (
          <ErrorMessage error={bookings.error} />
        ) : (
          <>
            <BookingTable bookings={bookings.data.items} eventTypes={eventTypes.byId} canCancel />
            <div className="row">
              <Button variant="secondary" disabled={cursors.length === 0} onClick={() => setCursors((c) => c.slice(0, -1))}>
                Previous page
              </Button>
              <Button
                variant="secondary"
                disabled={!bookings.data.nextCursor}
                onClick={() => setCursors((c) => [...c, bookings.data.nextCursor!])}
              >
                Next page
              </Button>
            </div>
          </>
        )}
      </section>
    </>
  );
}
