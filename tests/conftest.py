"""Fixtures shared by every test tier."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def grpcio_stubs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Stock grpcio stubs generated from protos/ with grpc_tools, for wire-compatibility tests."""
    import sys

    from grpc_tools import protoc

    out = tmp_path_factory.mktemp("grpcio_stubs")
    include = Path(protoc.__file__).parent / "_proto"
    code = protoc.main(
        [
            "protoc",
            f"-I{ROOT / 'protos'}",
            f"-I{include}",
            f"--python_out={out}",
            f"--grpc_python_out={out}",
            "bookings/v1/bookings.proto",
        ]
    )
    assert code == 0
    sys.path.insert(0, str(out))
    try:
        yield out
    finally:
        sys.path.remove(str(out))
