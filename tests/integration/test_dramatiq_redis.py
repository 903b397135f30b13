"""The workers' dramatiq broker through a Redis outage: broker commands fail with an
error dramatiq's consumer handles, so a delayed message falling due while Redis is
down no longer kills the consumer thread of its queue; and a batch enqueued in one
round trip (``enqueue_many``) is what ``enqueue`` would have stored."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import dramatiq
import dramatiq.errors
import pytest
import redis.exceptions
from bookings_common.dramatiq_redis import RedisBroker, RedisUnavailable

from .harness import REDIS_URL, RedisProcess, free_port

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


class CountingMiddleware(dramatiq.Middleware):
    def __init__(self) -> None:
        self.before: list[str] = []
        self.after: list[str] = []

    def before_enqueue(self, broker: object, message: dramatiq.Message[Any], delay: Any) -> None:
        self.before.append(message.options["redis_message_id"])

    def after_enqueue(self, broker: object, message: dramatiq.Message[Any], delay: Any) -> None:
        self.after.append(message.options["redis_message_id"])


def test_enqueue_many_stores_what_enqueue_stores_and_a_worker_runs_each_once() -> None:
    namespace = f"test-{uuid.uuid4().hex}"
    counting = CountingMiddleware()
    broker = RedisBroker(url=REDIS_URL, namespace=namespace, middleware=[counting])
    done: list[int] = []

    @dramatiq.actor(broker=broker, queue_name="batched", actor_name="record")
    def record(n: int) -> None:
        done.append(n)

    client = redis.Redis.from_url(REDIS_URL)
    try:
        single = broker.enqueue(record.message(0))
        many = broker.enqueue_many([record.message(n) for n in (1, 2, 3)])
        assert [m.args for m in many] == [(1,), (2,), (3,)]
        ids = [m.options["redis_message_id"] for m in (single, *many)]
        assert len(set(ids)) == 4
        # Queued in order, each stored as enqueue stores it.
        queued = [i.decode() for i in client.lrange(f"{namespace}:batched", 0, -1)]
        assert sorted(queued) == sorted(ids)
        for message in (single, *many):
            stored = client.hget(f"{namespace}:batched.msgs", message.options["redis_message_id"])
            assert stored is not None
            assert dramatiq.Message.decode(stored) == message
        assert counting.before == counting.after == ids
        worker = dramatiq.Worker(broker, worker_timeout=100)
        worker.start()
        try:
            broker.join("batched", timeout=10_000)
            worker.join()
        finally:
            worker.stop()
        assert sorted(done) == [0, 1, 2, 3]
        assert broker.enqueue_many([]) == []
    finally:
        for key in client.scan_iter(f"{namespace}:*"):
            client.delete(key)
        client.close()


def test_enqueue_many_on_an_unreachable_redis_raises_redis_unavailable() -> None:
    broker = RedisBroker(url=f"redis://127.0.0.1:{free_port()}/0", middleware=[])
    broker.declare_queue("q")
    message = dramatiq.Message(queue_name="q", actor_name="a", args=(), kwargs={}, options={})
    with pytest.raises(RedisUnavailable):
        broker.enqueue_many([message, message])
