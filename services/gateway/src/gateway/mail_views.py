"""The mail routes: a booking's calendar invitation (``.ics``) for its customer,
provider or admin and through a guest's manage link, and the admin's list of mail
that could not be delivered.

Registered before the booking routes, so ``/bookings/{id}.ics`` is not taken for a
booking id ending in ``.ics``.
"""

from __future__ import annotations

from typing import Final

from aiohttp import web
from bookings_proto.bookings import v1 as pb
from bookings_web.auth import Role, principal, roles

from . import event_type_schemas, keys, mail_schemas, schemas
from .parsing import load, read_query
from .upstream_mail import failure_data

_path = schemas.BookingPath()
_reference = event_type_schemas.ReferencePath()
_manage = event_type_schemas.ManageQuery()
_failures_query = mail_schemas.FailuresQuery()
_failures = mail_schemas.MailFailurePage()
ICS_FILENAME: Final = "invite.ics"

routes = web.RouteTableDef()


def _ics(reply: pb.GetInvitationResponse) -> web.Response:
    """The invitation as RFC 5545 ``text/calendar`` with its iTIP method (RFC 6047,
    section 2.4), never cached (a manage link's token is in the URL)."""
    return web.Response(
        body=reply.ics.encode(),
        headers={
            "Content-Type": f'text/calendar; charset=utf-8; method="{reply.method or "REQUEST"}"',
            "Content-Disposition": f'attachment; filename="{ICS_FILENAME}"',
            "Cache-Control": "private, no-store",
        },
    )


@routes.get("/bookings/{id}.ics")
@roles(Role.CUSTOMER, Role.PROVIDER, Role.ADMIN)
async def booking_invitation(request: web.Request) -> web.Response:
    """200 ``text/calendar``: the booking's current invitation (``METHOD:REQUEST``, or
    ``METHOD:CANCEL`` once cancelled); 404 when unknown or not the caller's."""
    booking_id = str(load(_path, {"id": request.match_info["id"]}, location="path")["id"])
    reply = await request.app[keys.MAIL].invitation(principal(request), booking_id)
    return _ics(reply)


@routes.get("/public/bookings/{reference}.ics")
async def guest_invitation(request: web.Request) -> web.Response:
    """200 ``text/calendar`` through the manage link (``?token=``); a wrong token and an
    unknown reference are the same 404."""
    reference = load(_reference, {"reference": request.match_info["reference"]}, location="path")[
        "reference"
    ]
    token = read_query(request, _manage)["token"]
    reply = await request.app[keys.MAIL].guest_invitation(str(reference), str(token))
    return _ics(reply)


@routes.get("/admin/mail-failures")
@roles(Role.ADMIN)
async def mail_failures(request: web.Request) -> web.Response:
    """200 ``{"items"}``: messages refused for good in the admin's organisation, newest
    first."""
    query = read_query(request, _failures_query)
    failures = await request.app[keys.MAIL].failures(principal(request), query["limit"])
    return web.json_response(_failures.dump({"items": [failure_data(f) for f in failures]}))
