"""Configuration: read once, and a bad value stops the program with the variable's name."""

from __future__ import annotations

import pytest

from bot.settings import ConfigError, Settings, load_settings


def test_defaults_need_no_environment():
    settings = load_settings({})
    assert settings.answer_threshold == 0.5
    assert settings.embedding_models == {"en": "all-MiniLM-L6-v2", "zh": "multilingual-e5-small"}


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("TOUCHPOINT_ANSWER_THRESHOLD", "nan", "TOUCHPOINT_ANSWER_THRESHOLD must be between 0 and 1"),
        ("TOUCHPOINT_ANSWER_THRESHOLD", "1.5", "TOUCHPOINT_ANSWER_THRESHOLD must be between 0 and 1"),
        ("TOUCHPOINT_RASA_TIMEOUT", "0", "TOUCHPOINT_RASA_TIMEOUT must be a positive number"),
        ("TOUCHPOINT_MAX_CHOICES", "-1", "TOUCHPOINT_MAX_CHOICES must be 0 or more"),
        ("TOUCHPOINT_NOT_HELPFUL_LIMIT", "0", "TOUCHPOINT_NOT_HELPFUL_LIMIT must be at least 1"),
        ("TOUCHPOINT_APP_PORT", "70000", "TOUCHPOINT_APP_PORT must be a TCP port"),
        ("TOUCHPOINT_APP_PORT", "eighty", "TOUCHPOINT_APP_PORT='eighty' is not a valid int"),
        ("TOUCHPOINT_HOST", " ", "TOUCHPOINT_HOST is set but empty"),
    ],
)
def test_a_bad_value_names_the_variable(variable, value, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        load_settings({variable: value})


def test_a_child_process_gets_the_same_settings_back(tmp_path):
    settings = Settings(
        build_dir=tmp_path,
        app_port=8123,
        answer_threshold=0.42,
        widget_origins=("https://a.example", "https://b.example"),
        secure_cookies=True,
        telegram_token="123:abc",
    )
    environment = settings.environment()
    assert "TOUCHPOINT_TELEGRAM_WEBHOOK_URL" not in environment  # unset stays unset
    assert load_settings(environment) == settings
