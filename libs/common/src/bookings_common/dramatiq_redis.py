"""dramatiq's Redis broker, with Redis outages reported the way dramatiq's worker
expects them. Only the processes that run dramatiq import this module.

dramatiq's consumer thread handles ``dramatiq.errors.ConnectionError`` (one log
line, then it reconnects a second later) but some of its paths let redis-py's own
``redis.exceptions.ConnectionError`` through: moving a delayed message whose time
has come to its queue, and requeueing the delayed messages it holds when it closes
after an error. Seen in our Redis-outage test: the first logged a traceback, the
second escaped the consumer thread and ended it, so that queue was not consumed
again until a restart. Here
every scripted broker command (enqueue, ack, nack, requeue, ...) raises
``RedisUnavailable``, which is both, so every handler that catches either keeps
working.

``RedisBroker.enqueue_many`` sends a batch of messages in one round trip.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from uuid import uuid4

import dramatiq.brokers.redis
import dramatiq.errors
import redis.exceptions
from dramatiq import Message
from dramatiq.common import current_millis


class RedisUnavailable(dramatiq.errors.ConnectionClosed, redis.exceptions.ConnectionError):
    """Redis could not be reached for a broker command."""


class RedisBroker(dramatiq.brokers.redis.RedisBroker):
    """``dramatiq.brokers.redis.RedisBroker`` raising ``RedisUnavailable`` when Redis is
    unreachable (see the module docstring); same arguments."""

    def _dispatch(self, command: str) -> Callable[..., Any]:
        dispatch = super()._dispatch(command)  # type: ignore[no-untyped-call]

        def guarded(queue_name: str, *args: Any) -> Any:
            try:
                return dispatch(queue_name, *args)
            except redis.exceptions.ConnectionError as exc:
                raise RedisUnavailable(str(exc)) from exc  # type: ignore[no-untyped-call]

        return guarded

    def enqueue_many(self, messages: Sequence[Message[Any]]) -> list[Message[Any]]:
        """Enqueue ``messages`` (none delayed) as ``enqueue`` enqueues each (a Redis
        message id of its own, the middleware's ``before_enqueue`` and ``after_enqueue``,
        dramatiq's ``dispatch`` script with its ``enqueue`` command), in one pipelined
        round trip to Redis instead of one each; return them as enqueued.

        Not atomic: if Redis fails part way, some may be enqueued (as with ``enqueue``
        in a loop). Raises ``RedisUnavailable`` when Redis cannot be reached.
        """
        if not messages:
            return []
        enqueued = [m.copy(options={"redis_message_id": str(uuid4())}) for m in messages]
        for message in enqueued:
            self.emit_before("enqueue", message, None)
        dispatch = self.scripts["dispatch"]
        keys = [self.namespace]
        try:
            with self.client.pipeline(transaction=False) as pipeline:
                for message in enqueued:
                    # The arguments dramatiq's own ``_dispatch`` passes (dispatch.lua).
                    dispatch(
                        keys=keys,
                        args=[
                            "enqueue",
                            current_millis(),
                            message.queue_name,
                            self.broker_id,
                            self.heartbeat_timeout,
                            self.dead_message_ttl,
                            self._should_do_maintenance("enqueue"),
                            self._max_unpack_size(),  # type: ignore[no-untyped-call]
                            message.options["redis_message_id"],
                            message.encode(),
                        ],
                        client=pipeline,
                    )
                pipeline.execute()
        except redis.exceptions.ConnectionError as exc:
            raise RedisUnavailable(str(exc)) from exc  # type: ignore[no-untyped-call]
        for message in enqueued:
            self.emit_after("enqueue", message, None)
        return enqueued
