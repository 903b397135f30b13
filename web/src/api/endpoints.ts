/** One function per REST call the web app makes. */
import { request, type Query } from "./client";
import type {
  AuditEntry,
  Booking,
  EventType,
  EventTypeFields,
  Guest,
  GuestBooking,
  Page,
  PublicBookingCreated,
  PublicEvent,
  PublicEventType,
  Seat,
  SeatMap,
  SlotList,
  Team,
  TicketBooking,
  TicketedEvent,
  TicketedEventFields,
  User,
  Venue,
} from "./types";

const enc = encodeURIComponent;

export interface WebConfig {
  /** The notifier's base URL for EventSource and WebSocket connections. */
  notifierUrl: string;
}

export const getWebConfig = () => request<WebConfig>("GET", "/web-config.json");

// Public booking pages -----------------------------------------------------------

export const getPublicEventType = async (slug: string) =>
  (await request<{ eventType: PublicEventType }>("GET", `/public/event-types/${enc(slug)}`))
    .eventType;

export const getSlots = (slug: string, query: { from: string; to: string; timeZone: string }) =>
  request<SlotList>("GET", `/public/event-types/${enc(slug)}/slots`, { query });

export type PublicBookingBody = Guest & { slotStart: string; idempotencyKey: string };

export const bookSlot = (slug: string, body: PublicBookingBody) =>
  request<PublicBookingCreated>("POST", `/public/event-types/${enc(slug)}/bookings`, { body });

export const getGuestBooking = async (reference: string, token: string) =>
  (
    await request<{ booking: GuestBooking }>("GET", `/public/bookings/${enc(reference)}`, {
      query: { token },
    })
  ).booking;

export const cancelGuestBooking = async (reference: string, token: string, reason?: string) =>
  (
    await request<{ booking: GuestBooking }>("POST", `/public/bookings/${enc(reference)}/cancel`, {
      query: { token },
      body: reason ? { reason } : {},
    })
  ).booking;

export const guestCalendarUrl = (reference: string, token: string) =>
  `/public/bookings/${enc(reference)}.ics?token=${enc(token)}`;

// Ticketed events ------------------------------------------------------------------

export const getPublicEvent = async (id: string) =>
  (await request<{ event: PublicEvent }>("GET", `/public/events/${enc(id)}`)).event;

export const getSeatMap = (id: string) =>
  request<SeatMap>("GET", `/public/events/${enc(id)}/seats`);

export interface HoldBody {
  eventId: string;
  seatIds: string[];
  buyer: { name: string; email: string };
  idempotencyKey: string;
}

export const holdSeats = (body: HoldBody) =>
  request<{ booking: TicketBooking; manageToken: string | null }>("POST", "/ticket-bookings", {
    body,
  });

export const getTicketBooking = async (id: string, token: string) =>
  (
    await request<{ booking: TicketBooking }>("GET", `/ticket-bookings/${enc(id)}`, {
      query: { token },
    })
  ).booking;

export const payTicketBooking = async (id: string, token: string, paymentMethod: string) =>
  (
    await request<{ booking: TicketBooking }>("POST", `/ticket-bookings/${enc(id)}/pay`, {
      query: { token },
      body: { paymentMethod },
    })
  ).booking;

export const cancelTicketBooking = async (id: string, token: string) =>
  (
    await request<{ booking: TicketBooking }>("POST", `/ticket-bookings/${enc(id)}/cancel`, {
      query: { token },
      body: {},
    })
  ).booking;

// Staff (admin panel) ------------------------------------------------------------

const auth = true;

export const listEventTypes = (query: Query = {}) =>
  request<Page<EventType>>("GET", "/event-types", { auth, query: { limit: 100, ...query } });

export const getEventType = async (id: string) =>
  (await request<{ eventType: EventType }>("GET", `/event-types/${enc(id)}`, { auth }))
    .eventType;

export type EventTypeBody = Partial<EventTypeFields> & {
  providerId?: string;
  teamId?: string;
};

export const createEventType = async (body: EventTypeBody) =>
  (await request<{ eventType: EventType }>("POST", "/event-types", { auth, body })).eventType;

/** JSON Merge Patch (RFC 7396): the fields present change. */
export const updateEventType = async (id: string, body: EventTypeBody) =>
  (await request<{ eventType: EventType }>("PATCH", `/event-types/${enc(id)}`, { auth, body }))
    .eventType;

export const setEventTypeActive = async (id: string, active: boolean) =>
  (
    await request<{ eventType: EventType }>(
      "POST",
      `/event-types/${enc(id)}/${active ? "activate" : "deactivate"}`,
      { auth },
    )
  ).eventType;

export interface BookingFilters {
  providerId?: string;
  teamId?: string;
  eventTypeId?: string;
  status?: string;
  from?: string;
  to?: string;
  guestEmail?: string;
  cursor?: string;
  limit?: number;
}

export const listAdminBookings = (filters: BookingFilters) =>
  request<Page<Booking>>("GET", "/admin/bookings", { auth, query: { ...filters } });

export const cancelAdminBooking = async (id: string, reason: string) =>
  (
    await request<{ booking: Booking }>("POST", `/admin/bookings/${enc(id)}/cancel`, {
      auth,
      body: { reason },
    })
  ).booking;

export const listUsers = () =>
  request<Page<User>>("GET", "/admin/users", { auth, query: { limit: 100 } });

export const listTeams = () =>
  request<Page<Team>>("GET", "/admin/teams", { auth, query: { limit: 100 } });

export const createTeam = async (name: string) =>
  (await request<{ team: Team }>("POST", "/admin/teams", { auth, body: { name } })).team;

export const deleteTeam = (id: string) =>
  request<void>("DELETE", `/admin/teams/${enc(id)}`, { auth });

export const addTeamMember = async (teamId: string, providerId: string) =>
  (
    await request<{ team: Team }>("POST", `/admin/teams/${enc(teamId)}/members`, {
      auth,
      body: { providerId },
    })
  ).team;

export const removeTeamMember = (teamId: string, providerId: string) =>
  request<void>("DELETE", `/admin/teams/${enc(teamId)}/members/${enc(providerId)}`, { auth });

export const listAudit = (cursor?: string) =>
  request<Page<AuditEntry>>("GET", "/admin/audit", { auth, query: { cursor, limit: 50 } });

export const listVenues = () =>
  request<Page<Venue>>("GET", "/admin/venues", { auth, query: { limit: 100 } });

export const createVenue = async (body: { name: string; address?: string; timeZone: string }) =>
  (await request<{ venue: Venue }>("POST", "/admin/venues", { auth, body })).venue;

export const listVenueSeats = async (id: string) =>
  (await request<{ items: Seat[] }>("GET", `/admin/venues/${enc(id)}/seats`, { auth })).items;

export interface SeatRowBody {
  section: string;
  row: string;
  from: number;
  to: number;
  category: string;
}

export const addSeatRows = async (id: string, rows: SeatRowBody[]) =>
  (
    await request<{ items: Seat[] }>("POST", `/admin/venues/${enc(id)}/seats`, {
      auth,
      body: { rows },
    })
  ).items;

export const listTicketedEvents = () =>
  request<Page<TicketedEvent>>("GET", "/admin/events", { auth, query: { limit: 100 } });

export type TicketedEventBody = Omit<TicketedEventFields, "description"> & {
  description?: string;
  venueId: string;
};

export const createTicketedEvent = async (body: TicketedEventBody) =>
  (await request<{ event: TicketedEvent }>("POST", "/admin/events", { auth, body })).event;

export const listEventTicketBookings = (id: string) =>
  request<Page<TicketBooking>>("GET", `/admin/events/${enc(id)}/bookings`, {
    auth,
    query: { limit: 100 },
  });
