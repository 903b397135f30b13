"""The notifier's Prometheus metrics, on the same registry as the HTTP metrics."""

from __future__ import annotations

from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Seconds from an event's commit (``occurredAt``) to its arrival at a replica.
LAG_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class NotifierMetrics:
    """Connections by transport, events delivered and dropped, replays and catch-ups."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.connections = Gauge(
            "notifier_connections",
            "Open WebSocket and SSE connections on this replica.",
            ("transport",),
            registry=registry,
        )
        self.rejected = Counter(
            "notifier_connections_rejected",
            "Connections refused before the upgrade, by reason.",
            ("reason",),
            registry=registry,
        )
        self.disconnected = Counter(
            "notifier_disconnects",
            "Connections the replica closed, by reason "
            "(slow_consumer, send_timeout, policy, shutdown, replay_failed).",
            ("reason",),
            registry=registry,
        )
        self.delivered = Counter(
            "notifier_events_delivered",
            "Events written to a client connection, by transport.",
            ("transport",),
            registry=registry,
        )
        self.dropped = Counter(
            "notifier_events_dropped",
            "Events not delivered, by reason (slow_consumer: the connection was closed; "
            "duplicate: already dispatched; malformed: not an event envelope).",
            ("reason",),
            registry=registry,
        )
        self.replays = Counter(
            "notifier_replays",
            "Connections that asked for a replay (lastEventId / Last-Event-ID).",
            registry=registry,
        )
        self.replayed_events = Counter(
            "notifier_replayed_events",
            "Events sent from booking-core's log before live events.",
            registry=registry,
        )
        self.redis_reconnects = Counter(
            "notifier_redis_reconnects",
            "Times the Redis pub/sub subscription was lost and re-established.",
            registry=registry,
        )
        self.caught_up_events = Counter(
            "notifier_caught_up_events",
            "Events fetched from booking-core after a Redis reconnect.",
            registry=registry,
        )
        self.lag = Histogram(
            "notifier_event_lag_seconds",
            "Time from an event's commit to its dispatch on this replica, in seconds.",
            buckets=LAG_BUCKETS,
            registry=registry,
        )
