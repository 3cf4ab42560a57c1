"""All configuration, read once from the environment (`TOUCHPOINT_*`), with defaults that run
the whole stack on one machine: SQLite in the build folder, the demo knowledge base, local ports.

A malformed value fails loudly at start-up, naming the variable; nothing falls back silently.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class ConfigError(RuntimeError):
    pass


@dataclass(frozen=True)
class Settings:
    build_dir: Path = PROJECT_ROOT / "build"
    database_url: str = ""  # default: SQLite file in build_dir
    articles_dir: Path = PROJECT_ROOT / "knowledge_base" / "articles"
    index_dir: Path = field(default=Path())  # default: build_dir / "index"
    embedding_model: str = "all-MiniLM-L6-v2"  # English
    chinese_embedding_model: str = "multilingual-e5-small"
    host: str = "127.0.0.1"
    app_port: int = 8000
    rasa_url: str = "http://127.0.0.1:5005"
    actions_url: str = "http://127.0.0.1:5055"
    rasa_timeout: float = 15.0
    answer_threshold: float = 0.5
    out_of_scope_threshold: float = 0.7
    choice_margin: float = 0.05
    max_choices: int = 3
    not_helpful_limit: int = 2
    telegram_token: str = ""  # set: the app runs the Telegram bot
    telegram_api_url: str = "https://api.telegram.org/bot"  # the token is appended
    telegram_webhook_url: str = ""  # set: webhook mode at this public URL, else long polling
    telegram_webhook_secret: str = ""  # required with a webhook URL; Telegram sends it in a header
    widget_origins: tuple[str, ...] = ("*",)  # pages allowed to open the widget's WebSocket
    api_token: str = ""  # bearer token for reading transcripts over the API; unset: nobody can
    metrics_token: str = ""  # bearer token for scraping GET /metrics; unset: nobody can
    secret_key: str = ""  # signs staff session cookies; default: made once in build_dir/secret_key
    queue_timeout: float = 300.0  # seconds unclaimed before the user is offered other choices; 0: never
    secure_cookies: bool = False  # set behind HTTPS: the session cookie is then never sent over http
    redact_at_rest: bool = False  # personal data is replaced before anything is stored (Rasa's tracker too)
    retention_days: int = 0  # conversations with nothing new for this many days are deleted; 0: kept
    max_body_bytes: int = 1 << 20  # a larger request body is refused (413) before it is read whole
    # Messages a minute (after a burst of as many as a third of them at once) per conversation (an
    # API client's, a widget's, a Telegram chat) and per address; 0: no limit.
    rate_conversation: float = 60.0
    rate_address: float = 600.0
    # Set with several app instances: live events, conversation turns and rate limits are shared
    # through this Redis (redis://host:port/db); unset, each instance keeps them in its memory.
    redis_url: str = ""
    # Set with several Rasa servers: their shared tracker store (postgresql://user@host:port/db), so
    # that each sees every dialogue and a restarted one forgets nothing; unset, each keeps its own in memory.
    rasa_tracker_url: str = ""
    processes_file: Path | None = None  # set by `touchpoint run` for its app: its processes, for /healthz

    def __post_init__(self) -> None:
        self._check_ranges()
        if not self.database_url:
            object.__setattr__(self, "database_url", f"sqlite+aiosqlite:///{self.build_dir / 'touchpoint.db'}")
        if self.index_dir == Path():
            object.__setattr__(self, "index_dir", self.build_dir / "index")

    def _check_ranges(self) -> None:
        """Values that parse but make no sense; named by their environment variables."""
        problems = []
        for name in ("answer_threshold", "out_of_scope_threshold", "choice_margin"):
            value = getattr(self, name)
            if not 0 <= value <= 1:  # also false for NaN
                problems.append(f"{_variable(name)} must be between 0 and 1, not {value}")
        if not 0 < self.rasa_timeout < float("inf"):
            problems.append(
                f"{_variable('rasa_timeout')} must be a positive number of seconds, not {self.rasa_timeout}"
            )
        if not (self.queue_timeout == 0 or 10 <= self.queue_timeout < float("inf")):
            problems.append(
                f"{_variable('queue_timeout')} must be 0 (never) or at least 10 seconds, not {self.queue_timeout}"
            )
        if self.retention_days < 0:
            problems.append(
                f"{_variable('retention_days')} must be 0 (keep) or a number of days, not {self.retention_days}"
            )
        for name in ("rate_conversation", "rate_address"):
            if not 0 <= getattr(self, name) < float("inf"):
                problems.append(
                    f"{_variable(name)} must be 0 (no limit) or messages a minute, not {getattr(self, name)}"
                )
        if self.max_body_bytes < 1024:
            problems.append(f"{_variable('max_body_bytes')} must be at least 1024 bytes, not {self.max_body_bytes}")
        if self.max_choices < 0:
            problems.append(f"{_variable('max_choices')} must be 0 or more, not {self.max_choices}")
        if self.not_helpful_limit < 1:
            problems.append(f"{_variable('not_helpful_limit')} must be at least 1, not {self.not_helpful_limit}")
        if not 0 < self.app_port < 65536:
            problems.append(f"{_variable('app_port')} must be a TCP port, not {self.app_port}")
        if self.telegram_token and not re.fullmatch(r"\d+:[A-Za-z0-9_-]+", self.telegram_token):
            problems.append(f"{_variable('telegram_token')} does not look like a bot token (digits:letters)")
        if self.telegram_webhook_url:
            if not self.telegram_token:
                problems.append(f"{_variable('telegram_webhook_url')} is set but {_variable('telegram_token')} is not")
            if not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", self.telegram_webhook_secret):
                problems.append(
                    f"{_variable('telegram_webhook_secret')} must be set with a webhook URL: "
                    "1 to 256 characters of A-Z, a-z, 0-9, _ and -"
                )
        if self.redis_url and not re.fullmatch(r"rediss?://\S+", self.redis_url):
            problems.append(f"{_variable('redis_url')} must be a URL like redis://127.0.0.1:6379/0")
        if self.rasa_tracker_url and not re.fullmatch(r"postgres(ql)?://\S+", self.rasa_tracker_url):
            problems.append(
                f"{_variable('rasa_tracker_url')} must be a URL like postgresql://postgres@127.0.0.1:5432/rasa"
            )
        if self.secret_key and len(self.secret_key) < 32:
            problems.append(f"{_variable('secret_key')} must be at least 32 characters")
        for name in ("api_token", "metrics_token"):
            if getattr(self, name) and len(getattr(self, name)) < 16:
                problems.append(f"{_variable(name)} must be at least 16 characters")
        for origin in self.widget_origins:
            if origin != "*" and not re.fullmatch(r"https?://[^/\s]+", origin):
                problems.append(f"{_variable('widget_origins')}: {origin!r} is not an origin like https://example.com")
        if problems:
            raise ConfigError("; ".join(problems))

    @property
    def cache_dir(self) -> Path:
        return self.build_dir / "cache"

    @property
    def embedding_models(self) -> dict[str, str]:
        return {"en": self.embedding_model, "zh": self.chinese_embedding_model}

    @property
    def rasa_executable(self) -> Path:
        return self.build_dir / "rasa-env" / "bin" / "rasa"

    @property
    def model_path(self) -> Path:
        return self.build_dir / "models" / "touchpoint.tar.gz"

    def environment(self) -> dict[str, str]:
        """The TOUCHPOINT_* variables that give another process these settings (unset ones left out)."""
        environment = {}
        for variable, (name, _) in _VARIABLES.items():
            value = getattr(self, name)
            if isinstance(value, bool):
                value = "true" if value else "false"
            elif isinstance(value, tuple):
                value = ",".join(value)
            if value not in ("", None):
                environment[variable] = str(value)
        return environment

    def with_overrides(self, **changes) -> Settings:
        return replace(self, **changes)


def _origins(raw: str) -> tuple[str, ...]:
    """'https://a.example, https://b.example' -> ('https://a.example', 'https://b.example')"""
    return tuple(origin.strip().rstrip("/") for origin in raw.split(",") if origin.strip())


def _boolean(raw: str) -> bool:
    value = raw.strip().lower()
    if value not in ("1", "true", "yes", "0", "false", "no"):
        raise ValueError(raw)
    return value in ("1", "true", "yes")


# Environment variable -> (field, parser)
_VARIABLES = {
    "TOUCHPOINT_BUILD_DIR": ("build_dir", Path),
    "TOUCHPOINT_DATABASE_URL": ("database_url", str),
    "TOUCHPOINT_ARTICLES_DIR": ("articles_dir", Path),
    "TOUCHPOINT_INDEX_DIR": ("index_dir", Path),
    "TOUCHPOINT_EMBEDDING_MODEL": ("embedding_model", str),
    "TOUCHPOINT_CHINESE_EMBEDDING_MODEL": ("chinese_embedding_model", str),
    "TOUCHPOINT_HOST": ("host", str),
    "TOUCHPOINT_APP_PORT": ("app_port", int),
    "TOUCHPOINT_RASA_URL": ("rasa_url", str),
    "TOUCHPOINT_ACTIONS_URL": ("actions_url", str),
    "TOUCHPOINT_RASA_TIMEOUT": ("rasa_timeout", float),
    "TOUCHPOINT_ANSWER_THRESHOLD": ("answer_threshold", float),
    "TOUCHPOINT_OUT_OF_SCOPE_THRESHOLD": ("out_of_scope_threshold", float),
    "TOUCHPOINT_CHOICE_MARGIN": ("choice_margin", float),
    "TOUCHPOINT_MAX_CHOICES": ("max_choices", int),
    "TOUCHPOINT_NOT_HELPFUL_LIMIT": ("not_helpful_limit", int),
    "TELEGRAM_TOKEN": ("telegram_token", str),
    "TOUCHPOINT_TELEGRAM_API_URL": ("telegram_api_url", str),
    "TOUCHPOINT_TELEGRAM_WEBHOOK_URL": ("telegram_webhook_url", str),
    "TOUCHPOINT_TELEGRAM_WEBHOOK_SECRET": ("telegram_webhook_secret", str),
    "TOUCHPOINT_WIDGET_ORIGINS": ("widget_origins", _origins),
    "TOUCHPOINT_API_TOKEN": ("api_token", str),
    "TOUCHPOINT_METRICS_TOKEN": ("metrics_token", str),
    "TOUCHPOINT_SECRET_KEY": ("secret_key", str),
    "TOUCHPOINT_SECURE_COOKIES": ("secure_cookies", _boolean),
    "TOUCHPOINT_QUEUE_TIMEOUT": ("queue_timeout", float),
    "TOUCHPOINT_REDACT_AT_REST": ("redact_at_rest", _boolean),
    "TOUCHPOINT_RETENTION_DAYS": ("retention_days", int),
    "TOUCHPOINT_MAX_BODY_BYTES": ("max_body_bytes", int),
    "TOUCHPOINT_RATE_CONVERSATION": ("rate_conversation", float),
    "TOUCHPOINT_RATE_ADDRESS": ("rate_address", float),
    "TOUCHPOINT_REDIS_URL": ("redis_url", str),
    "TOUCHPOINT_RASA_TRACKER_URL": ("rasa_tracker_url", str),
    "TOUCHPOINT_PROCESSES_FILE": ("processes_file", Path),
}


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    environ = os.environ if environ is None else environ
    values = {}
    for variable, (name, parse) in _VARIABLES.items():
        raw = environ.get(variable)
        if raw is None:
            continue
        if not raw.strip():
            raise ConfigError(f"{variable} is set but empty; unset it to use the default")
        try:
            values[name] = parse(raw)
        except ValueError:
            raise ConfigError(f"{variable}={raw!r} is not a valid {parse.__name__}") from None
    return Settings(**values)


def _variable(field: str) -> str:
    return next(variable for variable, (name, _) in _VARIABLES.items() if name == field)


def documented_variables() -> list[str]:
    return list(_VARIABLES)
