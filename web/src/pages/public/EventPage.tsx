/** A ticketed event (`/events/:id`): pick seats on the live seat map, hold them (a
 * countdown runs), pay with a test card, then confirmation or the failure. The hold
 * lives in the URL (`?booking=&token=`), so a reload keeps it. */
import { zodResolver } from "@hookform/resolvers/zod";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useCallback, useState } from "react";
import { useForm } from "react-hook-form";
import { useParams, useSearchParams } from "react-router";
import { ApiError } from "../../api/client";
import {
  cancelTicketBooking,
  getPublicEvent,
  getSeatMap,
  getTicketBooking,
  holdSeats,
  payTicketBooking,
} from "../../api/endpoints";
import type { EventSeat, SeatAvailability, SeatMap as SeatMapData, TicketBooking } from "../../api/types";
import { Countdown } from "../../components/Countdown";
import { SeatMap } from "../../components/SeatMap";
import { Button, ErrorMessage, LiveBadge, Loading, Notice, TextInput } from "../../components/ui";
import { buyerSchema, type BuyerForm } from "../../lib/guest";
import { newIdempotencyKey } from "../../lib/ids";
import { useLiveEvents } from "../../lib/live";
import { formatMoney } from "../../lib/money";
import { formatDateTime } from "../../lib/time";
import { useDocumentTitle } from "../../lib/title";

export const TEST_CARDS = [
  { number: "4242 4242 4242 4242", outcome: "succeeds" },
  { number: "4000 0000 0000 0002", outcome: "is declined" },
  { number: "4000 0000 0000 9995", outcome: "has insufficient funds" },
] as const;

export function applySeatStates(map: SeatMapData, event: SeatAvailability): SeatMapData {
  const states = new Map(event.seats.map((seat) => [seat.seatId, seat.state]));
  return {
    ...map,
    items: map.items.map((seat) => {
      const state = states.get(seat.id);
      return state ? { ...seat, state } : seat;
    }),
  };
}

export function EventPage() {
  const { id = "" } = useParams();
  const [params, setParams] = useSearchParams();
  const bookingId = params.get("booking");
  const token = params.get("token") ?? "";
  const queryClient = useQueryClient();
  const event = useQuery({ queryKey: ["public-event", id], queryFn: () => getPublicEvent(id) });
  const seats = useQuery({ queryKey: ["seat-map", id], queryFn: () => getSeatMap(id) });
  const live = useLiveEvents<SeatAvailability>(
    event.isSuccess ? `/public/events/${encodeURIComponent(id)}/availability` : null,
    "seat.availability",
    (message) =>
      queryClient.setQueryData<SeatMapData>(["seat-map", id], (map) =>
        map ? applySeatStates(map, message.data) : map,
      ),
  );
  const [selected, setSelected] = useState<Set<string>>(new Set());
  useDocumentTitle(event.data?.name ?? "Tickets");

  if (event.isPending || seats.isPending) return <Loading />;
  if (event.isError || seats.isError) {
    return (
      <main className="page narrow">
        <h1>Event not found</h1>
        <ErrorMessage error={event.error ?? seats.error} />
      </main>
    );
  }
  const info = event.data;
  const picked = seats.data.items.filter((seat) => selected.has(seat.id));
  const total = picked.reduce((sum, seat) => sum + seat.priceMinor, 0);
  const toggle = (seat: EventSeat) =>
    setSelected((current) => {
      const next = new Set(current);
      if (next.has(seat.id)) next.delete(seat.id);
      else next.add(seat.id);
      return next;
    });

  return (
    <main className="page event-page">
      <header className="event-header">
        <p className="eyebrow">
          {info.venueName}
          {info.venueAddress && `, ${info.venueAddress}`}
        </p>
        <h1>{info.name}</h1>
        <ul className="facts">
          <li>{formatDateTime(info.startsAt, info.timeZone)}</li>
          <li>
            {info.seatsAvailable} of {info.seatsTotal} seats available
          </li>
        </ul>
        {info.description && <p className="description">{info.description}</p>}
      </header>
      {bookingId ? (
        <Checkout
          bookingId={bookingId}
          token={token}
          currency={info.currency}
          onDone={() => {
            setSelected(new Set());
            setParams({});
            void seats.refetch();
          }}
        />
      ) : (
        <div className="picker">
          <section className="card seat-card" aria-labelledby="seats-heading">
            <div className="row spread">
              <h2 id="seats-heading">Choose seats</h2>
              <LiveBadge state={live} />
            </div>
            {!info.onSale && <Notice>Tickets are not on sale right now.</Notice>}
            <SeatMap
              seats={seats.data.items}
              currency={seats.data.currency}
              selected={selected}
              onToggle={toggle}
              disabled={!info.onSale}
            />
          </section>
          <section className="card" aria-labelledby="basket-heading">
            <h2 id="basket-heading">Your seats</h2>
            {picked.length === 0 ? (
              <p>Pick seats on the map.</p>
            ) : (
              <ul className="basket">
                {picked.map((seat) => (
                  <li key={seat.id}>
                    {seat.section} {seat.row}-{seat.number} ({seat.category}){" "}
                    <span>{formatMoney(seat.priceMinor, seats.data.currency)}</span>
                  </li>
                ))}
              </ul>
            )}
            <p className="total">
              Total <strong data-testid="total">{formatMoney(total, seats.data.currency)}</strong>
            </p>
            <HoldForm
              eventId={id}
              seatIds={[...selected]}
              onHeld={(booking, manageToken) => setParams({ booking: booking.id, token: manageToken })}
              onConflict={(unavailable) => {
                setSelected((current) => new Set([...current].filter((seat) => !unavailable.includes(seat))));
                void seats.refetch();
              }}
            />
          </section>
        </div>
      )}
    </main>
  );
}

function HoldForm({
  eventId,
  seatIds,
  onHeld,
  onConflict,
}: {
  eventId: string;
  seatIds: string[];
  onHeld: (booking: TicketBooking, manageToken: string) => void;
  onConflict: (seatIds: string[]) => void;
}) {
  const [idempotencyKey, setKey] = useState(newIdempotencyKey);
  const { register, handleSubmit, formState } = useForm<BuyerForm>({
    resolver: zodResolver(buyerSchema),
    defaultValues: { name: "", email: "" },
    mode: "onTouched",
  });
  const hold = useMutation({
    mutationFn: (buyer: BuyerForm) => holdSeats({ eventId, seatIds, buyer, idempotencyKey }),
    onSuccess: ({ booking, manageToken }) => onHeld(booking, manageToken ?? ""),
    onError: (error) => {
      setKey(newIdempotencyKey());
      if (error instanceof ApiError && error.code === "SEAT_UNAVAILABLE") onConflict(error.problem.seatIds ?? []);
    },
  });
  return (
    <form noValidate onSubmit={handleSubmit((buyer) => hold.mutate(buyer))}>
      <TextInput label="Name" autoComplete="name" error={formState.errors.name?.message} {...register("name")} />
      <TextInput label="Email" type="email" autoComplete="email" error={formState.errors.email?.message} {...register("email")} />
      {hold.error instanceof ApiError && hold.error.code === "SEAT_UNAVAILABLE" ? (
        <div className="alert error-alert" role="alert">
          Someone else just took {hold.error.problem.seatIds?.length === 1 ? "a seat" : "seats"} you picked; they are
          removed from your selection.
        </div>
      ) : (
        <ErrorMessage error={hold.error} title="Seats not held." />
      )}
      <Button type="submit" busy={hold.isPending} disabled={seatIds.length === 0}>
        Hold {seatIds.length || ""} {seatIds.length === 1 ? "seat" : "seats"} and pay
      </Button>
    </form>
  );
}

function Checkout({
  bookingId,
  token,
  currency,
  onDone,
}: {
  bookingId: string;
  token: string;
  currency: string;
  onDone: () => void;
}) {
  const queryClient = useQueryClient();
  const key = ["ticket-booking", bookingId, token];
  const booking = useQuery({
    queryKey: key,
    queryFn: () => getTicketBooking(bookingId, token),
    // Ask again each second only while an outcome is due: a payment under way, or a
    // hold past its expiry that the server has not swept yet.
    refetchInterval: (query) => {
      const data = query.state.data;
      const due =
        data?.status === "pending" &&
        (data.payment.state === "requested" || Date.parse(data.expiresAt) <= Date.now());
      return due ? 1000 : false;
    },
  });
  const [card, setCard] = useState("");
  const pay = useMutation({
    mutationFn: () => payTicketBooking(bookingId, token, card.replace(/\s+/g, "")),
    onSuccess: (updated) => queryClient.setQueryData(key, updated),
  });
  const cancel = useMutation({
    mutationFn: () => cancelTicketBooking(bookingId, token),
    onSuccess: (updated) => queryClient.setQueryData(key, updated),
  });
  const onExpired = useCallback(() => void booking.refetch(), [booking]);

  if (booking.isPending) return <Loading />;
  if (booking.isError) return <ErrorMessage error={booking.error} />;
  const data = booking.data;
  const paying = data.status === "pending" && data.payment.state === "requested";
  const seatList = (
    <ul className="basket">
      {data.items.map((item) => (
        <li key={item.seat.id}>
          {item.seat.section} {item.seat.row}-{item.seat.number} ({item.seat.category}){" "}
          <span>{formatMoney(item.priceMinor, currency)}</span>
        </li>
      ))}
    </ul>
  );

  if (data.status === "confirmed") {
    return (
      <section className="card narrow" aria-labelledby="done-heading">
        <h2 id="done-heading">You have tickets</h2>
        <p>
          Ticket reference <strong className="reference" data-testid="ticket-reference">{data.ticketReference}</strong>, paid{" "}
          {formatMoney(data.totalMinor, data.currency)}. Show it at the door.
        </p>
        {seatList}
        <Button variant="secondary" onClick={onDone}>Back to the seat map</Button>
      </section>
    );
  }
  if (data.status === "expired" || data.status === "cancelled") {
    const declined = data.payment.state === "failed";
    const heading = declined
      ? "Payment failed"
      : data.status === "expired"
        ? "Your hold expired"
        : "Your hold was cancelled";
    return (
      <section className="card narrow" aria-labelledby="ended-heading">
        <h2 id="ended-heading" data-testid="hold-ended">
          {heading}
        </h2>
        {declined && (
          <p role="alert" className="alert error-alert">
            {data.payment.failureMessage ?? data.payment.failureCode} Nothing was charged.
          </p>
        )}
        <p>
          The seats are released for others
          {data.status === "expired" ? " because payment did not complete in time" : ""}.
        </p>
        <Button onClick={onDone}>Pick seats again</Button>
      </section>
    );
  }
  return (
    <section className="card narrow" aria-labelledby="pay-heading">
      <h2 id="pay-heading">Pay for your seats</h2>
      <Countdown until={data.expiresAt} onDone={onExpired} />
      {seatList}
      <p className="total">
        Total <strong>{formatMoney(data.totalMinor, data.currency)}</strong>
      </p>
      {paying ? (
        <Loading label="Waiting for the payment provider…" />
      ) : (
        <form
          noValidate
          onSubmit={(event) => {
            event.preventDefault();
            pay.mutate();
          }}
        >
          <TextInput
            label="Card number (test mode)"
            inputMode="numeric"
            autoComplete="off"
            value={card}
            onChange={(event) => setCard(event.target.value)}
            hint={`Test cards: ${TEST_CARDS.map((c) => `${c.number} ${c.outcome}`).join("; ")}.`}
          />
          <ErrorMessage error={pay.error ?? cancel.error} />
          <div className="row">
            <Button variant="secondary" busy={cancel.isPending} onClick={() => cancel.mutate()}>
              Release seats
            </Button>
            <Button type="submit" busy={pay.isPending} disabled={card.trim().length === 0}>
              Pay {formatMoney(data.totalMinor, data.currency)}
            </Button>
          </div>
        </form>
      )}
    </section>
  );
}
