from __future__ import annotations

from pathlib import Path

import pytest

from knowledge_base.text import Analyzer

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def analyzer(tmp_path_factory) -> Analyzer:
    return Analyzer(tmp_path_factory.mktemp("jieba-cache"))
