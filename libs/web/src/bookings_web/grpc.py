"""booking-core calls made for a verified HTTP caller."""

from __future__ import annotations

from bookings_proto.bookings import v1 as pb

from .auth import Principal, Role


def actor(principal: Principal) -> pb.Actor:
    """The gRPC ``Actor`` for a verified principal, so booking-core enforces its ownership
    (with the signed-in staff user, for the audit log)."""
    user = principal.user_id or ""
    if principal.role is Role.CUSTOMER:
        return pb.Actor(customer_id=principal.owner_id)
    if principal.role is Role.ADMIN:
        return pb.Actor(admin_organisation_id=principal.owner_id, user_id=user)
    return pb.Actor(provider_id=principal.owner_id, user_id=user)
