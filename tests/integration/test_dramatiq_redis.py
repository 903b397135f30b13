"""The workers' dramatiq broker through a Redis outage: broker commands fail with an
error dramatiq's consumer handles, so a delayed message falling due while Redis is
down no longer kills the consumer thread of its queue."""

from __future__ import annotations

from pathlib import Path

import dramatiq
import dramatiq.errors
import pytest
import redis.exceptions
from bookings_common.dramatiq_redis import RedisBroker, RedisUnavailable

from .harness import RedisProcess, free_port

pytestmark = pytest.mark.integration


def test_an_unreachable_redis_raises_what_both_dramatiq_and_redis_handlers_catch() -> None:
    broker = RedisBroker(url=f"redis://127.0.0.1:{free_port()}/0", middleware=[])
    message = dramatiq.Message(queue_name="q", actor_name="a", args=(), kwargs={}, options={})
    broker.declare_queue("q")
    with pytest.raises(RedisUnavailable) as info:
        broker.enqueue(message)
    assert isinstance(info.value, dramatiq.errors.BrokerConnectionError)
    assert isinstance(info.value, redis.exceptions.ConnectionError)


def test_a_consumer_closing_during_an_outage_gets_a_connection_error(tmp_path: Path) -> None:
    """What killed the reminder worker's consumer thread: on a connection error it
    closes its consumer, requeueing the delayed messages it holds; dramatiq's close()
    swallows dramatiq's connection errors only."""
    server = RedisProcess(tmp_path)
    server.start()
    broker = RedisBroker(url=server.url, middleware=[])
    broker.declare_queue("held")
    message = broker.enqueue(
        dramatiq.Message(queue_name="held", actor_name="a", args=(), kwargs={}, options={})
    )
    consumer = broker.consume("held", prefetch=1, timeout=100)
    held = next(consumer)
    assert held is not None and held.message_id == message.message_id
    server.stop()
    with pytest.raises(dramatiq.errors.BrokerConnectionError):
        consumer.requeue([held])
