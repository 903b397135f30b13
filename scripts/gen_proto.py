"""Generate betterproto2 code from protos/ into libs/proto/src/bookings_proto.

    python scripts/gen_proto.py            # regenerate in place
    python scripts/gen_proto.py --check    # exit 1 if the committed code is stale

The plugin (protoc-gen-python_betterproto2, from betterproto2-compiler) must be
on PATH; `make proto` arranges that.
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"
TARGET = ROOT / "libs" / "proto" / "src" / "bookings_proto"
OPTIONS = "client_generation=async,server_generation=async,google_protobuf_descriptors"


def generate(out: Path) -> None:
    """Run protoc with the betterproto2 plugin over every .proto under protos/ into ``out``."""
    sources = sorted(str(p.relative_to(PROTOS)) for p in PROTOS.rglob("*.proto"))
    subprocess.run(  # noqa: S603 - fixed argv, no shell
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-I{PROTOS}",
            f"--python_betterproto2_out={out}",
            f"--python_betterproto2_opt={OPTIONS}",
            *sources,
        ],
        check=True,
        capture_output=True,
    )


def differences(a: Path, b: Path) -> list[str]:
    """Return relative paths that differ between two generated trees (ignoring caches)."""
    files_a = {
        p.relative_to(a) for p in a.rglob("*") if p.is_file() and "__pycache__" not in p.parts
    }
    files_b = {
        p.relative_to(b) for p in b.rglob("*") if p.is_file() and "__pycache__" not in p.parts
    }
    changed = [str(p) for p in files_a & files_b if not filecmp.cmp(a / p, b / p, shallow=False)]
    return sorted(changed + [str(p) for p in files_a ^ files_b])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report stale code")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        generate(out)
        if args.check:
            stale = differences(out, TARGET)
            for path in stale:
                print(f"stale generated file: {path}", file=sys.stderr)
            return 1 if stale else 0
        shutil.rmtree(TARGET, ignore_errors=True)
        shutil.copytree(out, TARGET)
    print(f"generated {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
