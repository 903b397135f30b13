"""deploy/kubernetes: rendered by kustomize (``kubectl kustomize``), validated offline
against the Kubernetes API schemas (kubernetes-validate, strict: no unknown fields),
and checked for what the README promises of every process."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from test_compose import APP_SERVICES

ROOT = Path(__file__).resolve().parents[2]
KUSTOMIZE = ROOT / "deploy" / "kubernetes"
KUBERNETES_VERSION = "1.31.0"  # the oldest minor version the manifests target
# The same processes as docker-compose.yml's (tests/unit/test_compose.py), the web
# app being the gateway's.
PROCESSES = APP_SERVICES
SERVERS = {"booking-core", "gateway", "notifier"}


def render(overlay: str) -> list[dict[str, Any]]:
    """``kustomize build`` of ``deploy/kubernetes/<overlay>``, as a list of objects."""
    kubectl, kustomize = shutil.which("kubectl"), shutil.which("kustomize")
    if kustomize is not None:
        command = [kustomize, "build", str(KUSTOMIZE / overlay)]
    elif kubectl is not None:
        command = [kubectl, "kustomize", str(KUSTOMIZE / overlay)]
    else:
        pytest.fail("needs kubectl (1.27+) or kustomize (v5) to render deploy/kubernetes")
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="module", params=["base", "overlays/dev"])
def manifests(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    return render(request.param)


def of_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def test_every_object_is_valid_for_the_kubernetes_api(manifests: list[dict[str, Any]]) -> None:
    for manifest in manifests:
        kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)


def test_a_broken_manifest_is_caught() -> None:
    deployment = of_kind(render("base"), "Deployment")["gateway"]
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"][
        "pathh"
    ] = "/ready"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_every_process_runs_as_a_hardened_deployment(manifests: list[dict[str, Any]]) -> None:
    deployments = of_kind(manifests, "Deployment")
    assert set(deployments) >= PROCESSES
    for name in PROCESSES:
        pod = deployments[name]["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["serviceAccountName"] == "bookings"
        assert pod["topologySpreadConstraints"], name
        for container in pod.get("initContainers", []) + pod["containers"]:
            resources = container["resources"]
            assert {"cpu", "memory"} <= set(resources["requests"]), name
            assert {"cpu", "memory"} <= set(resources["limits"]), name
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False, name
            assert security["readOnlyRootFilesystem"] is True, name
            assert security["capabilities"]["drop"] == ["ALL"], name
            sources = {next(iter(s.values()))["name"] for s in container["envFrom"]}
            assert sources == {"bookings-config", "bookings-secrets"}, name
        container = pod["containers"][0]
        assert "livenessProbe" in container, name
        if name in SERVERS:
            assert "readinessProbe" in container, name


def test_grace_periods_cover_the_pause_and_the_drain(manifests: list[dict[str, Any]]) -> None:
    config = of_kind(manifests, "ConfigMap")["bookings-config"]["data"]
    drain = float(config["SHUTDOWN_GRACE_SECONDS"])
    for name, deployment in of_kind(manifests, "Deployment").items():
        if name not in PROCESSES:
            continue
        pod = deployment["spec"]["template"]["spec"]
        container = pod["containers"][0]
        pause = 0.0
        if "lifecycle" in container:
            pause = float(container["lifecycle"]["preStop"]["exec"]["command"][-1])
        if name in SERVERS:
            assert pause > 0, f"{name}: the Service must drop the pod before it drains"
            needed = pause + drain
        else:  # dramatiq waits --worker-shutdown-timeout (ms) for running messages
            command = container["command"]
            needed = int(command[command.index("--worker-shutdown-timeout") + 1]) / 1000
        assert pod["terminationGracePeriodSeconds"] > needed, name


def test_booking_core_waits_for_the_migration_job(manifests: list[dict[str, Any]]) -> None:
    job = of_kind(manifests, "Job")["bookings-migrate"]
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == [
        "alembic",
        "upgrade",
        "head",
    ]
    core = of_kind(manifests, "Deployment")["booking-core"]["spec"]["template"]["spec"]
    (wait,) = core["initContainers"]
    assert "alembic current" in wait["command"][-1] and "(head)" in wait["command"][-1]
    probe = core["containers"][0]["readinessProbe"]
    assert probe["grpc"]["port"] == 50051  # the gRPC health service


def test_disruption_budgets_and_autoscalers(manifests: list[dict[str, Any]]) -> None:
    budgets = of_kind(manifests, "PodDisruptionBudget")
    assert set(budgets) == PROCESSES
    autoscalers = of_kind(manifests, "HorizontalPodAutoscaler")
    assert set(autoscalers) == {"booking-core", "gateway", "notifier"}
    for name in ("booking-core", "gateway"):
        (metric,) = autoscalers[name]["spec"]["metrics"]
        assert metric["resource"]["name"] == "cpu"
    (metric,) = autoscalers["notifier"]["spec"]["metrics"]
    assert metric["type"] == "Pods"
    assert metric["pods"]["metric"]["name"] == "notifier_connections"


def test_no_secret_values_are_committed(manifests: list[dict[str, Any]]) -> None:
    assert of_kind(manifests, "Secret") == {}
    secret_names = {"DATABASE_URL", "INTERNAL_TOKEN", "JWT_SECRET", "SMTP_PASSWORD"}
    for config in of_kind(manifests, "ConfigMap").values():
        assert not secret_names & set(config["data"])


def test_the_dev_overlay_uses_the_compose_images_and_one_replica() -> None:
    objects = render("overlays/dev")
    assert {o["metadata"].get("namespace") for o in objects} == {"bookings-dev"}
    deployments = of_kind(objects, "Deployment")
    assert {"postgres", "redis", "mailpit"} <= set(deployments)
    for name in PROCESSES:
        assert deployments[name]["spec"]["replicas"] == 1
        for container in deployments[name]["spec"]["template"]["spec"]["containers"]:
            assert container["image"] == f"bookings/{name}:dev"
