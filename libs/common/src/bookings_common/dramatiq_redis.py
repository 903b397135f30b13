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
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dramatiq.brokers.redis
import dramatiq.errors
import redis.exceptions


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
