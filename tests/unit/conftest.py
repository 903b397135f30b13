"""Fixtures for the unit tests: no I/O, only the in-memory fakes of ``fakes.py``."""

from __future__ import annotations

import pytest
from fakes import Harness, make_harness


@pytest.fixture
def h() -> Harness:
    """A fresh BookingService over empty fakes, its clock at ``fakes.DEFAULT_NOW``."""
    return make_harness()
