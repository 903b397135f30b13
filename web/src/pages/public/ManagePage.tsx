/** The guest's manage link (`/manage/:reference?token=`): the booking and a cancel. */
import * as Dialog from "@radix-ui/react-dialog";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { useParams, useSearchParams } from "react-router";
import { cancelGuestBooking, getGuestBooking, guestCalendarUrl } from "../../api/endpoints";
import { Button, ErrorMessage, Loading, Notice, TextArea } from "../../components/ui";
import { browserTimeZone, formatDateTime, formatTime } from "../../lib/time";
import { useDocumentTitle } from "../../lib/title";

export function ManagePage() {
  const { reference = "" } = useParams();
  const [params] = useSearchParams();
  const token = params.get("token") ?? "";
  const queryClient = useQueryClient();
  const key = ["guest-booking", reference, token];
  const booking = useQuery({ queryKey: key, queryFn: () => getGuestBooking(reference, token) });
  const [open, setOpen] = useState(false);
  const [reason, setReason] = useState("");
  const cancel = useMutation({
    mutationFn: () => cancelGuestBooking(reference, token, reason.trim() || undefined),
    onSuccess: (updated) => {
      queryClient.setQueryData(key, updated);
      setOpen(false);
    },
  });
  useDocumentTitle(`Booking ${reference}`);
  const timeZone = browserTimeZone();
  if (booking.isPending) return <Loading />;
  if (booking.isError) {
    return (
      <main className="page narrow">
        <h1>Booking not found</h1>
        <ErrorMessage error={booking.error} />
      </main>
    );
  }
  const { data } = booking;
  const cancelled = data.status === "cancelled";
  return (
    <main className="page narrow">
      <section className="card" aria-labelledby="manage-heading">
        <p className="eyebrow">Booking {data.reference}</p>
        <h1 id="manage-heading">{data.eventType.name}</h1>
        <dl className="details">
          <dt>When</dt>
          <dd>
            {formatDateTime(data.startTime, timeZone)} – {formatTime(data.endTime, timeZone)} ({timeZone.replace(/_/g, " ")})
          </dd>
          <dt>With</dt>
          <dd>{data.eventType.providerName}</dd>
          {data.eventType.location && (
            <>
              <dt>Where</dt>
              <dd>{data.eventType.location}</dd>
            </>
          )}
          <dt>Guest</dt>
          <dd>
            {data.guest.firstName} {data.guest.lastName}, {data.guest.email}
          </dd>
          <dt>Status</dt>
          <dd>
            <span className={`status ${data.status}`} data-testid="status">{cancelled ? "Cancelled" : "Confirmed"}</span>
          </dd>
        </dl>
        {cancelled ? (
          <Notice>This booking is cancelled{data.cancelReason ? `: ${data.cancelReason}` : "."}</Notice>
        ) : (
          <div className="row">
            <a className="button secondary" href={guestCalendarUrl(reference, token)} download={`booking-${reference}.ics`}>
              Add to calendar (.ics)
            </a>
            <Dialog.Root open={open} onOpenChange={setOpen}>
              <Dialog.Trigger asChild>
                <Button variant="danger">Cancel booking</Button>
              </Dialog.Trigger>
              <Dialog.Portal>
                <Dialog.Overlay className="overlay" />
                <Dialog.Content className="dialog">
                  <Dialog.Title>Cancel this booking?</Dialog.Title>
                  <Dialog.Description>
                    Your place on {formatDateTime(data.startTime, timeZone)} is given up; this cannot be undone.
                  </Dialog.Description>
                  <TextArea label="Reason (optional)" value={reason} maxLength={500} onChange={(event) => setReason(event.target.value)} />
                  <ErrorMessage error={cancel.error} />
                  <div className="row">
                    <Dialog.Close asChild>
                      <Button variant="secondary">Keep it</Button>
                    </Dialog.Close>
                    <Button variant="danger" busy={cancel.isPending} onClick={() => cancel.mutate()}>
                      Yes, cancel
                    </Button>
                  </div>
                </Dialog.Content>
              </Dialog.Portal>
            </Dialog.Root>
          </div>
        )}
      </section>
    </main>
  );
}
