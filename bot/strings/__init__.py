"""One catalogue of user-facing text per language (en.yml, zh.yml beside this file).

The app's own replies, the buttons' labels, the widget's interface and the action server's
texts all come from here; `text("queue_position", "zh", position=2)`.
"""

from __future__ import annotations

import functools
from pathlib import Path

import yaml

from knowledge_base.articles import LANGUAGES

FOLDER = Path(__file__).resolve().parent


@functools.cache
def catalogue(language: str) -> dict[str, str]:
    if language not in LANGUAGES:
        raise KeyError(f"no strings for language {language!r}")
    with (FOLDER / f"{language}.yml").open(encoding="utf-8") as file:
        return yaml.safe_load(file)


def text(key: str, language: str, **fields: object) -> str:
    """The text for `key` in `language` (English for any other language), fields filled in."""
    template = catalogue(language if language in LANGUAGES else "en")[key]
    return template.format(**fields) if fields else template


def widget_strings() -> dict[str, dict[str, str]]:
    """The widget's texts, per language: its interface (keys "widget_*", without the prefix) and
    the buttons' labels ("button_*")."""
    return {
        language: {
            key.removeprefix("widget_"): value
            for key, value in catalogue(language).items()
            if key.startswith(("widget_", "button_"))
        }
        for language in LANGUAGES
    }
