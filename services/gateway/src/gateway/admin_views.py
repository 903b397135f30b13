"""The admin API (role ``admin``): users, teams and their members, the organisation's
bookings (filters, cursor paging, cancel on behalf, a CSV export) and its audit log.
booking-core scopes everything to the admin's organisation: another organisation's
records are 404."""

from __future__ import annotations

import csv
import io
from typing import Any, Final

from aiohttp import web
from bookings_common.events import format_time
from bookings_web.auth import Role, principal, roles

from . import identity_schemas as schemas
from . import keys
from .parsing import load, read_json, read_query
from .schemas import BookingEnvelope
from .upstream import booking_data
from .upstream_identity import audit_data, team_data, user_data

CSV_PAGE: Final = 500
# A cell starting with one of these is a formula to spreadsheet programs (OWASP "CSV
# Injection"): it is prefixed with an apostrophe so it is shown, never evaluated.
_FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")
CSV_COLUMNS: Final = (
    "id",
    "reference",
    "status",
    "startTime",
    "endTime",
    "providerId",
    "customerId",
    "eventTypeId",
    "guestFirstName",
    "guestLastName",
    "guestEmail",
    "guestPhone",
    "createdAt",
    "cancelledAt",
    "cancelReason",
)

_user_create = schemas.UserCreateRequest()
_user_patch = schemas.UserPatch()
_user = schemas.UserEnvelope()
_users = schemas.UserPage()
_page = schemas.PageQuery()
_id = schemas.IdPath()
_member_path = schemas.MemberPath()
_team_request = schemas.TeamRequest()
_member = schemas.TeamMemberRequest()
_team = schemas.TeamEnvelope()
_teams = schemas.TeamPage()
_bookings_query = schemas.AdminBookingsQuery()
_bookings = schemas.AdminBookingPage()
_cancel = schemas.AdminCancelRequest()
_audit = schemas.AuditPage()
_booking = BookingEnvelope()

routes = web.RouteTableDef()


def _path_id(request: web.Request) -> str:
    return str(load(_id, {"id": request.match_info["id"]}, location="path")["id"])


@routes.post("/admin/users")
@roles(Role.ADMIN)
async def create_user(request: web.Request) -> web.Response:
    """201 ``{"user"}``: a staff user of the admin's organisation."""
    body = await read_json(request, _user_create)
    user = await request.app[keys.IDENTITY].create_user(principal(request), body)
    data = user_data(user)
    return web.json_response(
        _user.dump({"user": data}), status=201, headers={"Location": f"/admin/users/{data['id']}"}
    )


@routes.get("/admin/users")
@roles(Role.ADMIN)
async def list_users(request: web.Request) -> web.Response:
    query = read_query(request, _page)
    reply = await request.app[keys.IDENTITY].list_users(
        principal(request), query.get("cursor"), query["limit"]
    )
    items = [user_data(u) for u in reply.users]
    return web.json_response(
        _users.dump({"items": items, "next_cursor": reply.next_cursor or None})
    )


@routes.get("/admin/users/{id}")
@roles(Role.ADMIN)
async def get_user(request: web.Request) -> web.Response:
    user = await request.app[keys.IDENTITY].get_user(principal(request), _path_id(request))
    return web.json_response(_user.dump({"user": user_data(user)}))


@routes.patch("/admin/users/{id}")
@roles(Role.ADMIN)
async def update_user(request: web.Request) -> web.Response:
    """200 ``{"user"}``; a new password or disabling ends the user's sessions."""
    user_id = _path_id(request)
    body = await read_json(request, _user_patch)
    user = await request.app[keys.IDENTITY].update_user(principal(request), user_id, body)
    return web.json_response(_user.dump({"user": user_data(user)}))


@routes.delete("/admin/users/{id}")
@roles(Role.ADMIN)
async def delete_user(request: web.Request) -> web.Response:
    await request.app[keys.IDENTITY].delete_user(principal(request), _path_id(request))
    return web.Response(status=204)


@routes.post("/admin/teams")
@roles(Role.ADMIN)
async def create_team(request: web.Request) -> web.Response:
    body = await read_json(request, _team_request)
    team = await request.app[keys.IDENTITY].create_team(principal(request), body["name"])
    data = team_data(team)
    return web.json_response(
        _team.dump({"team": data}), status=201, headers={"Location": f"/admin/teams/{data['id']}"}
    )


@routes.get("/admin/teams")
@roles(Role.ADMIN)
async def list_teams(request: web.Request) -> web.Response:
    query = read_query(request, _page)
    reply = await request.app[keys.IDENTITY].list_teams(
        principal(request), query.get("cursor"), query["limit"]
    )
    items = [team_data(t) for t in reply.teams]
    return web.json_response(
        _teams.dump({"items": items, "next_cursor": reply.next_cursor or None})
    )


@routes.get("/admin/teams/{id}")
@roles(Role.ADMIN)
async def get_team(request: web.Request) -> web.Response:
    team = await request.app[keys.IDENTITY].get_team(principal(request), _path_id(request))
    return web.json_response(_team.dump({"team": team_data(team)}))


@routes.patch("/admin/teams/{id}")
@roles(Role.ADMIN)
async def rename_team(request: web.Request) -> web.Response:
    team_id = _path_id(request)
    body = await read_json(request, _team_request)
    team = await request.app[keys.IDENTITY].rename_team(principal(request), team_id, body["name"])
    return web.json_response(_team.dump({"team": team_data(team)}))


@routes.delete("/admin/teams/{id}")
@roles(Role.ADMIN)
async def delete_team(request: web.Request) -> web.Response:
    """204; 409 ``TEAM_IN_USE`` while event types belong to it."""
    await request.app[keys.IDENTITY].delete_team(principal(request), _path_id(request))
    return web.Response(status=204)


@routes.post("/admin/teams/{id}/members")
@roles(Role.ADMIN)
async def add_member(request: web.Request) -> web.Response:
    team_id = _path_id(request)
    body = await read_json(request, _member)
    team = await request.app[keys.IDENTITY].change_member(
        principal(request), team_id, str(body["provider_id"]), add=True
    )
    return web.json_response(_team.dump({"team": team_data(team)}))


@routes.delete("/admin/teams/{id}/members/{providerId}")
@roles(Role.ADMIN)
async def remove_member(request: web.Request) -> web.Response:
    path = load(
        _member_path,
        {"id": request.match_info["id"], "providerId": request.match_info["providerId"]},
        location="path",
    )
    team = await request.app[keys.IDENTITY].change_member(
        principal(request), str(path["id"]), str(path["provider_id"]), add=False
    )
    return web.json_response(_team.dump({"team": team_data(team)}))


@routes.get("/admin/bookings")
@roles(Role.ADMIN)
async def list_bookings(request: web.Request) -> web.Response:
    """200 ``{"items", "nextCursor"}``: the organisation's bookings, ascending by start."""
    query = read_query(request, _bookings_query)
    reply = await request.app[keys.IDENTITY].search_bookings(
        principal(request), query, query.get("cursor"), query["limit"]
    )
    items = [booking_data(b) for b in reply.bookings]
    return web.json_response(
        _bookings.dump({"items": items, "next_cursor": reply.next_cursor or None})
    )


def csv_cell(value: Any) -> str:
    """A CSV cell that a spreadsheet shows as text (formula-looking values defused)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def csv_row(booking: Any) -> list[str]:
    guest = booking.guest
    return [
        csv_cell(v)
        for v in (
            booking.id,
            booking.reference or "",
            "cancelled" if booking.status.name == "CANCELLED" else "confirmed",
            format_time(booking.start_time) if booking.start_time else "",
            format_time(booking.end_time) if booking.end_time else "",
            booking.provider_id,
            booking.customer_id,
            booking.event_type_id,
            guest.first_name if guest else "",
            guest.last_name if guest else "",
            guest.email if guest else "",
            guest.phone if guest else "",
            format_time(booking.created_at) if booking.created_at else "",
            format_time(booking.cancelled_at) if booking.cancelled_at else "",
            booking.cancel_reason or "",
        )
    ]


@routes.get("/admin/bookings.csv")
@roles(Role.ADMIN)
async def export_bookings(request: web.Request) -> web.StreamResponse:
    """The same bookings as CSV (RFC 4180), streamed page by page."""
    query = read_query(request, _bookings_query)
    client, caller = request.app[keys.IDENTITY], principal(request)
    # The first page before the headers go out, so errors are still problem+json.
    reply = await client.search_bookings(caller, query, query.get("cursor"), CSV_PAGE)
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": 'attachment; filename="bookings.csv"',
        }
    )
    await response.prepare(request)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    while True:
        for booking in reply.bookings:
            writer.writerow(csv_row(booking))
        await response.write(buffer.getvalue().encode())
        buffer.seek(0)
        buffer.truncate()
        if not reply.next_cursor:
            break
        reply = await client.search_bookings(caller, query, reply.next_cursor, CSV_PAGE)
    await response.write_eof()
    return response


@routes.post("/admin/bookings/{id}/cancel")
@roles(Role.ADMIN)
async def cancel_booking(request: web.Request) -> web.Response:
    """200 ``{"booking"}``: cancelled on behalf of its customer, with the reason given."""
    booking_id = _path_id(request)
    body = await read_json(request, _cancel)
    booking = await request.app[keys.CORE].cancel_booking(
        principal(request), booking_id, body["reason"]
    )
    return web.json_response(_booking.dump({"booking": booking_data(booking)}))


@routes.get("/admin/audit")
@roles(Role.ADMIN)
async def audit(request: web.Request) -> web.Response:
    """200 ``{"items", "nextCursor"}``: who did what, newest first."""
    query = read_query(request, _page)
    reply = await request.app[keys.IDENTITY].audit(
        principal(request), query.get("cursor"), query["limit"]
    )
    items = [audit_data(e) for e in reply.entries]
    return web.json_response(
        _audit.dump({"items": items, "next_cursor": reply.next_cursor or None})
    )
