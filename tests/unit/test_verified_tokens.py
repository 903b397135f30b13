"""The gateway's and notifier's cache of verified tokens (``bookings_web.auth.VerifiedTokens``)."""

from __future__ import annotations

import pytest
from bookings_web import auth
from bookings_web.auth import Principal, Role, VerifiedTokens

NOW = 1_900_000_000.0


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [NOW]
    monkeypatch.setattr(auth.time, "time", lambda: now[0])
    return now


def principal(expires_in: float | None) -> Principal:
    expires_at = None if expires_in is None else NOW + expires_in
    return Principal("customer:1", Role.CUSTOMER, customer_id="1", expires_at=expires_at)


def test_a_verified_token_is_found_until_its_exp_plus_the_leeway(clock: list[float]) -> None:
    tokens = VerifiedTokens(leeway_seconds=10, max_age=600)
    tokens.put("a.b.c", principal(expires_in=30))
    clock[0] = NOW + 39.9
    assert tokens.get("a.b.c") == principal(expires_in=30)
    clock[0] = NOW + 40
    assert tokens.get("a.b.c") is None
    assert tokens.get("a.b.c") is None  # and it is gone


def test_an_entry_lives_at_most_max_age_whatever_the_exp(clock: list[float]) -> None:
    tokens = VerifiedTokens(leeway_seconds=10, max_age=60)
    tokens.put("t", principal(expires_in=3600))
    clock[0] = NOW + 59
    assert tokens.get("t") is not None
    clock[0] = NOW + 60
    assert tokens.get("t") is None


def test_only_the_exact_token_hits_and_tokens_without_exp_are_not_kept(
    clock: list[float],
) -> None:
    tokens = VerifiedTokens(leeway_seconds=0)
    tokens.put("t", principal(expires_in=60))
    tokens.put("u", principal(expires_in=None))
    assert tokens.get("t ") is None and tokens.get("T") is None
    assert tokens.get("u") is None


def test_the_least_recently_used_entry_goes_first(clock: list[float]) -> None:
    tokens = VerifiedTokens(leeway_seconds=0, size=2)
    tokens.put("a", principal(expires_in=60))
    tokens.put("b", principal(expires_in=60))
    assert tokens.get("a") is not None  # "b" is now the oldest
    tokens.put("c", principal(expires_in=60))
    assert tokens.get("b") is None
    assert tokens.get("a") is not None and tokens.get("c") is not None
