"""Rasa's own gate: the domain, NLU data, rules and config are consistent."""

from __future__ import annotations

import subprocess

import pytest

from bot.processes import hermetic_env
from bot.rasa_domain import write_domain
from bot.settings import PROJECT_ROOT, load_settings

pytestmark = pytest.mark.e2e


def test_rasa_data_validate_passes(tmp_path):
    settings = load_settings()
    domain = write_domain(tmp_path / "domain.yml")  # as `make train` builds it
    env = hermetic_env(settings, {"HOME": str(settings.build_dir / "rasa-home")})
    result = subprocess.run(
        [str(settings.rasa_executable), "data", "validate", "--fail-on-warnings",
         "--domain", str(domain), "--data", "bot/data", "--config", "config.yml"],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
