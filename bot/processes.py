"""Starting and stopping Touchpoint's three processes: Rasa server, action server and app.

Used by `touchpoint run` and by the end-to-end tests, so both start the stack the same way.
Every process gets a hermetic environment: caches, temp files and Rasa's user config live in
the build folder, and telemetry is off.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

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
    """bot/endpoints.yml with `${ACTION_SERVER_URL}` filled in (Rasa 3.6 does not expand it)."""
    template = (PROJECT_ROOT / "bot" / "endpoints.yml").read_text(encoding="utf-8")
    rendered = template.replace("${ACTION_SERVER_URL}", settings.actions_url.rstrip("/") + "/webhook")
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / "endpoints.yml"
    path.write_text(rendered, encoding="utf-8")
    return path


def rasa_spec(settings: Settings, run_dir: Path) -> ProcessSpec:
    rasa = settings.rasa_executable
    if not rasa.exists():
        raise StartupError(f"Rasa is not installed at {rasa}; run `make setup`")
    if not settings.model_path.exists():
        raise StartupError(f"no trained Rasa model at {settings.model_path}; run `make train`")
    env = hermetic_env(settings, {"HOME": str(settings.build_dir / "rasa-home"), **SINGLE_THREADED})
    return ProcessSpec(
        name="rasa",
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
            str(_port(settings.rasa_url)),
        ],  # fmt: skip
        env=env,
        ready_url=settings.rasa_url.rstrip("/") + "/status",
        log_path=run_dir / "logs" / "rasa.log",
    )


def actions_spec(settings: Settings, env: dict[str, str], run_dir: Path) -> ProcessSpec:
    return ProcessSpec(
        name="actions",
        argv=[sys.executable, "-m", "actions.server", "--port", str(_port(settings.actions_url))],
        env=hermetic_env(settings, {**env, **SINGLE_THREADED}),
        ready_url=settings.actions_url.rstrip("/") + "/health",
        log_path=run_dir / "logs" / "actions.log",
    )


def app_spec(settings: Settings, env: dict[str, str], run_dir: Path) -> ProcessSpec:
    return ProcessSpec(
        name="app",
        argv=[sys.executable, "-m", "bot.cli", "serve", "--host", settings.host, "--port", str(settings.app_port)],
        env=hermetic_env(settings, env),
        ready_url=f"http://{settings.host}:{settings.app_port}/healthz",
        log_path=run_dir / "logs" / "app.log",
        ready_timeout=60.0,
    )


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that gives a child process the same settings as this one."""
    return settings.environment()


def prepare_database(settings: Settings) -> None:
    """The newest schema, and the demo knowledge base in a database that has no articles, before
    any process uses it."""
    import asyncio

    from bot.store import Store

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
    """Rasa, actions and app for one set of settings; start in dependency order, stop in reverse."""

    def __init__(self, settings: Settings, run_dir: Path | None = None):
        """`run_dir` holds the rendered endpoints and the logs (default: build/run)."""
        env = settings_env(settings)
        self.settings = settings
        self.run_dir = run_dir or settings.build_dir / "run"
        self.actions = ManagedProcess(actions_spec(settings, env, self.run_dir))
        self.rasa = ManagedProcess(rasa_spec(settings, self.run_dir))
        self.app = ManagedProcess(app_spec(settings, env, self.run_dir))

    @property
    def processes(self) -> list[ManagedProcess]:
        return [self.actions, self.rasa, self.app]

    def start(self) -> None:
        # Another stack on our ports would answer our readiness checks and hide our failure to bind.
        for process in self.processes:
            port = httpx.URL(process.spec.ready_url).port
            if port_in_use(port):
                raise StartupError(
                    f"port {port} for {process.spec.name} is already in use (is Touchpoint already running?); "
                    "stop it or choose other ports (TOUCHPOINT_APP_PORT, TOUCHPOINT_RASA_URL, TOUCHPOINT_ACTIONS_URL)"
                )
        prepare_database(self.settings)
        try:
            # Rasa and the action server load their models in parallel; then the app.
            self.actions.start()
            self.rasa.start()
            self.actions.wait_ready()
            self.rasa.wait_ready()
            self.app.start()
            self.app.wait_ready()
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
