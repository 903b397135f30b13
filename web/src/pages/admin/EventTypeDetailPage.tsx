/** One event type: its link, the next slots with places left and its bookings (both
 * live), and the edit form. */
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { useParams } from "react-router";
import { getEventType, getSlots, listAdminBookings } from "../../api/endpoints";
import type { SlotAvailability, SlotList } from "../../api/types";
import { ErrorMessage, LiveBadge, Loading, Notice } from "../../components/ui";
import { useSession } from "../../lib/auth";
import { useLiveEvents } from "../../lib/live";
import { formatDateTime } from "../../lib/time";
import { useDocumentTitle } from "../../lib/title";
import { applyAvailability } from "../public/BookingPage";
import { BookingTable } from "./BookingTable";
import { CopyLink } from "./CopyLink";
import { EventTypeForm } from "./EventTypeForm";
import { ActiveToggle } from "./EventTypesPage";

const SLOT_DAYS = 14;

export function EventTypeDetailPage() {
  const { id = "" } = useParams();
  const { claims } = useSession();
  const admin = claims?.role === "admin";
  const queryClient = useQueryClient();
  const eventType = useQuery({ queryKey: ["event-type", id], queryFn: () => getEventType(id) });
  const slug = eventType.data ? (eventType.data.customSlug ?? eventType.data.slug) : null;
  const [range] = useState(() => ({
    from: new Date().toISOString(),
    to: new Date(Date.now() + SLOT_DAYS * 86400000).toISOString(),
  }));
  const slots = useQuery({
    queryKey: ["slots", slug, "admin"],
    queryFn: () => getSlots(slug!, { ...range, timeZone: eventType.data!.timeZone }),
    enabled: Boolean(slug && eventType.data?.active),
  });
  const bookings = useQuery({
    queryKey: ["admin-bookings", "event-type", id],
    queryFn: () => listAdminBookings({ eventTypeId: id, from: range.from, limit: 50 }),
    enabled: admin,
  });
  const [saved, setSaved] = useState(false);
  const live = useLiveEvents<SlotAvailability>(
    slug && eventType.data?.active ? `/public/event-types/${encodeURIComponent(slug)}/availability` : null,
    "slot.availability",
    (event) => {
      queryClient.setQueryData<SlotList>(["slots", slug, "admin"], (list) => (list ? applyAvailability(list, event.data) : list));
      void queryClient.invalidateQueries({ queryKey: ["admin-bookings"] });
    },
  );
  useDocumentTitle(eventType.data?.name ?? "Event type");
  if (eventType.isPending) return <Loading />;
  if (eventType.isError) return <ErrorMessage error={eventType.error} />;
  const data = eventType.data;
  // The next twelve (the server lists slots in order, and live updates keep it).
  const shown = (slots.data?.slots ?? []).slice(0, 12);

  return (
    <>
      <div className="row spread">
        <h1>{data.name}</h1>
        <LiveBadge state={live} />
      </div>
      <section className="card">
        <p>
          {data.active ? <CopyLink url={data.bookingUrl} /> : "Deactivated: its link answers 404."}{" "}
        </p>
        <ActiveToggle eventType={data} />
      </section>
      {data.active && (
        <section className="card" aria-labelledby="next-slots">
          <h2 id="next-slots">Next slots ({data.timeZone.replace(/_/g, " ")})</h2>
          {slots.isPending ? (
            <Loading />
          ) : slots.isError ? (
            <ErrorMessage error={slots.error} />
          ) : (
            <ul className="slot-summary">
              {shown.map((slot) => (
                <li key={slot.start} data-start={new Date(slot.start).toISOString()}>
                  <span>{formatDateTime(slot.start, data.timeZone)}</span>{" "}
                  <strong data-testid="slot-remaining">
                    {slot.remaining} of {slot.capacity} left
                  </strong>
                </li>
              ))}
            </ul>
          )}
        </section>
      )}
      {admin && (
        <section className="card" aria-labelledby="type-bookings">
          <h2 id="type-bookings">Upcoming bookings</h2>
          {bookings.isPending ? (
            <Loading />
          ) : bookings.isError ? (
            <ErrorMessage error={bookings.error} />
          ) : (
            <BookingTable bookings={bookings.data.items} eventTypes={new Map([[data.id, data]])} canCancel />
          )}
        </section>
      )}
      <section className="card" aria-labelledby="edit-heading">
        <h2 id="edit-heading">Edit</h2>
        {saved && <Notice>Saved.</Notice>}
        <EventTypeForm key={data.version} eventType={data} onSaved={() => setSaved(true)} />
      </section>
    </>
  );
}
