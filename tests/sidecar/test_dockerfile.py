"""The Docker image, rebuilt without Docker: every RUN step as written, then the CMD and HEALTHCHECK.

The image's filesystem is a temp dir (`/opt/paymock` -> <tmp>/opt/paymock, ...); `python` is this
interpreter (the stand-in for the base image's), and pip's configuration and cache come from this
machine (PIP_* variables, ~/.cache/pip), as a CI runner's would. The build argument PAYMOCK_EXTRAS
is empty by default here (the slim sidecar image; streamlit alone takes minutes to install): set
PAYMOCK_TEST_IMAGE_EXTRAS=console to rebuild the default image instead.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import yaml

from paymock.settings import Settings
from paymock.testing.process import free_port

from . import dockerfile as dfl

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = dfl.parse(ROOT / "Dockerfile")
IGNORE = dfl.ignore_rules(ROOT / ".dockerignore")


@dataclass
class Image:
    root: Path  # stands for the image's /
    venv: Path
    env: dict[str, str]  # the final stage's environment, mapped into root
    workdir: Path
    cmd: list[str]
    healthcheck: list[str]
    steps: list[tuple[str, float]] = field(default_factory=list)  # (RUN command, seconds)


def _map(root: Path, value: str) -> str:
    """An absolute image path moves under root; compound values (PATH) were already built from mapped parts."""
    return str(root / value.lstrip("/")) if value.startswith("/") and ":" not in value else value


def _base_env(root: Path) -> dict[str, str]:
    """What the base image provides: a python on PATH. Plus this machine's pip configuration and cache."""
    env = {k: v for k, v in os.environ.items() if k.startswith("PIP_")}
    env.update(
        PATH=f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        HOME=os.environ.get("HOME", str(root)),
        LANG="C.UTF-8",
    )
    return env


def build(root: Path, build_args: dict[str, str]) -> Image:
    context = root / "context"
    for rel in dfl.context_files(ROOT, IGNORE):
        (context / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, context / rel)
    args = {**DOCKERFILE.global_args, **build_args}
    steps: list[tuple[str, float]] = []
    shared: dict[str, Path] = {}  # image paths that stages share (COPY --from): one directory here
    env: dict[str, str] = {}
    workdir = root
    for stage in DOCKERFILE.stages:
        env, workdir, stage_args = _base_env(root), root, {}
        for inst in stage.instructions:
            scope = {**stage_args, **env}
            if inst.keyword == "ARG":
                key, _, default = inst.value.partition("=")
                stage_args[key] = args.get(key, default)
            elif inst.keyword == "ENV":
                for key, value in dfl.env_pairs(dfl.substitute(inst.value, scope)):
                    env[key] = _map(root, value)
            elif inst.keyword == "WORKDIR":
                workdir = Path(_map(root, dfl.substitute(inst.value, scope)))
                workdir.mkdir(parents=True, exist_ok=True)
            elif inst.keyword == "COPY":
                words = dfl.substitute(inst.value, scope).split()
                if words[0].startswith("--from="):
                    source, dest = words[1:]
                    assert source == dest, "the venv must keep its path: its scripts have it in their #! line"
                    shared[dest] = Path(_map(root, dest))
                    assert shared[dest].is_dir(), f"COPY {inst.value}: the build stage made no {source}"
                    continue
                *sources, dest = words
                target = workdir / dest if not dest.startswith("/") else Path(_map(root, dest))
                for source in sources:
                    src = context / source
                    assert src.exists(), f"line {inst.line}: {source} is not in the build context (.dockerignore?)"
                    into = target / src.name if dest.endswith("/") else target
                    if src.is_dir():
                        shutil.copytree(src, into, dirs_exist_ok=True)
                    else:
                        into.parent.mkdir(parents=True, exist_ok=True)
                        shutil.copy2(src, into)
            elif inst.keyword == "RUN":
                started = time.monotonic()
                # Docker's shell form: /bin/sh -c, with the stage's ARGs and ENV in the environment
                done = subprocess.run(
                    ["/bin/sh", "-c", inst.value],
                    cwd=workdir,
                    env={**stage_args, **env},
                    capture_output=True,
                    text=True,
                    timeout=900,
                )
                assert done.returncode == 0, f"RUN {inst.value} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
                steps.append((inst.value, time.monotonic() - started))
    final = DOCKERFILE.final
    cmd, health = final.last("CMD"), final.last("HEALTHCHECK")
    assert cmd is not None and health is not None
    return Image(root, Path(env["VIRTUAL_ENV"]), env, workdir, cmd.exec_form(), health.exec_form(), steps)


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Image:
    started = time.monotonic()
    extras = os.environ.get("PAYMOCK_TEST_IMAGE_EXTRAS", "")
    built = build(tmp_path_factory.mktemp("image"), {"PAYMOCK_EXTRAS": extras})
    steps = "; ".join(f"RUN {command} {seconds:.1f}s" for command, seconds in built.steps)
    print(f"\n[image] PAYMOCK_EXTRAS={extras!r} built in {time.monotonic() - started:.1f} s: {steps}")
    return built


def test_dockerfile_shape() -> None:
    assert len(DOCKERFILE.stages) >= 2, "multi-stage: build tools and pip caches stay in the build stage"
    assert all(stage.base == "python:3.11-slim" for stage in DOCKERFILE.stages)
    final = DOCKERFILE.final
    assert not final.all("RUN"), "the final stage only copies the venv; every RUN is in the build stage"
    assert [i.value.split()[0] for i in final.all("COPY")] == ["--from=build"]
    user = final.last("USER")
    assert user is not None and user.value not in ("root", "0", "0:0")
    health = final.last("HEALTHCHECK")
    assert health is not None and health.exec_form()[0] == "python" and "/healthz" in health.value
    exposed = {p for i in final.all("EXPOSE") for p in i.value.split()}
    assert {"9002", "8501", "8502"} <= exposed
    cmd = final.last("CMD")
    assert cmd is not None and cmd.exec_form()[:2] == ["paymock", "serve"]
    env = dict(pair for i in final.all("ENV") for pair in dfl.env_pairs(i.value))
    assert env["PAYMOCK_HOST"] == "0.0.0.0" and env["PAYMOCK_PORT"] == "9002"  # the default command's address
    args = [i.value for s in DOCKERFILE.stages for i in s.all("ARG")]
    assert "PAYMOCK_EXTRAS=console" in args  # the default image has the console (`paymock console`, `all`)


def test_build_context_holds_what_copy_needs_and_nothing_else() -> None:
    files = dfl.context_files(ROOT, IGNORE)
    assert "pyproject.toml" in files and "README.md" in files and "server/app.py" in files
    assert "fixtures/default.yaml" in files and "openapi/provider.yaml" in files
    assert not [f for f in files if f.startswith(("tests/", ".git/", "examples/", "bench/", ".env"))]
    assert not [f for f in files if "__pycache__" in f or f.endswith(".pyc")]


def test_image_installs_paymock_not_the_source_tree(image: Image) -> None:
    python = image.venv / "bin" / "python"
    where = subprocess.run(
        [str(python), "-c", "import paymock, paymock.openapi; print(paymock.__file__)"],
        cwd=image.workdir,
        env=image.env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert "site-packages" in where, where
    assert (image.venv / "bin" / "paymock").exists()


def test_image_cmd_serves_passes_healthcheck_and_stops_on_sigterm(image: Image) -> None:
    port = free_port()
    # like `docker run -e PAYMOCK_HOST=127.0.0.1 -e PAYMOCK_PORT=...`: the CMD as written, on loopback here
    env = {**image.env, "PAYMOCK_HOST": "127.0.0.1", "PAYMOCK_PORT": str(port), "PAYMENT_WEBHOOK_SECRET": "s"}
    executable = shutil.which(image.cmd[0], path=env["PATH"])
    assert executable == str(image.venv / "bin" / image.cmd[0]), "the CMD must resolve to the image's venv"
    started = time.monotonic()
    process = subprocess.Popen(image.cmd, cwd=image.workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        ready_after = _wait_healthy(f"http://127.0.0.1:{port}", process, started)
        print(f"\n[image] CMD {image.cmd} ready after {ready_after * 1000:.0f} ms")
        health = subprocess.run(image.healthcheck, cwd=image.workdir, env=env, capture_output=True, timeout=10)
        assert health.returncode == 0, health.stderr
        assert httpx.get(f"http://127.0.0.1:{port}/mock/v1/health").json()["status"] == "ok"
        stop_started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
        print(f"[image] stopped {(time.monotonic() - stop_started) * 1000:.0f} ms after SIGTERM, exit 0")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    unhealthy = subprocess.run(image.healthcheck, cwd=image.workdir, env=env, capture_output=True, timeout=10)
    assert unhealthy.returncode != 0, "the HEALTHCHECK must fail when nothing serves"


def _wait_healthy(base_url: str, process: subprocess.Popen[bytes], started: float, timeout: float = 20.0) -> float:
    while time.monotonic() - started < timeout:
        if process.poll() is not None:
            output = process.stdout.read().decode() if process.stdout else ""
            pytest.fail(f"the CMD exited with {process.returncode}:\n{output}")
        try:
            if httpx.get(base_url + "/healthz", timeout=0.5).status_code == 200:
                return time.monotonic() - started
        except httpx.HTTPError:
            time.sleep(0.01)
    pytest.fail(f"not healthy after {timeout} s")


def test_compose_runs_server_and_console_from_the_image() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    server, console = compose["services"]["server"], compose["services"]["console"]
    assert server["command"] == DOCKERFILE.final.last("CMD").exec_form()  # type: ignore[union-attr]
    assert "9002:9002" in server["ports"]
    assert console["command"][:2] == ["paymock", "console"]
    assert "8502:8501" in console["ports"]  # the seed's console URL, localhost:8502
    assert console["depends_on"]["server"]["condition"] == "service_healthy"
    assert console["environment"]["PAYMOCK_API_URL"] == "http://server:9002"
    assert server["build"]["context"] == "." and server["image"] == console["image"]


def test_compose_shared_profile_runs_two_replicas_on_postgres_behind_a_load_balancer() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    services = compose["services"]
    assert "profiles" not in services["server"] and "profiles" not in services["console"]  # plain `up` unchanged
    postgres, replica, lb = services["postgres"], services["replica"], services["lb"]
    assert all(s["profiles"] == ["shared"] for s in (postgres, replica, lb))

    assert postgres["image"].split(":")[1].startswith("15")
    assert "pg_isready" in postgres["healthcheck"]["test"]
    pg_env = postgres["environment"]

    # the replicas: the same image and command as the single server, two of them, on that database
    assert replica["image"] == services["server"]["image"] and replica["build"] == services["server"]["build"]
    assert replica["command"] == DOCKERFILE.final.last("CMD").exec_form()  # type: ignore[union-attr]
    assert replica["deploy"]["replicas"] == 2
    assert replica["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "ports" not in replica  # reached through the load balancer only
    store = replica["environment"]["PAYMOCK_STORE"]
    password = pg_env["POSTGRES_PASSWORD"]
    expected = f"postgresql://{pg_env['POSTGRES_USER']}:{password}@postgres:5432/{pg_env['POSTGRES_DB']}"
    assert store == expected
    # as compose interpolates it with .env.example's (default) password: a store URL paymock accepts
    assert Settings.from_env({"PAYMOCK_STORE": store.replace("${PAYMOCK_DB_PASSWORD:-paymock}", "paymock")}).store
    assert replica["env_file"] == services["server"]["env_file"]  # one webhook secret and token for all

    # the load balancer: nginx, its config naming the replicas' service and port
    conf_mount = next(v for v in lb["volumes"] if v.endswith(":/etc/nginx/conf.d/default.conf:ro"))
    conf = (ROOT / conf_mount.split(":")[0]).read_text(encoding="utf-8")
    assert re.search(r"upstream paymock \{[^}]*\bserver replica:9002\b", conf)
    assert re.search(r"listen 9002;", conf) and "proxy_pass http://paymock;" in conf
    assert lb["ports"] == ["9003:9002"] and "9003:9002" not in services["server"]["ports"]
    assert lb["depends_on"]["replica"]["condition"] == "service_healthy"
    assert "paymock-postgres" in compose["volumes"]


def test_env_example_documents_every_variable_the_code_reads() -> None:
    read: set[str] = set()
    reader = r"(?:environ(?:\.get)?|env\.get|getenv|_float\(env,|_bool\(env,)"
    pattern = re.compile(reader + r'\s*[\[(]?\s*"([A-Z][A-Z0-9_]+)"')
    for folder in ("server", "console"):
        for path in (ROOT / folder).rglob("*.py"):
            read.update(pattern.findall(path.read_text(encoding="utf-8")))
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.MULTILINE))
    assert {"PAYMENT_WEBHOOK_SECRET", "SERVICE_AUTH_TOKEN", "LOG_LEVEL"} <= read
    assert read - documented == set()
