"""The container images and compose file (deploy/) describe the stack `touchpoint run --scaled`
starts: the same processes with the same commands, settings, endpoints, nginx configuration and
start order. Built from bot/processes.py's own specs, so a change there that the containers miss
fails here.

No container engine runs here: no image is built and no container started. What is checked is
what can be without one: the files parse, agree with the scaled stack and with each other, every
file the images copy exists, nginx accepts the configuration, Rasa reads the endpoints, and
`docker compose config` accepts the compose file where the compose plugin is installed.
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

import httpx
import pytest
import yaml

from bot import processes
from bot.cli import build_parser
from bot.processes import (
    ProcessSpec,
    Scale,
    actions_spec,
    app_spec,
    nginx_config,
    nginx_spec,
    rasa_spec,
    render_endpoints,
    settings_env,
)
from bot.settings import PROJECT_ROOT, Settings, documented_variables, load_settings

DEPLOY = PROJECT_ROOT / "deploy"
CONTAINER_ROOT = "/app"  # the project root in both images; the build folder is its default, /app/build
APP_IMAGE = "touchpoint-app"
KINDS = ("rasa", "actions", "app")  # the balanced processes, as compose names their instances: app-1, app-2, ...
# What deploy/.env sets, for compose's ${NAME:?...}.
SAMPLE_VARIABLES = {"POSTGRES_PASSWORD": "sample-password", "TOUCHPOINT_SECRET_KEY": "k" * 40}
# Variables the processes get that are not Touchpoint settings, and who reads them.
THIRD_PARTY = {
    "FORWARDED_ALLOW_IPS": "uvicorn: whose X-Forwarded-For to trust (nginx is another container)",
    "POSTGRES_PASSWORD": "Rasa: expands ${POSTGRES_PASSWORD} in deploy/endpoints.yml",
}


# --- reading the files --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yml").read_text(encoding="utf-8"))


def interpolate(value: str) -> str:
    """Compose's ${NAME}, ${NAME:?error} and ${NAME:-default}, from SAMPLE_VARIABLES."""
    return re.sub(r"\$\{(\w+)(?::[?-][^}]*)?\}", lambda match: SAMPLE_VARIABLES[match.group(1)], value)


def environment(compose: dict, service: str) -> dict[str, str]:
    """The service's variables as compose sets them (a name without a value is passed on only
    when set where compose runs: here, it is not)."""
    variables = compose["services"][service].get("environment") or {}
    return {name: interpolate(str(value)) for name, value in variables.items() if value is not None}


def instances(compose: dict, kind: str) -> list[str]:
    return sorted(name for name in compose["services"] if re.fullmatch(rf"{kind}-\d+", name))


def compose_scale(compose: dict) -> Scale:
    return Scale(*(len(instances(compose, kind)) for kind in ("app", "rasa", "actions")))


def app_image_services(compose: dict) -> list[str]:
    return sorted(name for name, service in compose["services"].items() if service.get("image") == APP_IMAGE)


def instructions(dockerfile: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of every stage, continuation lines joined, comments dropped."""
    logical, current = [], ""
    for line in (DEPLOY / dockerfile).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in logical]


def final_stage(dockerfile: str) -> list[tuple[str, str]]:
    """The instructions from the last FROM on: the image that runs."""
    every = instructions(dockerfile)
    return every[max(i for i, (instruction, _) in enumerate(every) if instruction == "FROM") :]


def image_command(dockerfile: str) -> list[str]:
    return json.loads(next(args for instruction, args in final_stage(dockerfile) if instruction == "CMD"))


def image_healthcheck(dockerfile: str) -> list[str]:
    args = next(args for instruction, args in final_stage(dockerfile) if instruction == "HEALTHCHECK")
    return json.loads(args.split("CMD", 1)[1])


def image_environment(dockerfile: str) -> dict[str, str]:
    variables = {}
    for instruction, args in final_stage(dockerfile):
        if instruction == "ENV":
            variables.update(token.split("=", 1) for token in shlex.split(args))
    return variables


NGINX_TOKENS = re.compile(r"'[^']*'|[{};]|[^\s{};']+")


def nginx_directives(text: str) -> list[tuple[str, tuple[str, ...], list | None]]:
    """nginx.conf as (name, arguments, block or None), comments dropped."""
    tokens = NGINX_TOKENS.findall(re.sub(r"#[^\n]*", "", text))

    def block(position: int) -> tuple[list, int]:
        directives, words = [], []
        while position < len(tokens):
            token, position = tokens[position], position + 1
            if token == ";":
                directives.append((words[0], tuple(words[1:]), None))
                words = []
            elif token == "{":
                children, position = block(position)
                directives.append((words[0], tuple(words[1:]), children))
                words = []
            elif token == "}":
                return directives, position
            else:
                words.append(token)
        return directives, position

    return block(0)[0]


# --- the scaled stack for the compose services' settings ----------------------------------------


@pytest.fixture
def settings(compose, tmp_path) -> Settings:
    """What the app containers load, with a build folder here standing in for /app/build (and in
    it the stub Rasa and model that rasa_spec looks for)."""
    settings = load_settings(environment(compose, "app-1")).with_overrides(build_dir=tmp_path / "build")
    for stub in (settings.rasa_executable, settings.model_path):
        stub.parent.mkdir(parents=True, exist_ok=True)
        stub.touch()
    return settings


def scaled_stack_spec(kind: str, name: str, settings: Settings) -> ProcessSpec:
    """The process `touchpoint run --scaled` starts for this instance. Each container has a network
    of its own, so every instance listens on the public port (on one machine the scaled stack gives
    instance n the port public + n)."""
    run_dir = settings.build_dir / "run"
    if kind == "rasa":
        return rasa_spec(settings, run_dir, name)
    if kind == "actions":
        return actions_spec(settings, settings_env(settings), run_dir, name)
    return app_spec(settings, settings_env(settings), run_dir, name)


def in_container(value: str, settings: Settings) -> str:
    return value.replace(str(settings.build_dir), f"{CONTAINER_ROOT}/build").replace(str(PROJECT_ROOT), CONTAINER_ROOT)


def as_the_containers_run_it(kind: str, argv: list[str], settings: Settings) -> list[str]:
    """The scaled stack's argv in the images: python and rasa on PATH, the project at /app. What
    differs on purpose: a container's processes listen on every interface, not 127.0.0.1, and
    Rasa's endpoints are deploy/endpoints.yml, not rendered at start (compared below)."""
    executables = {sys.executable: "python", str(settings.rasa_executable): "rasa"}
    argv = [executables.get(arg) or in_container(arg, settings) for arg in argv]
    if kind == "rasa":
        argv[argv.index("--interface") + 1] = "0.0.0.0"
        argv[argv.index("--endpoints") + 1] = f"{CONTAINER_ROOT}/endpoints.yml"
    if kind == "actions":
        argv += ["--host", "0.0.0.0"]
    return argv


def probed_url(command: list[str]) -> str:
    return re.search(r"https?://[^'\"\s]+", " ".join(command)).group()


# --- topology -----------------------------------------------------------------------------------


def test_compose_runs_as_many_of_each_process_as_touchpoint_run_scaled(compose):
    args = build_parser().parse_args(["run", "--scaled"])
    assert compose_scale(compose) == Scale(args.apps, args.rasa, args.actions)
    images = {name: compose["services"][name].get("image") for name in ("nginx", "postgres", "redis")}
    assert images == {"nginx": "nginx:1.22", "postgres": "postgres:15", "redis": "redis:7"}


def test_only_nginx_publishes_a_port_the_apps_public_one(compose, settings):
    published = {name: service["ports"] for name, service in compose["services"].items() if service.get("ports")}
    assert published == {"nginx": [f"{settings.app_port}:{settings.app_port}"]}
    assert not any("expose" in service for service in compose["services"].values())


def test_the_apps_reach_rasa_and_the_action_servers_through_nginx_and_so_does_rasa(settings):
    assert (settings.rasa_url, settings.actions_url) == ("http://nginx:5005", "http://nginx:5055")
    endpoints = yaml.safe_load((DEPLOY / "endpoints.yml").read_text(encoding="utf-8"))
    assert endpoints["action_endpoint"]["url"] == settings.actions_url + "/webhook"


# --- commands -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_each_container_runs_the_command_the_scaled_stack_runs_for_its_process(kind, compose, settings):
    for name in instances(compose, kind):
        spec = scaled_stack_spec(kind, name, settings)
        assert compose["services"][name]["command"] == as_the_containers_run_it(kind, spec.argv, settings), name


def test_each_image_runs_by_default_what_compose_runs_and_the_others_of_the_app_image_say_what_they_run(compose):
    services = compose["services"]
    assert {tuple(services[name]["command"]) for name in instances(compose, "app")} == {
        tuple(image_command("app.Dockerfile"))
    }
    assert {tuple(services[name]["command"]) for name in instances(compose, "rasa")} == {
        tuple(image_command("rasa.Dockerfile"))
    }
    # The action servers and the one-off init share the app image with another command, given.
    assert set(app_image_services(compose)) == {*instances(compose, "app"), *instances(compose, "actions"), "init"}
    for name in app_image_services(compose):
        assert services[name]["build"]["dockerfile"] == "deploy/app.Dockerfile" and services[name]["command"], name
    assert services["init"]["command"] == ["touchpoint", "index"]  # as `make run-scaled` runs `make index` first


def test_the_rasa_image_trains_the_model_it_serves_as_make_train_trains_it():
    makefile = (PROJECT_ROOT / "Makefile").read_text(encoding="utf-8").replace("\\\n", " ")
    make_train = shlex.split(re.search(r"\$\(RASA\) train (.*)", makefile).group(1).replace("$(BUILD)", "build"))
    run = next(args for instruction, args in final_stage("rasa.Dockerfile") if "rasa train" in args)
    image_train = shlex.split(run.split("rasa train", 1)[1])
    assert image_train == make_train
    out, name = image_train[image_train.index("--out") + 1], image_train[image_train.index("--fixed-model-name") + 1]
    command = image_command("rasa.Dockerfile")
    assert command[command.index("--model") + 1] == f"{CONTAINER_ROOT}/{out}/{name}.tar.gz"


def test_the_rasa_image_takes_its_domain_from_the_app_image_compose_builds_first(compose):
    base = instructions("rasa.Dockerfile")[0][1].split()[0]  # FROM touchpoint-app AS domain
    for name in instances(compose, "rasa"):
        context = compose["services"][name]["build"]["additional_contexts"][base]
        assert context.startswith("service:") and compose["services"][context.removeprefix("service:")]["image"] == base


# --- settings and environment -------------------------------------------------------------------


def test_every_variable_the_processes_get_is_a_setting_or_one_a_library_reads(compose):
    allowed = set(documented_variables()) | set(THIRD_PARTY)
    for name in [*app_image_services(compose), *instances(compose, "rasa")]:
        variables = set(compose["services"][name].get("environment") or {})
        assert variables - allowed == set(), name


def test_every_process_of_the_app_image_gets_the_same_settings_and_every_app_one_secret_key(compose):
    def settings_of(name: str) -> dict[str, str]:
        return {k: v for k, v in environment(compose, name).items() if k not in THIRD_PARTY}

    services = app_image_services(compose)
    assert all(settings_of(name) == settings_of(services[0]) for name in services)
    assert settings_of(services[0])["TOUCHPOINT_SECRET_KEY"] == SAMPLE_VARIABLES["TOUCHPOINT_SECRET_KEY"]
    for name in services:
        load_settings(environment(compose, name))  # valid: no ConfigError
    # nginx reaches the apps from its own address, not 127.0.0.1: without this, every client would
    # share nginx's address in the per-address rate limit and sign-in lock-out.
    assert all(environment(compose, name)["FORWARDED_ALLOW_IPS"] == "*" for name in instances(compose, "app"))


@pytest.mark.parametrize(("dockerfile", "kind"), [("app.Dockerfile", "actions"), ("rasa.Dockerfile", "rasa")])
def test_each_image_gives_its_processes_the_environment_touchpoint_run_gives_them(
    dockerfile, kind, settings, monkeypatch
):
    for variable in list(os.environ):  # what the scaled stack adds, not what this test inherits
        monkeypatch.delenv(variable)
    spec = scaled_stack_spec(kind, kind, settings)
    settings_variables = set(documented_variables())  # compose sets those, per service
    expected = {k: in_container(v, settings) for k, v in spec.env.items() if k not in settings_variables}
    image = image_environment(dockerfile)
    assert {k: image.get(k) for k in expected} == expected


@pytest.mark.parametrize("dockerfile", ["app.Dockerfile", "rasa.Dockerfile"])
def test_the_images_run_as_an_unprivileged_user(dockerfile):
    users = [args for instruction, args in final_stage(dockerfile) if instruction == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")


# --- Rasa's endpoints ---------------------------------------------------------------------------


def expand_like_rasa(value, variables: dict[str, str]):
    """Rasa fills in ${NAME} from its environment when it reads an (unquoted) endpoint value."""
    if isinstance(value, dict):
        return {key: expand_like_rasa(item, variables) for key, item in value.items()}
    if isinstance(value, str):
        return re.sub(r"\$\{(\w+)\}", lambda match: variables[match.group(1)], value)
    return value


def test_rasas_endpoints_are_what_the_scaled_stack_renders_for_these_settings(compose, settings, tmp_path):
    rendered = yaml.safe_load(render_endpoints(settings, tmp_path / "run").read_text(encoding="utf-8"))
    ours = yaml.safe_load((DEPLOY / "endpoints.yml").read_text(encoding="utf-8"))
    for name in instances(compose, "rasa"):
        assert expand_like_rasa(ours, environment(compose, name)) == rendered, name
    assert set(rendered) == {"action_endpoint", "tracker_store", "lock_store"}


READ_ENDPOINTS = """
import json, sys
from rasa.utils.endpoints import read_endpoint_config
read = {}
for kind in ("action_endpoint", "tracker_store", "lock_store"):
    config = read_endpoint_config(sys.argv[1], kind)
    read[kind] = {**({"type": config.type} if config.type else {}), "url": config.url, **config.kwargs}
print(json.dumps(read))
"""


def test_rasa_reads_the_endpoints_with_the_password_from_its_environment(compose, settings, tmp_path):
    python = PROJECT_ROOT / "build" / "rasa-env" / "bin" / "python"
    if not python.exists():
        pytest.skip("no Rasa environment at build/rasa-env: runs after `make setup` (as `make test` does)")
    password = environment(compose, "rasa-1")["POSTGRES_PASSWORD"]
    variables = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "POSTGRES_PASSWORD": password}
    result = subprocess.run(
        [str(python), "-W", "ignore", "-c", READ_ENDPOINTS, str(DEPLOY / "endpoints.yml")],
        env={**variables, "RASA_TELEMETRY_ENABLED": "false"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    read = json.loads(result.stdout)
    assert read == yaml.safe_load(render_endpoints(settings, tmp_path / "run").read_text(encoding="utf-8"))
    assert read["tracker_store"]["password"] == password


# --- nginx --------------------------------------------------------------------------------------


IMAGES_OWN = ("daemon", "pid")  # the nginx image runs it in the foreground, its pid file where it likes


def the_scaled_stacks_nginx(compose: dict, settings: Settings, run_dir: Path) -> list:
    """nginx_config()'s directives with the compose services as upstream servers (each on the
    public port), without what the nginx image provides: the foreground, pid file, temp folders."""
    public = {
        "app": settings.app_port,
        "rasa": httpx.URL(settings.rasa_url).port,
        "actions": httpx.URL(settings.actions_url).port,
    }

    def upstream(kind: str, block: list) -> list:
        addresses = iter(f"{name}:{public[kind]}" for name in instances(compose, kind))
        return [(name, (next(addresses), *args[1:]) if name == "server" else args, b) for name, args, b in block]

    def http(block: list) -> list:
        return [
            (name, args, upstream(args[0], b) if name == "upstream" else b)
            for name, args, b in block
            if name not in ("client_body_temp_path", "proxy_temp_path")
        ]

    directives = nginx_directives(nginx_config(settings, compose_scale(compose), run_dir))
    return [(name, args, http(b) if name == "http" else b) for name, args, b in directives if name not in IMAGES_OWN]


def test_nginx_is_configured_as_the_scaled_stack_with_compose_services_as_upstreams(compose, settings, tmp_path):
    ours = [d for d in nginx_directives((DEPLOY / "nginx.conf").read_text(encoding="utf-8")) if d[0] != "error_log"]
    assert ours == the_scaled_stacks_nginx(compose, settings, tmp_path)


def retry_policy(directives: list) -> dict[str, tuple[str, ...]]:
    """Each upstream: when nginx tries the next instance (proxy_next_upstream)."""
    http = next(block for name, _, block in directives if name == "http")
    policy = {}
    for server in (block for name, _, block in http if name == "server"):
        location = next(block for name, _, block in server if name == "location")
        proxying = {name: args for name, args, _ in location}
        policy[proxying["proxy_pass"][0].removeprefix("http://")] = proxying["proxy_next_upstream"]
    return policy


def test_nginx_retries_a_message_on_another_app_only_if_it_never_reached_the_first(compose, settings, tmp_path):
    ours = retry_policy(nginx_directives((DEPLOY / "nginx.conf").read_text(encoding="utf-8")))
    assert ours == {
        "app": ("error", "timeout"),
        "rasa": ("error", "timeout", "non_idempotent"),
        "actions": ("error", "timeout", "non_idempotent"),
    }
    assert ours == retry_policy(nginx_directives(nginx_config(settings, compose_scale(compose), tmp_path)))


def test_nginx_accepts_the_configuration(tmp_path):
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        pytest.skip("nginx is not installed: runs once `make test` or `make run-scaled` has installed Debian's")
    # Upstream names resolve only on the compose network; here, to this machine. The pid file and
    # temp folders, which the image provides, go here.
    text = re.sub(r"server [a-z]+-\d+:", "server 127.0.0.1:", (DEPLOY / "nginx.conf").read_text(encoding="utf-8"))
    temp = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    paths = "".join(f"    {kind}_temp_path {tmp_path / kind};\n" for kind in temp)
    text = f"pid {tmp_path / 'nginx.pid'};\n" + text.replace("http {\n", "http {\n" + paths, 1)
    (tmp_path / "nginx.conf").write_text(text, encoding="utf-8")
    result = subprocess.run(
        [nginx, "-t", "-q", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-e", str(tmp_path / "error.log")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr


# --- start order and health ---------------------------------------------------------------------


def depends_on(compose: dict, name: str) -> dict[str, str]:
    return {service: rule["condition"] for service, rule in compose["services"][name].get("depends_on", {}).items()}


def test_processes_start_in_the_order_the_scaled_stack_starts_them(compose):
    """Database prepared (`touchpoint index`), then Rasa and the action servers, then nginx and the
    apps. The scaled stack starts nginx before the apps, whose /healthz goes through it; compose
    starts the app containers first, since nginx resolves its upstream servers' names when it
    starts and Docker's DNS knows a container only once it runs. So nothing may wait for an app
    to be healthy: it would wait for nginx, which waits for it."""
    rasa, actions, apps = (instances(compose, kind) for kind in KINDS)
    assert depends_on(compose, "init") == {"postgres": "service_healthy"}
    for name in rasa:
        assert depends_on(compose, name) == {"postgres": "service_healthy", "redis": "service_healthy"}
    for name in actions:
        assert depends_on(compose, name) == {"init": "service_completed_successfully", "postgres": "service_healthy"}
    for name in apps:
        assert depends_on(compose, name) == {
            "init": "service_completed_successfully",
            "postgres": "service_healthy",
            "redis": "service_healthy",
            **{instance: "service_healthy" for instance in rasa + actions},
        }
    assert depends_on(compose, "nginx") == {
        **{app: "service_started" for app in apps},
        **{instance: "service_healthy" for instance in rasa + actions},
    }
    for name in compose["services"]:
        waits = depends_on(compose, name)
        assert all(waits[app] == "service_started" for app in apps if app in waits), name


def healthcheck(compose: dict, name: str) -> list[str] | None:
    service = compose["services"][name]
    if "healthcheck" in service:
        return None if service["healthcheck"].get("disable") else service["healthcheck"]["test"][1:]
    build = service.get("build")
    return image_healthcheck(Path(build["dockerfile"]).name) if build else None


def inside(url: str) -> str:
    """A ready URL as a container's health check asks it: from inside, at 127.0.0.1."""
    return re.sub(r"//[^/:]+:", "//127.0.0.1:", url)


def test_each_container_is_healthy_when_the_scaled_stack_would_call_its_process_ready(
    compose, settings, tmp_path, monkeypatch
):
    for kind in KINDS:
        for name in instances(compose, kind):
            ready = scaled_stack_spec(kind, name, settings).ready_url
            assert probed_url(healthcheck(compose, name)) == inside(ready), name
    stub = tmp_path / "nginx"  # nginx_spec looks for an installed nginx; any file will do
    stub.touch()
    monkeypatch.setattr(processes.shutil, "which", lambda name: str(stub))
    ready = nginx_spec(settings, compose_scale(compose), settings.build_dir / "run").ready_url
    assert probed_url(healthcheck(compose, "nginx")) == inside(ready)
    for name in compose["services"]:
        for dependency, condition in depends_on(compose, name).items():
            if condition == "service_healthy":
                assert healthcheck(compose, dependency), f"{name} waits for {dependency}, which has no health check"


# --- files --------------------------------------------------------------------------------------


@pytest.mark.parametrize("dockerfile", ["app.Dockerfile", "rasa.Dockerfile"])
def test_every_file_an_image_copies_is_in_the_repository(dockerfile):
    copied = [shlex.split(args) for instruction, args in instructions(dockerfile) if instruction == "COPY"]
    sources = [source for words in copied if not any(w.startswith("--from") for w in words) for source in words[:-1]]
    assert sources and [s for s in sources if not (PROJECT_ROOT / s).exists()] == []


def test_compose_builds_from_the_repository_root_and_mounts_files_that_exist(compose):
    for name, service in compose["services"].items():
        if "build" in service:
            context = (DEPLOY / service["build"]["context"]).resolve()
            assert context == PROJECT_ROOT and (context / service["build"]["dockerfile"]).is_file(), name
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).is_file(), f"{name} mounts {source}"
            else:
                assert source in compose["volumes"], f"{name} mounts the undeclared volume {source}"


def test_docker_compose_accepts_the_file():
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("no docker CLI on this machine: runs where Docker with its compose plugin is installed")
    if subprocess.run([docker, "compose", "version"], capture_output=True, timeout=30).returncode != 0:
        pytest.skip(
            "the docker CLI has no compose plugin: runs where `docker compose` is installed (it needs no daemon)"
        )
    result = subprocess.run(
        [docker, "compose", "-f", str(DEPLOY / "compose.yml"), "config", "--quiet"],
        env={**os.environ, **SAMPLE_VARIABLES},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
