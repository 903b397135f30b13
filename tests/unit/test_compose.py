"""docker-compose.yml and the Dockerfile, read against the contract (there is no Docker
engine on our machines, so this is how the compose file is kept correct); where a
``docker compose`` binary is present, ``docker compose config`` checks it too."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
APP_SERVICES = {
    "booking-core",
    "gateway",
    "notifier",
    "reminder-worker",
    "mail-worker",
    "payment-service",
}
# The contract's listen ports (ARCHITECTURE.md, "Processes, ports, settings").
CONTRACT_PORTS = {"booking-core": 50051, "gateway": 8080, "notifier": 8090}
# Our packages each service imports (from its pyproject's dependencies).
OUR_PACKAGES = {
    "bookings-common": "libs/common",
    "bookings-proto": "libs/proto",
    "bookings-web": "libs/web",
}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


@pytest.fixture(scope="module")
def env_example_names() -> set[str]:
    names = set()
    for line in (ROOT / ".env.example").read_text().splitlines():
        line = line.lstrip("# ").strip()
        if match := re.match(r"([A-Za-z_][A-Za-z0-9_]*)=", line):
            names.add(match.group(1))
    return names


def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    result: dict[str, dict[str, Any]] = compose["services"]
    return result


def test_the_whole_system_is_there(compose: dict[str, Any]) -> None:
    assert set(services(compose)) == {"postgres", "redis", "migrate", "mailpit", *APP_SERVICES}
    assert services(compose)["mailpit"]["image"].startswith("axllent/mailpit:")
    # Mailpit's web UI and SMTP port, on the host's loopback only.
    assert services(compose)["mailpit"]["ports"] == ["127.0.0.1:8025:8025", "127.0.0.1:1025:1025"]
    assert services(compose)["postgres"]["image"].startswith("postgres:16")
    assert services(compose)["redis"]["image"].startswith("redis:7")
    assert "postgres-data" in compose["volumes"]
    assert "postgres-data:/var/lib/postgresql/data" in services(compose)["postgres"]["volumes"]


@pytest.mark.parametrize("name", sorted(APP_SERVICES | {"migrate"}))
def test_each_app_service_builds_its_own_image_with_only_its_packages(
    compose: dict[str, Any], name: str
) -> None:
    service = services(compose)[name]
    build = service["build"]
    target_service = build["args"]["SERVICE"]
    assert target_service == ("booking-core" if name == "migrate" else name)
    assert (ROOT / "requirements" / f"{target_service}.lock").is_file()
    # booking-core's and the gateway's images add files to the runtime stage.
    own_stage = target_service in ("booking-core", "gateway")
    assert build["target"] == (target_service if own_stage else "runtime")
    assert service["image"] == f"bookings/{target_service}:dev"
    # PACKAGES: exactly our libraries the service depends on, then the service.
    pyproject = (ROOT / "services" / target_service / "pyproject.toml").read_text()
    needed = [path for dist, path in OUR_PACKAGES.items() if f'"{dist}"' in pyproject]
    assert build["args"]["PACKAGES"].split() == [*needed, f"services/{target_service}"]


def test_ports_follow_the_contract_and_scaled_services_get_a_range(
    compose: dict[str, Any],
) -> None:
    for name, port in CONTRACT_PORTS.items():
        published = services(compose)[name]["ports"]
        assert len(published) == 1
        host, _, container = published[0].rpartition(":")
        assert int(container) == port
        if name == "notifier":  # --scale needs one host port per replica
            low, high = (int(p) for p in host.split("-"))
            assert low == port and high > low
        else:
            assert int(host) == port
    assert "ports" not in services(compose)["reminder-worker"]
    assert "ports" not in services(compose)["mail-worker"]
    assert "ports" not in services(compose)["payment-service"]
    for name in ("notifier", "reminder-worker", "mail-worker", "payment-service"):
        assert "container_name" not in services(compose)[name]


def test_health_checks_and_start_order(compose: dict[str, Any]) -> None:
    for name in ("postgres", "redis", *APP_SERVICES):
        check = services(compose)[name]["healthcheck"]["test"]
        assert check[0] in ("CMD", "CMD-SHELL")
    core_check = services(compose)["booking-core"]["healthcheck"]["test"]
    assert core_check[-1] == "grpc://127.0.0.1:50051"
    for name, port in (("gateway", 8080), ("notifier", 8090)):
        assert services(compose)[name]["healthcheck"]["test"][-1].startswith(
            f"http://127.0.0.1:{port}/"
        )

    def depends(name: str) -> dict[str, str]:
        return {k: v["condition"] for k, v in services(compose)[name]["depends_on"].items()}

    assert depends("migrate") == {"postgres": "service_healthy"}
    assert depends("booking-core") == {
        "migrate": "service_completed_successfully",
        "redis": "service_healthy",
    }
    assert depends("gateway") == {"booking-core": "service_healthy"}
    for name in ("notifier", "reminder-worker"):
        assert depends(name) == {"booking-core": "service_healthy", "redis": "service_healthy"}
    assert depends("payment-service") == {"redis": "service_healthy"}
    assert depends("mail-worker") == {
        "booking-core": "service_healthy",
        "redis": "service_healthy",
        "mailpit": "service_healthy",
    }
    assert services(compose)["migrate"]["restart"] == "no"


def test_settings_come_from_env_and_every_name_is_documented(
    compose: dict[str, Any], env_example_names: set[str]
) -> None:
    worker_only = {"dramatiq_prom_db"}  # set by the image's deployment, not a user setting
    for name in APP_SERVICES | {"migrate"}:
        service = services(compose)[name]
        assert service["env_file"] == [{"path": ".env", "required": False}]
        environment = service["environment"]
        assert environment["DATABASE_URL"].startswith("postgresql://")
        assert environment["REDIS_URL"].startswith("redis://redis:")
        assert environment["CORE_GRPC_TARGET"] == "booking-core:50051"
        undocumented = set(environment) - env_example_names - worker_only - {"PORT", "HOST"}
        assert not undocumented, f"{name}: {undocumented} missing from .env.example"
    assert services(compose)["gateway"]["environment"]["PORT"] == "8080"
    assert services(compose)["notifier"]["environment"]["PORT"] == "8090"


def test_the_commands_are_the_services_entry_points(compose: dict[str, Any]) -> None:
    for name in ("booking-core", "gateway", "notifier"):
        (command,) = services(compose)[name]["command"]
        scripts = (ROOT / "services" / name / "pyproject.toml").read_text()
        assert f"\n{command} = " in scripts
    worker = services(compose)["reminder-worker"]["command"]
    assert worker[:2] == ["dramatiq", "reminder_worker.broker"]
    assert worker[worker.index("--queues") + 1] == "reminders"
    mail = services(compose)["mail-worker"]["command"]
    assert mail[:2] == ["dramatiq", "mail_worker.broker"]
    assert mail[mail.index("--queues") + 1] == "mail"
    assert services(compose)["mail-worker"]["environment"]["SMTP_HOST"] == "mailpit"
    payments = services(compose)["payment-service"]["command"]
    assert payments[:2] == ["dramatiq", "payment_service.broker"]
    assert payments[payments.index("--queues") + 1] == "payments"
    assert "alembic upgrade head" in services(compose)["migrate"]["command"][-1]


def test_the_dockerfile_is_multi_stage_hashed_and_non_root() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM \S+ AS (\S+)", dockerfile, re.MULTILINE)
    assert stages == ["build", "runtime", "booking-core", "web", "gateway"]
    web = dockerfile.split("AS web", 1)[1].split("FROM", 1)[0]
    assert "npm ci" in web and "COPY web/package.json web/package-lock.json" in web
    gateway = dockerfile.split("AS gateway", 1)[1]
    assert "COPY --from=web" in gateway and "ENV WEB_DIST_DIR=/app/web" in gateway
    assert "--require-hashes -r requirements/${SERVICE}.lock" in dockerfile
    runtime = dockerfile.split("AS runtime", 1)[1]
    assert re.search(r"^USER app$", runtime, re.MULTILINE)
    assert "useradd --system" in runtime
    assert "COPY --from=build /venv /venv" in runtime
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", ".env"} <= set(ignored)


def compose_available() -> bool:
    if shutil.which("docker") is None:
        return False
    version = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
    return version.returncode == 0


@pytest.mark.skipif(not compose_available(), reason="no docker compose binary")
def test_the_compose_file_is_valid() -> None:
    result = subprocess.run(
        ["docker", "compose", "-f", str(ROOT / "docker-compose.yml"), "config", "--quiet"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
