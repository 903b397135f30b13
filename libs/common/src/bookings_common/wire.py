"""protobuf's C codec (upb) for the betterproto2 messages that carry many bookings.

betterproto2 codes messages in pure Python, one varint byte at a time: a page of
20 bookings (``ListBookingsResponse``) takes it about 0.9 ms to encode and 1.3 ms
to decode, on every page booking-core serves and the gateway reads
(``bench/RESULTS.md``). ``install_upb_codec`` gives chosen message classes a
``__bytes__`` and a ``FromString``/``parse`` that go through the upb message
classes of the same descriptors (the generated package carries them in
``bookings_proto.google_proto_descriptor_pool``) and copy field by field between
the two, driven by the descriptors: the same bytes on the wire, the same
betterproto2 objects in the code. Only what those messages use is supported
(scalars, proto3 ``optional``, enums, ``google.protobuf.Timestamp`` as
``datetime``, nested and repeated messages); installing on a message with
anything else raises ``TypeError``. Unknown fields of a decoded message are
dropped (betterproto2 would keep them for re-encoding; nothing here re-encodes a
received message). booking-core and the gateway install it on
``BOOKING_RESPONSES`` at start-up.

Needs ``bookings-proto`` (the ``wire`` extra of ``bookings-common``).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from functools import cache
from typing import Any, Final

import betterproto2

# The generated modules add their descriptors to the pool as they are imported.
from bookings_proto.bookings import v1 as pb
from bookings_proto.google_proto_descriptor_pool import default_google_proto_descriptor_pool
from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor

TIMESTAMP: Final = "google.protobuf.Timestamp"
# What booking-core and the gateway code through upb: the answers that carry bookings.
BOOKING_RESPONSES: Final = (
    pb.ListBookingsResponse,
    pb.GetBookingResponse,
    pb.CreateBookingResponse,
    pb.CancelBookingResponse,
)
_EPOCH: Final = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
# A betterproto2 object's fields -> a upb message (in place); a upb message -> kwargs.
Encoder = Callable[[betterproto2.Message, Any], None]
Decoder = Callable[[Any], betterproto2.Message]


@cache
def upb_class(full_name: str) -> Any:
    """The upb (C) message class of ``full_name`` (``bookings.v1.Booking``)."""
    descriptor = default_google_proto_descriptor_pool.FindMessageTypeByName(full_name)
    return message_factory.GetMessageClass(descriptor)


def _proto_name(cls: type[betterproto2.Message]) -> str:
    """``bookings.v1.Booking`` for ``bookings_proto.bookings.v1.Booking``."""
    package = cls.__module__.removeprefix("bookings_proto.")
    return f"{package}.{cls.__name__}"


def _timestamp_into(value: datetime.datetime, target: Any) -> None:
    # betterproto2's Timestamp.from_datetime, exactly: integer microseconds.
    if value.tzinfo is None:
        raise ValueError("datetime must be timezone aware")
    offset = value.astimezone(datetime.UTC) - _EPOCH
    micros = (offset.days * 86_400 + offset.seconds) * 10**6 + offset.microseconds
    seconds, micros = divmod(micros, 10**6)
    target.seconds = seconds
    target.nanos = micros * 1000


def _timestamp_from(source: Any) -> datetime.datetime:
    # betterproto2's Timestamp.to_datetime, exactly.
    return _EPOCH + datetime.timedelta(seconds=source.seconds, microseconds=source.nanos // 1000)


@cache
def _codec(cls: type[betterproto2.Message]) -> tuple[Encoder, Decoder]:
    """The encoder and decoder between ``cls`` and its upb class (built once)."""
    descriptor: Descriptor = upb_class(_proto_name(cls)).DESCRIPTOR
    metadata = cls._betterproto  # type: ignore[arg-type]  # betterproto2's classproperty
    encoders: list[Callable[[betterproto2.Message, Any], None]] = []
    decoders: list[Callable[[Any, dict[str, Any]], None]] = []
    for field in descriptor.fields:
        name = field.name
        meta = metadata.meta_by_field_name.get(name)
        if meta is None or meta.group is not None:  # proto3 optional has no group
            raise TypeError(f"{descriptor.full_name}.{name}: oneof fields are not supported")
        python_type = metadata.cls_by_field[name]
        repeated = field.is_repeated
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            assert field.message_type is not None
            nested = field.message_type.full_name
            if nested == TIMESTAMP and not repeated:
                encoders.append(_encode_timestamp(name))
                decoders.append(_decode_timestamp(name))
            elif nested.startswith("google.protobuf.") or field.message_type.GetOptions().map_entry:
                raise TypeError(f"{descriptor.full_name}.{name}: {nested} is not supported")
            elif repeated:
                encoders.append(_encode_repeated(name, python_type))
                decoders.append(_decode_repeated(name, python_type))
            else:
                encoders.append(_encode_message(name, python_type))
                decoders.append(_decode_message(name, python_type))
        elif repeated:
            raise TypeError(f"{descriptor.full_name}.{name}: repeated scalars are not supported")
        elif field.type == FieldDescriptor.TYPE_ENUM:
            encoders.append(_encode_scalar(name, int))
            decoders.append(_decode_enum(name, python_type))
        elif meta.optional:
            encoders.append(_encode_optional(name))
            decoders.append(_decode_optional(name))
        else:
            encoders.append(_encode_scalar(name, None))
            decoders.append(_decode_scalar(name))

    def encode(message: betterproto2.Message, target: Any) -> None:
        for each in encoders:
            each(message, target)

    def decode(source: Any) -> betterproto2.Message:
        values: dict[str, Any] = {}
        for each in decoders:
            each(source, values)
        return cls(**values)

    return encode, decode


def _encode_scalar(
    name: str, convert: Callable[[Any], Any] | None
) -> Callable[[betterproto2.Message, Any], None]:
    def encode(message: betterproto2.Message, target: Any) -> None:
        value = getattr(message, name)
        if value:
            setattr(target, name, value if convert is None else convert(value))

    return encode


def _encode_optional(name: str) -> Callable[[betterproto2.Message, Any], None]:
    def encode(message: betterproto2.Message, target: Any) -> None:
        value = getattr(message, name)
        if value is not None:
            setattr(target, name, value)

    return encode


def _encode_timestamp(name: str) -> Callable[[betterproto2.Message, Any], None]:
    def encode(message: betterproto2.Message, target: Any) -> None:
        value = getattr(message, name)
        if value is not None:
            _timestamp_into(value, getattr(target, name))

    return encode


def _encode_message(
    name: str, python_type: type[betterproto2.Message]
) -> Callable[[betterproto2.Message, Any], None]:
    def encode(message: betterproto2.Message, target: Any) -> None:
        value = getattr(message, name)
        if value is not None:
            nested = getattr(target, name)
            nested.SetInParent()  # present even when every field is a default
            _codec(python_type)[0](value, nested)

    return encode


def _encode_repeated(
    name: str, python_type: type[betterproto2.Message]
) -> Callable[[betterproto2.Message, Any], None]:
    def encode(message: betterproto2.Message, target: Any) -> None:
        items = getattr(message, name)
        if items:
            encode_item = _codec(python_type)[0]
            container = getattr(target, name)
            for item in items:
                encode_item(item, container.add())

    return encode


def _decode_scalar(name: str) -> Callable[[Any, dict[str, Any]], None]:
    def decode(source: Any, values: dict[str, Any]) -> None:
        values[name] = getattr(source, name)

    return decode


def _decode_enum(name: str, enum: Callable[[int], Any]) -> Callable[[Any, dict[str, Any]], None]:
    def decode(source: Any, values: dict[str, Any]) -> None:
        values[name] = enum(getattr(source, name))

    return decode


def _decode_optional(name: str) -> Callable[[Any, dict[str, Any]], None]:
    def decode(source: Any, values: dict[str, Any]) -> None:
        values[name] = getattr(source, name) if source.HasField(name) else None

    return decode


def _decode_timestamp(name: str) -> Callable[[Any, dict[str, Any]], None]:
    def decode(source: Any, values: dict[str, Any]) -> None:
        values[name] = _timestamp_from(getattr(source, name)) if source.HasField(name) else None

    return decode


def _decode_message(
    name: str, python_type: type[betterproto2.Message]
) -> Callable[[Any, dict[str, Any]], None]:
    def decode(source: Any, values: dict[str, Any]) -> None:
        values[name] = (
            _codec(python_type)[1](getattr(source, name)) if source.HasField(name) else None
        )

    return decode


def _decode_repeated(
    name: str, python_type: type[betterproto2.Message]
) -> Callable[[Any, dict[str, Any]], None]:
    def decode(source: Any, values: dict[str, Any]) -> None:
        decode_item = _codec(python_type)[1]
        values[name] = [decode_item(item) for item in getattr(source, name)]

    return decode


def encode(message: betterproto2.Message) -> bytes:
    """``message``'s wire bytes, through upb."""
    target = upb_class(_proto_name(type(message)))()
    _codec(type(message))[0](message, target)
    return bytes(target.SerializeToString())


def decode(cls: type[betterproto2.Message], data: bytes) -> betterproto2.Message:
    """A ``cls`` from wire bytes, through upb."""
    return _codec(cls)[1](upb_class(_proto_name(cls)).FromString(data))


def install_upb_codec(*classes: type[betterproto2.Message]) -> None:
    """Make ``bytes(m)``, ``m.SerializeToString()``, ``cls.parse`` and ``cls.FromString``
    of each class go through upb (see the module docstring); raises ``TypeError``
    for a class with fields that are not supported. Idempotent."""
    for cls in classes:
        _codec(cls)  # build (and check) now, not on the first request

        def to_bytes(self: betterproto2.Message) -> bytes:
            return encode(self)

        def from_bytes(cls: type[betterproto2.Message], data: bytes) -> betterproto2.Message:
            return decode(cls, data)

        cls.__bytes__ = to_bytes  # type: ignore[method-assign]
        cls.parse = classmethod(from_bytes)  # type: ignore[method-assign,assignment]
        cls.FromString = classmethod(from_bytes)  # type: ignore[method-assign,assignment]
