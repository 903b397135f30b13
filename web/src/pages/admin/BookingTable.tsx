/** Bookings as a table, with cancel on behalf (asking for the reason). */
import * as Dialog from "@radix-ui/react-dialog";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { cancelAdminBooking } from "../../api/endpoints";
import type { Booking, EventType } from "../../api/types";
import { Button, ErrorMessage, TextArea, ScrollRegion } from "../../components/ui";
import { browserTimeZone, formatDateTime } from "../../lib/time";

export function BookingTable({
  bookings,
  eventTypes,
  canCancel,
}: {
  bookings: Booking[];
  eventTypes: Map<string, EventType>;
  canCancel: boolean;
}) {
  const timeZone = browserTimeZone();
  if (bookings.length === 0) return <p>No bookings.</p>;
  return (
    <ScrollRegion label="Bookings">
      <table className="data">
        <thead>
          <tr>
            <th scope="col">When</th>
            <th scope="col">Event type</th>
            <th scope="col">Guest</th>
            <th scope="col">Reference</th>
            <th scope="col">Status</th>
            {canCancel && <th scope="col"><span className="visually-hidden">Actions</span></th>}
          </tr>
        </thead>
        <tbody>
          {bookings.map((booking) => (
            <tr key={booking.id} data-booking-id={booking.id}>
              <td>{formatDateTime(booking.startTime, timeZone)}</td>
              <td>{(booking.eventTypeId && eventTypes.get(booking.eventTypeId)?.name) || "Appointment"}</td>
              <td>
                {booking.guest ? (
                  <>
                    {booking.guest.firstName} {booking.guest.lastName}
                    <br />
                    <span className="hint">{booking.guest.email}</span>
                  </>
                ) : (
                  <span className="hint">customer {booking.customerId.slice(0, 8)}</span>
                )}
              </td>
              <td>{booking.reference ?? "—"}</td>
              <td>
                <span className={`status ${booking.status}`}>{booking.status}</span>
              </td>
              {canCancel && (
                <td>{booking.status === "confirmed" && <CancelOnBehalf booking={booking} />}</td>
              )}
            </tr>
          ))}
        </tbody>
      </table>
    </ScrollRegion>
  );
}

function CancelOnBehalf({ booking }: { booking: Booking }) {
  const [open, setOpen] = useState(false);
  const [reason, setReason] = useState("");
  const queryClient = useQueryClient();
  const cancel = useMutation({
    mutationFn: () => cancelAdminBooking(booking.id, reason.trim()),
    onSuccess: () => {
      setOpen(false);
      void queryClient.invalidateQueries({ queryKey: ["admin-bookings"] });
    },
  });
  return (
    <Dialog.Root open={open} onOpenChange={setOpen}>
      <Dialog.Trigger asChild>
        <Button variant="secondary">Cancel</Button>
      </Dialog.Trigger>
      <Dialog.Portal>
        <Dialog.Overlay className="overlay" />
        <Dialog.Content className="dialog">
          <Dialog.Title>Cancel on the guest&apos;s behalf?</Dialog.Title>
          <Dialog.Description>The guest is told by email, with your reason.</Dialog.Description>
          <form
            onSubmit={(event) => {
              event.preventDefault();
              cancel.mutate();
            }}
          >
            <TextArea label="Reason" required maxLength={500} value={reason} onChange={(e) => setReason(e.target.value)} />
            <ErrorMessage error={cancel.error} />
            <div className="row">
              <Dialog.Close asChild>
                <Button variant="secondary">Keep it</Button>
              </Dialog.Close>
              <Button type="submit" variant="danger" busy={cancel.isPending} disabled={!reason.trim()}>
                Cancel booking
              </Button>
            </div>
          </form>
        </Dialog.Content>
      </Dialog.Portal>
    </Dialog.Root>
  );
}
