"""Bounds of the event-type and guest fields, in one place: booking-core enforces them
(its domain rules), the gateway's schemas document them in the OpenAPI document and
reject what is out of bounds before a call is made. Minutes, days and characters."""

from __future__ import annotations

from typing import Final

NAME_MAX: Final = 200
DESCRIPTION_MAX: Final = 5000
LOCATION_MAX: Final = 500
PERIOD_MINUTES: Final = (5, 480)
CAPACITY: Final = (1, 1000)
BUFFER_MINUTES: Final = (0, 480)
NOTICE_MINUTES: Final = (0, 525_600)  # a year
HORIZON_DAYS: Final = (1, 730)
DATED_WINDOWS_MAX: Final = 100
DATED_WINDOW_MAX_DAYS: Final = 31
WEEKLY_HOURS_MAX: Final = 50
DATE_EXCEPTIONS_MAX: Final = 366
CUSTOM_SLUG_LENGTH: Final = (3, 64)
SLOT_RANGE_MAX_DAYS: Final = 62

GUEST_NAME_MAX: Final = 100
EMAIL_MAX: Final = 254  # RFC 5321, section 4.5.3.1.3, less the angle brackets
PHONE_INPUT_MAX: Final = 32
ADDRESS_MAX: Final = 500
SPECIAL_REQUESTS_MAX: Final = 2000
CANCEL_REASON_MAX: Final = 500

# Ticketing.
SEAT_LABEL_MAX: Final = 50  # section, row, number, category
SEATS_PER_CALL_MAX: Final = 2000
PAYMENT_METHOD_MAX: Final = 255
