"""Deployment files, validated offline (no container engine or cluster runs here).

- Kubernetes manifests (deploy/k8s): every document against the Kubernetes JSON schemas that the
  ``kubernetes-validate`` package bundles, strict (unknown fields refused), for the oldest and newest versions we
  claim; then how the pieces fit (selectors, Services, the HPA's target, GPU scheduling, known settings).
- Compose files: Debian's ``docker-compose config`` (it validates against its bundled compose-spec schema and
  merges the GPU override without an engine), plus the same cross-checks.
- Dockerfiles: every instruction known, every COPY source present, the commands real CLI commands.
Building and running the images was not done here (no engine); docs/SERVICE.md says so.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from framesentry.config import Settings

REPO = Path(__file__).resolve().parent.parent
K8S = REPO / "deploy" / "k8s"
KUBERNETES_VERSIONS = ("1.30.0", "1.37.0")
SETTINGS = {f"FRAMESENTRY_{name.upper()}" for name in Settings.model_fields}
CLI_COMMANDS = {"serve", "worker", "engines"}


def k8s_documents() -> list[tuple[str, dict[str, Any]]]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        docs += [(path.name, d) for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def test_manifests_match_the_kubernetes_schemas() -> None:
    import kubernetes_validate

    docs = k8s_documents()
    kinds = {d["kind"] for _, d in docs}
    assert {"Deployment", "Service", "HorizontalPodAutoscaler", "ConfigMap"} <= kinds, kinds
    for version in KUBERNETES_VERSIONS:
        for name, doc in docs:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                pytest.fail(f"{name} {doc['kind']}/{doc['metadata']['name']} (k8s {version}): {exc.message}")


def test_the_validator_refuses_a_broken_manifest() -> None:
    """The schema check has teeth: a misspelt field and a wrong type are both refused."""
    import kubernetes_validate

    deployment = next(d for _, d in k8s_documents() if d["kind"] == "Deployment")
    bad = yaml.safe_load(yaml.safe_dump(deployment))
    bad["spec"]["replica"] = 2
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, KUBERNETES_VERSIONS[-1], strict=True)
    bad = yaml.safe_load(yaml.safe_dump(deployment))
    bad["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, KUBERNETES_VERSIONS[-1], strict=True)


def test_manifests_fit_together() -> None:
    docs = [d for _, d in k8s_documents()]
    deployments = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
    config = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "framesentry")
    assert set(config["data"]) <= SETTINGS, set(config["data"]) - SETTINGS
    for name, dep in deployments.items():
        template = dep["spec"]["template"]
        assert dep["spec"]["selector"]["matchLabels"].items() <= template["metadata"]["labels"].items(), name
        for container in template["spec"]["containers"]:
            env = {e["name"] for e in container.get("env", [])}
            assert env <= SETTINGS, (name, env - SETTINGS)
            if container["image"].startswith("framesentry:"):
                command = [a for a in container["args"] if a != "framesentry"]
                assert command[0] in CLI_COMMANDS, (name, container["args"])
    for svc in (d for d in docs if d["kind"] == "Service"):
        selected = [n for n, dep in deployments.items()
                    if svc["spec"]["selector"].items() <= dep["spec"]["template"]["metadata"]["labels"].items()]
        assert len(selected) == 1, (svc["metadata"]["name"], selected)
        ports = {p["name"] for c in deployments[selected[0]]["spec"]["template"]["spec"]["containers"]
                 for p in c.get("ports", [])}
        assert {p["targetPort"] for p in svc["spec"]["ports"]} <= ports, svc["metadata"]["name"]

    hpa = next(d for d in docs if d["kind"] == "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] in deployments
    assert hpa["spec"]["metrics"][0]["external"]["metric"]["name"] == "framesentry_queue_depth"
    for name in ("framesentry-worker", "framesentry-live"):  # the GPU pods: scheduled on GPU nodes, one each
        spec = deployments[name]["spec"]["template"]["spec"]
        assert spec["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
        assert spec["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 1
        assert spec["containers"][0]["image"] == "framesentry:cuda"


def _compose_config(*files: str) -> dict[str, Any]:
    binary = shutil.which("docker-compose")
    assert binary, "docker-compose is missing: scripts/setup.sh installs it (Debian package docker-compose)"
    args = [binary, "--project-directory", str(REPO)]
    for name in files:
        args += ["-f", str(REPO / name)]
    done = subprocess.run([*args, "config"], capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    config: dict[str, Any] = yaml.safe_load(done.stdout)
    return config


def test_compose_files_are_valid_and_the_gpu_override_reserves_gpus() -> None:
    base = _compose_config("docker-compose.yml")
    assert set(base["services"]) == {"api", "worker", "redis", "db"}
    assert base["services"]["db"]["image"].startswith("timescale/timescaledb:")
    for name in ("api", "worker"):
        env = base["services"][name]["environment"]
        assert set(env) <= SETTINGS, set(env) - SETTINGS
        assert env["FRAMESENTRY_BROKER_URL"].startswith("redis://redis:")
        assert "@db:5432/" in env["FRAMESENTRY_DATABASE_URL"]
    gpu = _compose_config("docker-compose.yml", "docker-compose.gpu.yml")
    for name in ("api", "worker"):  # the live server (the API) and the inference worker
        service = gpu["services"][name]
        devices = service["deploy"]["resources"]["reservations"]["devices"]
        assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]
        assert service["image"] == "framesentry:cuda" and service["command"][0] in CLI_COMMANDS
    assert "deploy" not in gpu["services"]["redis"]


def test_compose_validation_refuses_a_broken_file(tmp_path: Path) -> None:
    broken = tmp_path / "docker-compose.yml"
    broken.write_text("services:\n  api:\n    image: x\n    ports: 8000\n")
    done = subprocess.run(["docker-compose", "-f", str(broken), "config"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode != 0 and "ports" in done.stderr


INSTRUCTIONS = {"FROM", "ENV", "RUN", "WORKDIR", "COPY", "USER", "EXPOSE", "HEALTHCHECK", "CMD", "ENTRYPOINT",
                "ARG", "LABEL"}


def _instructions(path: Path) -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", path.read_text())
    out = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            word, _, rest = line.strip().partition(" ")
            out.append((word, rest.strip()))
    return out


@pytest.mark.parametrize("name", ["Dockerfile", "Dockerfile.cuda"])
def test_dockerfiles_are_well_formed(name: str) -> None:
    steps = _instructions(REPO / name)
    assert steps[0][0] == "FROM" and steps[0][1].startswith("python:3.11-")
    assert {word for word, _ in steps} <= INSTRUCTIONS
    for word, rest in steps:
        if word == "COPY":
            *sources, _dest = rest.split()
            for source in sources:
                assert (REPO / source).exists(), f"{name}: COPY {source} does not exist"
        if word == "RUN" and "torch==" in rest:
            assert "torch==2.14.1" in rest and "torchvision==0.29.1" in rest and "torchaudio==2.11.0" in rest
    cmd = next(rest for word, rest in steps if word == "CMD")
    args = [a for a in yaml.safe_load(cmd) if a != "framesentry"]
    assert args[0] in CLI_COMMANDS
    env = {m for word, rest in steps if word == "ENV" for m in re.findall(r"(FRAMESENTRY_\w+)=", rest)}
    assert env and env <= SETTINGS, env - SETTINGS
