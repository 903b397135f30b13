/** Upcoming bookings, updated live when any of the event types' slots change. */
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { Link } from "react-router";
import { request } from "../../api/client";
import { listAdminBookings } from "../../api/endpoints";
import type { Booking, Page, SlotAvailability } from "../../api/types";
import { ErrorMessage, LiveBadge, Loading, Notice } from "../../components/ui";
import { useSession } from "../../lib/auth";
import { useLiveEvents } from "../../lib/live";
import { useDocumentTitle } from "../../lib/title";
import { BookingTable } from "./BookingTable";
import { CopyLink } from "./CopyLink";
import { availabilityPaths, useEventTypes } from "./useEventTypes";

export function DashboardPage() {
  const { claims } = useSession();
  const admin = claims?.role === "admin";
  const queryClient = useQueryClient();
  const eventTypes = useEventTypes();
  const [from] = useState(() => new Date().toISOString());
  const upcoming = useQuery({
    queryKey: ["admin-bookings", "upcoming", admin],
    queryFn: () =>
      admin
        ? listAdminBookings({ from, status: "confirmed", limit: 20 })
        : request<Page<Booking>>("GET", "/bookings", { auth: true, query: { type: "upcoming", limit: 20 } }),
  });
  const [changes, setChanges] = useState(0);
  const live = useLiveEvents<SlotAvailability>(
    eventTypes.data ? availabilityPaths(eventTypes.data.items) : null,
    "slot.availability",
    () => {
      setChanges((n) => n + 1);
      void queryClient.invalidateQueries({ queryKey: ["admin-bookings"] });
    },
  );
  useDocumentTitle("Dashboard");
  const active = (eventTypes.data?.items ?? []).filter((item) => item.active);
  return (
    <>
      <div className="row spread">
        <h1>Dashboard</h1>
        <LiveBadge state={live} />
      </div>
      {changes > 0 && <Notice>{changes === 1 ? "1 booking change" : `${changes} booking changes`} since you opened this page.</Notice>}
      <section className="card" aria-labelledby="upcoming-heading">
        <h2 id="upcoming-heading">Upcoming bookings</h2>
        {upcoming.isPending ? (
          <Loading />
        ) : upcoming.isError ? (
          <ErrorMessage error={upcoming.error} />
        ) : (
          <BookingTable bookings={upcoming.data.items} eventTypes={eventTypes.byId} canCancel={admin} />
        )}
      </section>
      <section className="card" aria-labelledby="types-heading">
        <div className="row spread">
          <h2 id="types-heading">Active event types</h2>
          <Link className="button primary" to="/dashboard/event-types/new">
            New event type
          </Link>
        </div>
        {eventTypes.isError && <ErrorMessage error={eventTypes.error} />}
        <ul className="cards">
          {active.map((item) => (
            <li key={item.id} className="mini-card">
              <Link to={`/dashboard/event-types/${item.id}`}>{item.name}</Link>
              <span className="hint">
                {item.periodMinutes} min · {item.capacity} {item.capacity === 1 ? "place" : "places"}
              </span>
              <CopyLink url={item.bookingUrl} />
            </li>
          ))}
        </ul>
      </section>
    </>
  );
}
