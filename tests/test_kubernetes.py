"""The optional Kubernetes manifests: present only when asked for, and schema-valid.

`kubernetes-validate --strict` checks every manifest against the pinned Kubernetes
version's schemas, offline; unknown fields fail, and so does a kind without a
schema (its warning is treated as a failure).
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support import BIN, ENV_PREFIX, VARIANTS, bake

KUBERNETES_VERSION = "1.35.0"
MANIFESTS = [
    "configmap.yaml",
    "deployment.yaml",
    "hpa.yaml",
    "pdb.yaml",
    "secret.example.yaml",
    "service.yaml",
]


def validate(*paths: Path) -> subprocess.CompletedProcess[str]:
    """Run kubernetes-validate --strict on `paths` against the pinned version."""
    return subprocess.run(
        [str(BIN / "kubernetes-validate"), "--strict", "-k", KUBERNETES_VERSION, *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def assert_valid(done: subprocess.CompletedProcess[str]) -> None:
    """Fail on a non-zero exit and on any warning (e.g. a missing schema)."""
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "WARN" not in output.upper(), output


@pytest.fixture(scope="module")
def k8s(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Bake the default variant with manifests; return its k8s/ folder."""
    return bake(tmp_path_factory.mktemp("k8s"), kubernetes="yes") / "k8s"


def test_manifests_absent_by_default(tmp_path: Path) -> None:
    """The default answer "no" leaves no k8s/ folder behind."""
    assert not (bake(tmp_path) / "k8s").exists()


def test_manifests_present_when_asked(k8s: Path) -> None:
    """With kubernetes=yes every manifest and the kustomization are there."""
    assert sorted(p.name for p in k8s.iterdir()) == sorted([*MANIFESTS, "kustomization.yaml"])
    kustomization = yaml.safe_load((k8s / "kustomization.yaml").read_text())
    # The Secret is an example: it is created from a secret store, not applied from git.
    assert sorted(kustomization["resources"]) == sorted(set(MANIFESTS) - {"secret.example.yaml"})


@pytest.mark.parametrize("manifest", MANIFESTS)
def test_manifest_validates_strictly(k8s: Path, manifest: str) -> None:
    """Each manifest is valid for the pinned Kubernetes version, unknown fields rejected."""
    assert_valid(validate(k8s / manifest))


def test_deployment_wires_probes_security_and_tmpfs(k8s: Path) -> None:
    """Probes hit the health endpoints; non-root, read-only root, tmpfs for metrics."""
    deployment = yaml.safe_load((k8s / "deployment.yaml").read_text())
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert container["resources"]["requests"] and container["resources"]["limits"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    metrics_dir = {e["name"]: e["value"] for e in container["env"]}["PROMETHEUS_MULTIPROC_DIR"]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    mount = next(path for path in mounts if metrics_dir.startswith(path))
    volume = next(v for v in pod["volumes"] if v["name"] == mounts[mount])
    assert "emptyDir" in volume
    secret = yaml.safe_load((k8s / "secret.example.yaml").read_text())
    assert f"{ENV_PREFIX}MONGO_URI" in secret["stringData"]


def test_deployment_runs_the_migrations_before_the_app_starts(k8s: Path) -> None:
    """An init container of the app's image, settings and lock-down runs `migrations upgrade`."""
    pod = yaml.safe_load((k8s / "deployment.yaml").read_text())["spec"]["template"]["spec"]
    (migrate,) = pod["initContainers"]
    (app,) = pod["containers"]
    assert migrate["command"] == ["python", "-m", "item_service.core.migrations", "upgrade"]
    assert migrate["image"] == app["image"]
    assert migrate["envFrom"] == app["envFrom"]
    assert migrate["securityContext"] == app["securityContext"]
    assert migrate["resources"]["limits"]


def test_invalid_manifest_fails(k8s: Path, tmp_path: Path) -> None:
    """A misspelt field and a kind without a schema both fail validation."""
    broken = tmp_path / "deployment.yaml"
    broken.write_text((k8s / "deployment.yaml").read_text().replace("replicas:", "replica:"))
    assert validate(broken).returncode != 0
    unknown = tmp_path / "widget.yaml"
    unknown.write_text("apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n")
    with pytest.raises(AssertionError):
        assert_valid(validate(unknown))


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_kubernetes_answer_is_independent_of_variant(tmp_path: Path, variant: str) -> None:
    """Every framework gets the same manifests."""
    project = bake(tmp_path, kubernetes="yes", **VARIANTS[variant])
    assert_valid(validate(*(project / "k8s" / name for name in MANIFESTS)))


@pytest.mark.parametrize("mode", ["api_key", "jwt"])
def test_manifests_and_operations_guide_carry_the_access_settings(
    tmp_path: Path, mode: str
) -> None:
    """An api_key bake's Secret holds example keys; a jwt bake's ConfigMap its issuer.

    Every access setting the bake reads is named in docs/operations.md.
    """
    project = bake(tmp_path, kubernetes="yes", auth=mode)
    k8s = project / "k8s"
    assert_valid(validate(*(k8s / name for name in MANIFESTS)))
    secret = yaml.safe_load((k8s / "secret.example.yaml").read_text())["stringData"]
    config = yaml.safe_load((k8s / "configmap.yaml").read_text())["data"]
    if mode == "api_key":
        (key,) = json.loads(secret[f"{ENV_PREFIX}AUTH_API_KEYS"])
        assert len(key["key"]) >= 32
        assert key["scopes"] == ["items:read"]
    else:
        assert {f"{ENV_PREFIX}AUTH_JWT_ISSUER", f"{ENV_PREFIX}AUTH_JWT_AUDIENCE"} <= set(config)
        assert not [name for name in secret if "AUTH_" in name]  # nothing of jwt is secret
    access = (project / "src" / "item_service" / "core" / "access.py").read_text()
    settings = re.findall(r"^    auth_(\w+):", access, flags=re.MULTILINE)
    assert settings
    operations = (project / "docs" / "operations.md").read_text()
    missing = [name for name in settings if f"AUTH_{name.upper()}" not in operations]
    assert not missing
