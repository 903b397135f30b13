"""Domain errors. Each carries a stable ``code`` that the transports map to their statuses."""

from __future__ import annotations


class BookingError(Exception):
    """Base of every error a booking rule raises; ``code`` is the stable machine-readable reason."""

    code = "INTERNAL"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(BookingError):
    """A request field is malformed; ``field`` names it (proto field name)."""

    code = "VALIDATION_FAILED"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class PermissionDenied(BookingError):
    code = "FORBIDDEN"


class NotFound(BookingError):
    code = "NOT_FOUND"


class BookingOverlap(BookingError):
    """The slot overlaps an active booking of the same provider."""

    code = "BOOKING_OVERLAP"


class IdempotencyKeyReused(BookingError):
    """The idempotency key was used earlier for a different request."""

    code = "IDEMPOTENCY_KEY_REUSED"


class IdempotencyInProgress(BookingError):
    """A request with the same idempotency key is still being processed; retry it
    shortly (it then replays that request's outcome)."""

    code = "IDEMPOTENCY_IN_PROGRESS"


class BookingNotCancellable(BookingError):
    code = "BOOKING_NOT_CANCELLABLE"


class Unavailable(BookingError):
    """A dependency (the database) cannot be reached; retrying later may succeed."""

    code = "UPSTREAM_UNAVAILABLE"


class SlotUnavailable(BookingError):
    """The slot is not offered: outside the rules, notice or horizon, or the provider is
    busy then (another booking overlaps it, buffers included)."""

    code = "SLOT_UNAVAILABLE"


class SlotFull(BookingError):
    """Every place of the slot is taken."""

    code = "SLOT_FULL"


class GuestAlreadyBooked(BookingError):
    """This email address already holds a place in the slot."""

    code = "GUEST_ALREADY_BOOKED"


class SlugTaken(BookingError):
    """The custom slug is another event type's slug."""

    code = "SLUG_TAKEN"


class InvalidCredentials(BookingError):
    """Sign-in or refresh refused: one answer for every reason (no account enumeration)."""

    code = "UNAUTHENTICATED"


class TooManyAttempts(BookingError):
    """Too many failed sign-ins for this account or address; retry after ``retry_after``
    seconds."""

    code = "RATE_LIMITED"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class EmailTaken(BookingError):
    """Another user has this email address."""

    code = "EMAIL_TAKEN"


class TeamInUse(BookingError):
    """The team still has event types."""

    code = "TEAM_IN_USE"


class SignInUnavailable(BookingError):
    """No signing key is configured, so no token can be issued."""

    code = "UPSTREAM_UNAVAILABLE"


class SeatUnavailable(BookingError):
    """Some requested seats are in another active booking; ``seat_ids`` names them."""

    code = "SEAT_UNAVAILABLE"

    def __init__(self, seat_ids: list[str]) -> None:
        super().__init__(f"{len(seat_ids)} of the seats are taken: {', '.join(seat_ids)}")
        self.seat_ids = seat_ids


class SalesClosed(BookingError):
    """The event's sales window is not open now."""

    code = "SALES_CLOSED"


class BookingNotPayable(BookingError):
    code = "BOOKING_NOT_PAYABLE"


class BookingNotRefundable(BookingError):
    code = "BOOKING_NOT_REFUNDABLE"
