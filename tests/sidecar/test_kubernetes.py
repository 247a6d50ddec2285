"""deploy/kubernetes.yaml (docs/kubernetes.md): its parts fit each other, the image and the code's settings.

No cluster runs where we test; what can be checked without one is checked here: the Service reaches the
pods, the probes reach /healthz on the port the server listens on, every variable is one paymock reads
with a value it accepts, and the Secret holds what all replicas must share."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from paymock.cli.main import build_parser
from paymock.settings import Settings

from . import dockerfile as dfl

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "deploy" / "kubernetes.yaml"


def manifests() -> dict[str, dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all(MANIFEST.read_text(encoding="utf-8")) if d]
    return {d["kind"]: d for d in docs}


def test_deployment_runs_two_replicas_of_the_image_command_with_the_shared_settings_from_a_secret() -> None:
    kinds = manifests()
    assert set(kinds) == {"Secret", "Deployment", "Service"}
    secret, deployment = kinds["Secret"], kinds["Deployment"]
    spec = deployment["spec"]
    assert spec["replicas"] == 2
    pod = spec["template"]["spec"]
    (container,) = pod["containers"]
    final = dfl.parse(ROOT / "Dockerfile").final
    assert container["command"] == final.last("CMD").exec_form()  # type: ignore[union-attr]
    uid = final.last("USER").value.split(":")[0]  # type: ignore[union-attr]
    assert str(pod["securityContext"]["runAsUser"]) == uid and pod["securityContext"]["runAsNonRoot"]

    assert container["envFrom"] == [{"secretRef": {"name": secret["metadata"]["name"]}}]
    shared = secret["stringData"]
    assert shared["PAYMOCK_STORE"].startswith("postgresql://")  # one store: the replicas are one provider
    assert "PAYMENT_WEBHOOK_SECRET" in shared  # one signing secret: receivers verify any replica's webhooks

    env = {e["name"]: e["value"] for e in container["env"]}
    port = int(env["PAYMOCK_PORT"])
    (http,) = [p for p in container["ports"] if p["name"] == "http"]
    assert http["containerPort"] == port and env["PAYMOCK_HOST"] == "0.0.0.0"
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "http"}
    # values paymock accepts, the Secret's store URL included
    assert Settings.from_env({**env, "PAYMOCK_STORE": shared["PAYMOCK_STORE"]}).store == shared["PAYMOCK_STORE"]
    args = build_parser().parse_args(["serve", "--workers", env["PAYMOCK_WORKERS"], "--port", env["PAYMOCK_PORT"]])
    assert args.workers == 1


def test_service_selects_the_pods_and_targets_their_port() -> None:
    kinds = manifests()
    deployment, service = kinds["Deployment"], kinds["Service"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"] == labels
    assert service["spec"]["selector"] == labels
    (port,) = service["spec"]["ports"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert port["targetPort"] in {p["name"] for p in container["ports"]}


def test_every_variable_it_sets_is_documented() -> None:
    text = MANIFEST.read_text(encoding="utf-8")
    named = set(re.findall(r"name: ([A-Z][A-Z0-9_]+)", text)) | set(manifests()["Secret"]["stringData"])
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.MULTILINE))
    assert named and named <= documented
