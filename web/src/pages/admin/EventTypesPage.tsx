import { useMutation, useQueryClient } from "@tanstack/react-query";
import { Link, useNavigate } from "react-router";
import { setEventTypeActive } from "../../api/endpoints";
import type { EventType } from "../../api/types";
import { Button, ErrorMessage, Loading, ScrollRegion } from "../../components/ui";
import { useDocumentTitle } from "../../lib/title";
import { CopyLink } from "./CopyLink";
import { EventTypeForm } from "./EventTypeForm";
import { useEventTypes } from "./useEventTypes";

export function EventTypesPage() {
  const eventTypes = useEventTypes();
  useDocumentTitle("Event types");
  return (
    <>
      <div className="row spread">
        <h1>Event types</h1>
        <Link className="button primary" to="/dashboard/event-types/new">
          New event type
        </Link>
      </div>
      {eventTypes.isPending ? (
        <Loading />
      ) : eventTypes.isError ? (
        <ErrorMessage error={eventTypes.error} />
      ) : eventTypes.data.items.length === 0 ? (
        <p>No event types yet.</p>
      ) : (
        <ScrollRegion label="Event types">
          <table className="data">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Length</th>
                <th scope="col">Places</th>
                <th scope="col">Public link</th>
                <th scope="col">Status</th>
              </tr>
            </thead>
            <tbody>
              {eventTypes.data.items.map((item) => (
                <tr key={item.id}>
                  <td>
                    <Link to={`/dashboard/event-types/${item.id}`}>{item.name}</Link>
                  </td>
                  <td>{item.periodMinutes} min</td>
                  <td>{item.capacity}</td>
                  <td>{item.active ? <CopyLink url={item.bookingUrl} /> : <span className="hint">off</span>}</td>
                  <td>
                    <ActiveToggle eventType={item} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </ScrollRegion>
      )}
    </>
  );
}

export function ActiveToggle({ eventType }: { eventType: EventType }) {
  const queryClient = useQueryClient();
  const toggle = useMutation({
    mutationFn: () => setEventTypeActive(eventType.id, !eventType.active),
    onSuccess: (saved) => {
      queryClient.setQueryData(["event-type", saved.id], saved);
      void queryClient.invalidateQueries({ queryKey: ["event-types"] });
    },
  });
  return (
    <>
      <Button variant="secondary" busy={toggle.isPending} onClick={() => toggle.mutate()}>
        {eventType.active ? "Deactivate" : "Activate"}
      </Button>
      <ErrorMessage error={toggle.error} />
    </>
  );
}

export function NewEventTypePage() {
  const navigate = useNavigate();
  useDocumentTitle("New event type");
  return (
    <>
      <h1>New event type</h1>
      <section className="card">
        <EventTypeForm onSaved={(saved) => void navigate(`/dashboard/event-types/${saved.id}`)} />
      </section>
    </>
  );
}
