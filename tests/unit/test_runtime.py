"""``bookings_common.runtime``: what every service's ``main`` tunes at start-up."""

from __future__ import annotations

import gc
import uuid
from datetime import UTC, datetime
from pathlib import Path

import betterproto2
import pytest
from bookings_common import runtime
from bookings_proto.bookings import v1 as pb

PROTOS = Path(__file__).resolve().parents[2] / "protos"


def test_no_proto_field_is_deprecated_so_the_warning_guard_has_nothing_to_silence() -> None:
    sources = list(PROTOS.rglob("*.proto"))
    assert sources
    assert [p.name for p in sources if "deprecated" in p.read_text()] == []


def test_messages_encode_and_decode_the_same_without_the_guard(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = datetime(2031, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
    booking = pb.Booking(
        id=str(uuid.uuid4()),
        provider_id=str(uuid.uuid4()),
        customer_id=str(uuid.uuid4()),
        start_time=now,
        end_time=now,
        status=pb.BookingStatus.CANCELLED,
        created_at=now,
        updated_at=now,
        cancel_reason="",  # a default: left out either way
    )
    page = pb.ListBookingsResponse(bookings=[booking, pb.Booking()], next_cursor="c")
    stock = bytes(page)
    monkeypatch.setattr(
        betterproto2.Message, "_get_field_default", betterproto2.Message._get_field_default
    )
    runtime.speed_up_betterproto()
    assert betterproto2.Message._get_field_default is runtime._field_default
    assert bytes(page) == stock
    assert pb.ListBookingsResponse.parse(stock) == page


def test_tune_gc_freezes_what_start_up_made_and_raises_the_thresholds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = gc.get_threshold()
    try:
        runtime.tune_gc()
        assert gc.get_threshold() == runtime.GC_THRESHOLDS
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
