"""What teams already have, turned into Touchpoint articles for `touchpoint kb import`.

    touchpoint convert csv|tsv|rasa|dialogflow|azure SOURCE OUT [--language en|zh] [--responses FILE]
    touchpoint kb import OUT/articles

Each importer reads one format and returns the articles (`Imported`); an article whose source
has no answer is a draft (`status: draft`, never answered) whose body asks a curator for one.
Input that cannot be read raises `SourceError`, naming the file, the line and the column.
"""

from __future__ import annotations

from collections.abc import Callable

from knowledge_base.imports.azure import read_azure
from knowledge_base.imports.base import Imported, SourceError, write_articles
from knowledge_base.imports.dialogflow import read_dialogflow
from knowledge_base.imports.rasa import read_rasa
from knowledge_base.imports.table import read_csv, read_tsv

IMPORTERS: dict[str, Callable[..., Imported]] = {
    "csv": read_csv,
    "tsv": read_tsv,
    "rasa": read_rasa,
    "dialogflow": read_dialogflow,
    "azure": read_azure,
}

__all__ = ["IMPORTERS", "Imported", "SourceError", "write_articles"]
