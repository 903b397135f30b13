/** Shapes of the gateway's REST API (see GET /openapi.json). Times are RFC 3339
 * strings; money is an integer in the currency's minor unit (ISO 4217). */

export interface FieldError {
  field: string;
  message: string;
}

/** RFC 9457 problem details, as every error of the gateway is shaped. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  requestId: string | null;
  errors?: FieldError[];
  seatIds?: string[];
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export interface TeamMember {
  id: string;
  name: string;
}

/** What a guest sees of an event type (GET /public/event-types/{slug}). */
export interface PublicEventType
  extends Pick<
    EventTypeFields,
    | "name"
    | "description"
    | "location"
    | "timeZone"
    | "periodMinutes"
    | "capacity"
    | "minimumNoticeMinutes"
    | "bookingHorizonDays"
    | "customSlug"
  > {
  slug: string;
  providerName: string;
  bookingUrl: string;
  members: TeamMember[];
}

export interface Slot {
  start: string;
  end: string;
  capacity: number;
  remaining: number;
}

export interface SlotList {
  timeZone: string;
  slots: Slot[];
}

export interface Guest {
  firstName: string;
  lastName: string;
  email: string;
  phone: string;
  address?: string;
  specialRequests?: string;
}

export interface PublicBookingCreated {
  bookingId: string;
  reference: string;
  manageUrl: string;
}

export type BookingStatus = "confirmed" | "cancelled";

export interface GuestBooking {
  id: string;
  reference: string;
  status: BookingStatus;
  startTime: string;
  endTime: string;
  createdAt: string;
  cancelledAt?: string;
  cancelReason?: string;
  guest: Guest;
  eventType: PublicEventType;
}

export interface Booking {
  id: string;
  providerId: string;
  customerId: string;
  startTime: string;
  endTime: string;
  status: BookingStatus;
  createdAt: string;
  updatedAt: string;
  cancelledAt?: string;
  cancelReason?: string;
  eventTypeId?: string;
  reference?: string;
  guest?: Guest;
}

export type Weekday =
  | "monday"
  | "tuesday"
  | "wednesday"
  | "thursday"
  | "friday"
  | "saturday"
  | "sunday";

export interface WeeklyHours {
  weekday: Weekday;
  from: string;
  to: string;
}

export interface DatedWindow {
  start: string;
  end: string;
}

export interface EventTypeFields {
  name: string;
  description: string;
  location: string;
  timeZone: string;
  periodMinutes: number;
  capacity: number;
  bufferBeforeMinutes: number;
  bufferAfterMinutes: number;
  minimumNoticeMinutes: number;
  bookingHorizonDays: number;
  datedWindows: DatedWindow[];
  weeklyHours: WeeklyHours[];
  dateExceptions: string[];
  customSlug: string | null;
  allowMultiplePlacesPerGuest: boolean;
  allowMemberChoice: boolean;
}

export interface EventType extends EventTypeFields {
  id: string;
  providerId: string | null;
  teamId: string | null;
  organisationId: string | null;
  slug: string;
  bookingUrl: string;
  active: boolean;
  version: number;
  createdAt: string;
  updatedAt: string;
}

export interface TokenPair {
  accessToken: string;
  refreshToken: string;
  expiresIn: number;
  tokenType: string;
}

export type StaffRole = "admin" | "provider";

export interface User {
  id: string;
  organisationId: string;
  email: string;
  displayName: string;
  role: StaffRole;
  providerId: string | null;
  disabled: boolean;
  createdAt: string;
  updatedAt: string;
}

export interface Team {
  id: string;
  organisationId: string;
  name: string;
  memberIds: string[];
  createdAt: string;
  updatedAt: string;
}

export interface AuditEntry {
  id: string;
  actor: string;
  action: string;
  targetType: string;
  targetId: string;
  details: Record<string, unknown>;
  requestId: string | null;
  createdAt: string;
}

export interface Venue {
  id: string;
  organisationId: string;
  name: string;
  address: string;
  timeZone: string;
  seatCount: number;
  createdAt: string;
  updatedAt: string;
}

export interface Seat {
  id: string;
  section: string;
  row: string;
  number: string;
  category: string;
}

export interface Price {
  category: string;
  amountMinor: number;
}

/** What a ticketed event is, as staff write it (POST /admin/events). */
export interface TicketedEventFields {
  name: string;
  description: string;
  startsAt: string;
  endsAt: string;
  salesOpenAt: string;
  salesCloseAt: string;
  currency: string;
  prices: Price[];
}

export interface TicketedEvent extends TicketedEventFields {
  id: string;
  organisationId: string;
  venueId: string;
  version: number;
  createdAt: string;
  updatedAt: string;
}

export interface PublicEvent extends TicketedEventFields {
  id: string;
  venueName: string;
  venueAddress: string;
  timeZone: string;
  onSale: boolean;
  seatsAvailable: number;
  seatsTotal: number;
}

export type SeatState = "available" | "held" | "sold";

export interface EventSeat extends Seat {
  priceMinor: number;
  state: SeatState;
}

export interface SeatMap {
  currency: string;
  items: EventSeat[];
}

export type PaymentState =
  | "none"
  | "requested"
  | "succeeded"
  | "failed"
  | "refund_requested"
  | "refunded";

export interface TicketBooking {
  id: string;
  eventId: string;
  customerId: string;
  buyer: { name: string; email: string };
  status: "pending" | "confirmed" | "cancelled" | "expired";
  expiresAt: string;
  items: { seat: Seat; priceMinor: number }[];
  totalMinor: number;
  currency: string;
  ticketReference: string | null;
  payment: {
    state: PaymentState;
    failureCode: string | null;
    failureMessage: string | null;
    late: boolean;
  };
  cancelReason: string | null;
  version: number;
  createdAt: string;
  confirmedAt: string | null;
  cancelledAt: string | null;
  expiredAt: string | null;
}

/** The envelope of every live event (WebSocket frames and SSE data). */
export interface LiveEvent<T = Record<string, unknown>> {
  id: string;
  type: string;
  occurredAt: string;
  data: T;
}

export interface SlotAvailability {
  slug: string;
  slotStart: string;
  slotEnd: string;
  capacity: number;
  remaining: number;
}

export interface SeatAvailability {
  eventId: string;
  seats: { seatId: string; state: SeatState }[];
}
