/** After booking: the reference, the time, a calendar file and the manage link. */
import { Link, useSearchParams } from "react-router";
import { useQuery } from "@tanstack/react-query";
import { getGuestBooking, guestCalendarUrl } from "../../api/endpoints";
import { ErrorMessage, Loading } from "../../components/ui";
import { browserTimeZone, formatDateTime, formatTime } from "../../lib/time";
import { useDocumentTitle } from "../../lib/title";

export function ConfirmationPage() {
  const [params] = useSearchParams();
  const reference = params.get("reference") ?? "";
  const token = params.get("token") ?? "";
  const booking = useQuery({
    queryKey: ["guest-booking", reference, token],
    queryFn: () => getGuestBooking(reference, token),
  });
  useDocumentTitle("Booking confirmed");
  const timeZone = browserTimeZone();
  if (booking.isPending) return <Loading />;
  if (booking.isError) return <main className="page narrow"><ErrorMessage error={booking.error} /></main>;
  const { data } = booking;
  const manage = `/manage/${encodeURIComponent(reference)}?token=${encodeURIComponent(token)}`;
  return (
    <main className="page narrow">
      <section className="card" aria-labelledby="confirmed-heading">
        <h1 id="confirmed-heading">You are booked</h1>
        <p>
          {data.eventType.name} with {data.eventType.providerName},{" "}
          <strong>
            {formatDateTime(data.startTime, timeZone)} – {formatTime(data.endTime, timeZone)}
          </strong>
        </p>
        <p>
          Reference <strong className="reference" data-testid="reference">{data.reference}</strong>. A confirmation
          email with a calendar invitation is on its way to {data.guest.email}.
        </p>
        <div className="row">
          <a className="button primary" href={guestCalendarUrl(reference, token)} download={`booking-${reference}.ics`}>
            Add to calendar (.ics)
          </a>
          <Link className="button secondary" to={manage}>
            View or cancel
          </Link>
        </div>
        <p className="hint">Keep this link to change your mind later: {window.location.origin + manage}</p>
      </section>
    </main>
  );
}
