"""Starting and stopping Touchpoint's three processes: Rasa server, action server and app.

Used by `touchpoint run` and by the end-to-end tests, so both start the stack the same way.
Every process gets a hermetic environment: caches, temp files and Rasa's user config live in
the build folder, and telemetry is off.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

import httpx
import yaml

from bot.settings import PROJECT_ROOT, Settings

# One message at a time gains little from several threads per model, and under load threads
# that spin-wait for each other (OpenMP's default) burn the CPU other requests need: on two
# cores this raised throughput from 11 to 16 messages a second (make bench).
SINGLE_THREADED = {
    "OMP_NUM_THREADS": "1",
    "OMP_WAIT_POLICY": "PASSIVE",
    "TF_INTRA_OP_PARALLELISM_THREADS": "1",  # read by Rasa
    "TF_INTER_OP_PARALLELISM_THREADS": "1",
}


class StartupError(RuntimeError):
    pass


def hermetic_env(settings: Settings, extra: dict[str, str] | None = None) -> dict[str, str]:
    build = settings.build_dir
    env = dict(os.environ)
    env.update(
        {
            "RASA_TELEMETRY_ENABLED": "false",
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "MPLCONFIGDIR": str(build / "cache" / "matplotlib"),
            "KERAS_HOME": str(build / "cache" / "keras"),
            "TMPDIR": str(build / "tmp"),  # jieba's dictionary cache inside Rasa lands here
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "RASA_CACHE_DIRECTORY": str(build / "cache" / "rasa"),
            "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
            "PYTHONUNBUFFERED": "1",
            "PTB_TIMEDELTA": "true",  # python-telegram-bot: time periods as timedelta (the v23 behaviour)
        }
    )
    for folder in ("cache/matplotlib", "cache/keras", "tmp", "rasa-home"):
        (build / folder).mkdir(parents=True, exist_ok=True)
    env.update(extra or {})
    return env


@dataclass
class ProcessSpec:
    name: str
    argv: list[str]
    env: dict[str, str]
    ready_url: str
    log_path: Path
    ready_timeout: float = 180.0


class ManagedProcess:
    def __init__(self, spec: ProcessSpec):
        self.spec = spec
        self._process: subprocess.Popen | None = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @property
    def exit_code(self) -> int | None:
        """How it ended (negative: the signal that killed it); None while it runs or before it starts."""
        return self._process.poll() if self._process else None

    def start(self) -> None:
        self.spec.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.spec.log_path, "ab") as log:
            self._process = subprocess.Popen(
                self.spec.argv,
                env=self.spec.env,
                cwd=PROJECT_ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C in the terminal reaches us, and we stop the children
            )

    def wait_ready(self) -> None:
        deadline = time.monotonic() + self.spec.ready_timeout
        while time.monotonic() < deadline:
            if not self.running:
                raise StartupError(f"{self.spec.name} exited during start-up; see {self.spec.log_path}")
            try:
                if httpx.get(self.spec.ready_url, timeout=2.0).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise StartupError(f"{self.spec.name} not ready after {self.spec.ready_timeout:g} s; see {self.spec.log_path}")

    def stop(self, timeout: float = 20.0) -> None:
        if not self.running:
            return
        os.killpg(self._process.pid, signal.SIGTERM)
        try:
            self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait()


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((host, port)) == 0


def _port(url: str) -> int:
    return httpx.URL(url).port


def render_endpoints(settings: Settings, run_dir: Path) -> Path:
    """bot/endpoints.yml with `${ACTION_SERVER_URL}` filled in (Rasa 3.6 does not expand it), and
    the shared tracker and lock stores when configured (TOUCHPOINT_RASA_TRACKER_URL,
    TOUCHPOINT_REDIS_URL): then every Rasa server sees every conversation's dialogue, and a
    restarted one carries on where it was."""
    template = (PROJECT_ROOT / "bot" / "endpoints.yml").read_text(encoding="utf-8")
    rendered = template.replace("${ACTION_SERVER_URL}", settings.actions_url.rstrip("/") + "/webhook")
    stores = {}
    if settings.rasa_tracker_url:
        stores["tracker_store"] = tracker_store(settings.rasa_tracker_url)
    if settings.redis_url:
        stores["lock_store"] = lock_store(settings.redis_url)
    if stores:
        rendered += "\n" + yaml.safe_dump(stores, sort_keys=False)
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / "endpoints.yml"
    path.write_text(rendered, encoding="utf-8")
    return path


def tracker_store(url: str) -> dict[str, object]:
    """Rasa's SQL tracker store for postgresql://user:password@host:port/database (Rasa makes the
    database, through the server's `postgres` database, if it does not exist)."""
    parts = urlsplit(url)
    return {
        "type": "SQL",
        "dialect": "postgresql",
        "url": parts.hostname or "127.0.0.1",
        "port": parts.port or 5432,
        "db": parts.path.lstrip("/") or "rasa",
        "username": unquote(parts.username or "postgres"),
        "password": unquote(parts.password or ""),
        "login_db": "postgres",
    }


def lock_store(url: str) -> dict[str, object]:
    """Rasa's Redis lock store for redis://[:password@]host:port/db: one Rasa server at a time per
    conversation, whichever the message reached."""
    parts = urlsplit(url)
    return {
        "type": "redis",
        "url": parts.hostname or "127.0.0.1",
        "port": parts.port or 6379,
        "db": int(parts.path.lstrip("/") or 0),
        "password": unquote(parts.password) if parts.password else None,
        "use_ssl": parts.scheme == "rediss",
        "key_prefix": "rasa",  # Rasa adds ":lock:"; the app's own keys start "touchpoint:"
    }


def rasa_spec(settings: Settings, run_dir: Path, name: str = "rasa", port: int | None = None) -> ProcessSpec:
    rasa = settings.rasa_executable
    if not rasa.exists():
        raise StartupError(f"Rasa is not installed at {rasa}; run `make setup`")
    if not settings.model_path.exists():
        raise StartupError(f"no trained Rasa model at {settings.model_path}; run `make train`")
    env = hermetic_env(settings, {"HOME": str(settings.build_dir / "rasa-home"), **SINGLE_THREADED})
    port = port or _port(settings.rasa_url)
    return ProcessSpec(
        name=name,
        argv=[
            str(rasa),
            "run",
            "--enable-api",
            "--model",
            str(settings.model_path),
            "--endpoints",
            str(render_endpoints(settings, run_dir)),
            "--credentials",
            str(PROJECT_ROOT / "bot" / "credentials.yml"),
            "--interface",
            "127.0.0.1",
            "--port",
            str(port),
        ],  # fmt: skip
        env=env,
        ready_url=f"http://127.0.0.1:{port}/status",
        log_path=run_dir / "logs" / f"{name}.log",
    )


def actions_spec(
    settings: Settings, env: dict[str, str], run_dir: Path, name: str = "actions", port: int | None = None
) -> ProcessSpec:
    port = port or _port(settings.actions_url)
    return ProcessSpec(
        name=name,
        argv=[sys.executable, "-m", "actions.server", "--port", str(port)],
        env=hermetic_env(settings, {**env, **SINGLE_THREADED}),
        ready_url=f"http://127.0.0.1:{port}/health",
        log_path=run_dir / "logs" / f"{name}.log",
    )


def app_spec(
    settings: Settings, env: dict[str, str], run_dir: Path, name: str = "app", port: int | None = None
) -> ProcessSpec:
    port = port or settings.app_port
    return ProcessSpec(
        name=name,
        argv=[sys.executable, "-m", "bot.cli", "serve", "--host", settings.host, "--port", str(port)],
        env=hermetic_env(settings, {**env, "TOUCHPOINT_PROCESSES_FILE": str(run_dir / "processes.json")}),
        ready_url=f"http://{settings.host}:{port}/healthz",
        log_path=run_dir / "logs" / f"{name}.log",
        ready_timeout=60.0,
    )


def nginx_spec(settings: Settings, scale: Scale, run_dir: Path) -> ProcessSpec:
    executable = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(executable).exists():
        raise StartupError("nginx is not installed; `make run-scaled` installs Debian's nginx")
    folder = run_dir / "nginx"
    for temp in ("client_body", "proxy"):
        (folder / temp).mkdir(parents=True, exist_ok=True)
    config = folder / "nginx.conf"
    config.write_text(nginx_config(settings, scale, run_dir), encoding="utf-8")
    (run_dir / "logs").mkdir(parents=True, exist_ok=True)
    error_log = run_dir / "logs" / "nginx-error.log"
    return ProcessSpec(
        name="nginx",
        argv=[executable, "-p", str(folder), "-c", str(config), "-e", str(error_log)],
        env=hermetic_env(settings),
        # Ready when it passes requests to Rasa (it starts before the apps, which need it to reach Rasa).
        ready_url=f"http://{settings.host}:{_port(settings.rasa_url)}/",
        log_path=run_dir / "logs" / "nginx.log",
        ready_timeout=30.0,
    )


@dataclass(frozen=True)
class Scale:
    """How many of each process; beyond one of any, nginx balances them on the configured ports
    (TOUCHPOINT_APP_PORT, the ports of TOUCHPOINT_RASA_URL and TOUCHPOINT_ACTIONS_URL) and the
    instances listen on the ports just above."""

    apps: int = 1
    rasa: int = 1
    actions: int = 1

    @property
    def balanced(self) -> bool:
        return max(self.apps, self.rasa, self.actions) > 1


def instance_ports(public: int, count: int) -> list[int]:
    return [public + n for n in range(1, count + 1)]


def nginx_config(settings: Settings, scale: Scale, run_dir: Path) -> str:
    """One nginx in front of each kind of process. A request that could not reach an instance
    (refused, timed out connecting) goes to the next. For Rasa and the action server, so does a
    request whose instance died while handling it (the shared tracker and lock stores make that
    safe); never for the app, where a message may already be stored: the client retries it."""
    folder = run_dir / "nginx"
    rasa_port, actions_port = _port(settings.rasa_url), _port(settings.actions_url)
    # The app's own limit answers with its JSON error; nginx only stops what is far beyond it.
    body = max(settings.max_body_bytes * 2, 1 << 20)

    def upstream(name: str, public: int, count: int) -> str:
        servers = "".join(
            f"        server 127.0.0.1:{port} max_fails=1 fail_timeout=2s;\n" for port in instance_ports(public, count)
        )
        return f"    upstream {name} {{\n{servers}        keepalive 64;\n    }}\n"

    def server(public: int, name: str, retry: str, read_timeout: float) -> str:
        return f"""    server {{
        listen {settings.host}:{public};
        location / {{
            proxy_pass http://{name};
            proxy_http_version 1.1;
            proxy_set_header Host $http_host;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_connect_timeout 2s;
            proxy_read_timeout {read_timeout:g}s;
            proxy_next_upstream {retry};
            proxy_next_upstream_tries 3;
        }}
    }}
"""

    return f"""# Written by `touchpoint run --scaled` (bot/processes.py); do not edit.
daemon off;
worker_processes 1;
pid {folder / "nginx.pid"};
events {{
    worker_connections 4096;
}}
http {{
    access_log off;
    client_body_temp_path {folder / "client_body"};
    proxy_temp_path {folder / "proxy"};
    client_max_body_size {body};
    # Bodies and replies stay in memory: nginx started as root runs its workers as another user,
    # who may not write in the build folder.
    client_body_buffer_size {body};
    proxy_max_temp_file_size 0;
    map $http_upgrade $connection_upgrade {{
        default upgrade;
        '' '';
    }}
{upstream("app", settings.app_port, scale.apps)}{upstream("rasa", rasa_port, scale.rasa)}\
{upstream("actions", actions_port, scale.actions)}
{server(settings.app_port, "app", "error timeout", 3600)}\
{server(rasa_port, "rasa", "error timeout non_idempotent", settings.rasa_timeout * 2)}\
{server(actions_port, "actions", "error timeout non_idempotent", 120)}}}
"""


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that gives a child process the same settings as this one."""
    return settings.environment()


def ensure_database(url: str) -> None:
    """A PostgreSQL database that does not exist yet is made (through the server's `postgres`
    database, as the user of `url`); SQLite makes its file by itself."""
    import asyncio

    import asyncpg

    parts = urlsplit(url)
    if not parts.scheme.startswith("postgresql"):
        return
    name = parts.path.lstrip("/")
    admin = urlunsplit(("postgresql", parts.netloc, "/postgres", parts.query, ""))

    async def create() -> None:
        connection = await asyncpg.connect(admin, timeout=10)
        try:
            if not await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
                await connection.execute(f'CREATE DATABASE "{name}"')
        except asyncpg.DuplicateDatabaseError:
            pass  # made meanwhile by another process
        finally:
            await connection.close()

    asyncio.run(create())


def prepare_database(settings: Settings) -> None:
    """The newest schema, and the demo knowledge base in a database that has no articles, before
    any process uses it."""
    import asyncio

    from bot.store import Store

    ensure_database(settings.database_url)

    async def prepare() -> None:
        store = Store.from_url(settings.database_url)
        try:
            await store.upgrade()
            await store.library.seed(settings.articles_dir)
        finally:
            await store.close()

    settings.build_dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(prepare())


class Stack:
    """Rasa, actions and app for one set of settings; start in dependency order, stop in reverse.
    With a `scale` beyond one of each, several of each behind nginx (`touchpoint run --scaled`)."""

    def __init__(self, settings: Settings, run_dir: Path | None = None, scale: Scale = Scale()):
        """`run_dir` holds the rendered endpoints and the logs (default: build/run)."""
        self.settings = settings
        self.scale = scale
        self.run_dir = run_dir or settings.build_dir / "run"
        env = settings_env(settings)
        if not scale.balanced:
            self.actions = [ManagedProcess(actions_spec(settings, env, self.run_dir))]
            self.rasa = [ManagedProcess(rasa_spec(settings, self.run_dir))]
            self.apps = [ManagedProcess(app_spec(settings, env, self.run_dir))]
            self.balancer = []
            return
        rasa_port, actions_port = _port(settings.rasa_url), _port(settings.actions_url)
        self.actions = [
            ManagedProcess(actions_spec(settings, env, self.run_dir, f"actions-{n}", port))
            for n, port in enumerate(instance_ports(actions_port, scale.actions), start=1)
        ]
        self.rasa = [
            ManagedProcess(rasa_spec(settings, self.run_dir, f"rasa-{n}", port))
            for n, port in enumerate(instance_ports(rasa_port, scale.rasa), start=1)
        ]
        self.apps = [
            ManagedProcess(app_spec(settings, env, self.run_dir, f"app-{n}", port))
            for n, port in enumerate(instance_ports(settings.app_port, scale.apps), start=1)
        ]
        self.balancer = [ManagedProcess(nginx_spec(settings, scale, self.run_dir))]

    @property
    def processes(self) -> list[ManagedProcess]:
        """In the order they start (and stop in reverse)."""
        return [*self.actions, *self.rasa, *self.balancer, *self.apps]

    def process(self, name: str) -> ManagedProcess:
        return next(process for process in self.processes if process.spec.name == name)

    def start(self) -> None:
        # Another stack on our ports would answer our readiness checks and hide our failure to bind.
        ports = {httpx.URL(p.spec.ready_url).port: p.spec.name for p in self.processes}
        if self.scale.balanced:
            public = (self.settings.app_port, _port(self.settings.rasa_url), _port(self.settings.actions_url))
            ports.update(dict.fromkeys(public, "nginx"))
        for port, name in ports.items():
            if port_in_use(port):
                raise StartupError(
                    f"port {port} for {name} is already in use (is Touchpoint already running?); "
                    "stop it or choose other ports (TOUCHPOINT_APP_PORT, TOUCHPOINT_RASA_URL, TOUCHPOINT_ACTIONS_URL)"
                )
        prepare_database(self.settings)
        try:
            # Rasa and the action servers load their models in parallel; then nginx, through which
            # the apps reach them; then the apps.
            for process in self.actions + self.rasa:
                process.start()
            for process in self.actions + self.rasa:
                process.wait_ready()
            for group in (self.balancer, self.apps):
                for process in group:
                    process.start()
                for process in group:
                    process.wait_ready()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()


class Supervisor:
    """Keeps a started Stack's processes running: one that dies is started again after a back-off
    (1 s, doubling up to 30 s; back to 1 s once it has run for a minute), while the others go on
    serving. Meanwhile the app answers what arrives with the polite fallback and a handoff (Rasa or
    the action server down), or, if the app itself is the one restarting, clients retry."""

    FIRST_DELAY = 1.0
    LONGEST_DELAY = 30.0
    STEADY = 60.0  # seconds up after which a process counts as healthy again

    def __init__(self, stack: Stack, clock: Callable[[], float] = time.monotonic):
        self.stack = stack
        self._clock = clock
        self._delay = {p.spec.name: self.FIRST_DELAY for p in stack.processes}
        self._started = {p.spec.name: clock() for p in stack.processes}
        self._restart_at: dict[str, float] = {}
        self.restarts = {p.spec.name: 0 for p in stack.processes}

    def status(self) -> dict[str, dict[str, object]]:
        """Each process: running or not, its pid, how often it was started again."""
        return {
            process.spec.name: {
                "running": process.running,
                "pid": process.pid,
                "restarts": self.restarts[process.spec.name],
            }
            for process in self.stack.processes
        }

    def write_status(self, path: Path) -> None:
        """The status for the app's /healthz, replaced whole (a reader never sees half of it)."""
        partial = path.with_suffix(".tmp")
        partial.write_text(json.dumps(self.status()), encoding="utf-8")
        partial.replace(path)

    def check(self) -> list[str]:
        """One look at the processes; what happened, for the log."""
        now, events = self._clock(), []
        for process in self.stack.processes:
            name = process.spec.name
            if process.running:
                if now - self._started[name] >= self.STEADY:
                    self._delay[name] = self.FIRST_DELAY
                continue
            if name not in self._restart_at:
                delay = self._delay[name]
                self._restart_at[name] = now + delay
                self._delay[name] = min(delay * 2, self.LONGEST_DELAY)
                events.append(
                    f"{name} exited (code {process.exit_code}); starting it again in {delay:g} s, "
                    f"see {process.spec.log_path}"
                )
            elif now >= self._restart_at[name]:
                del self._restart_at[name]
                process.start()
                self._started[name] = now
                self.restarts[name] += 1
                events.append(f"{name} started again (pid {process.pid}, restart {self.restarts[name]})")
        return events
