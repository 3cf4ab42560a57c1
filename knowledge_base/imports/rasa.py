"""Rasa NLU training data (YAML, Rasa 2 and 3): one article per intent, its examples the questions.

The answer is the response `utter_<intent>`, from the data file's own `responses:` or from
`--responses` (a domain.yml or responses.yml); a retrieval intent `faq/ask_hours` is answered by
`utter_faq/ask_hours`. Intents without a response become drafts. Entity annotations
(`[Berlin](city)`, `[Berlin]{"entity": "city"}`) are reduced to their text.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from knowledge_base.imports.base import ArticleIds, Imported, SourceError, make_article, read_text
from knowledge_base.text import detect_language

ENTITY = re.compile(r"\[([^\]]*)\](?:\([^)]*\)|\{[^}]*\})")


def read_rasa(source: Path, *, language: str | None = None, responses: Path | None = None) -> Imported:
    if source.suffix.lower() not in (".yml", ".yaml"):
        raise SourceError(
            source, None, None, "expected Rasa's YAML training data (convert Markdown with `rasa data convert nlu`)"
        )
    document = RasaYaml(source)
    nlu = document.get(document.root, "nlu")
    if nlu is None:
        raise SourceError(source, 1, None, "has no 'nlu:' section of intents and examples")
    answers = document.responses(required=False)
    if responses is not None:
        answers.update(RasaYaml(responses).responses(required=True))

    examples: dict[str, list[str]] = {}
    for item in document.sequence(nlu, "nlu"):
        intent = document.get(item, "intent")
        if intent is None:
            continue  # synonyms, regexes and lookup tables
        name = document.text(intent, "intent")
        examples.setdefault(name, []).extend(document.examples(item, name))

    ids, articles = ArticleIds(), []
    for name, questions in examples.items():
        if not questions:
            continue
        answer = answers.get(f"utter_{name}")
        article_language = language or detect_language(" ".join(questions))
        articles.append(make_article(ids(name, name), article_language, questions, answer, source.name, name))
    empty = [name for name, questions in examples.items() if not questions]
    notes = [f"intents with no examples, left out: {', '.join(empty)}"] if empty else []
    return Imported(articles, notes)


class RasaYaml:
    """A YAML file read as nodes, so that every error can say the line and column it is about."""

    def __init__(self, path: Path):
        self.path = path
        self.lines = read_text(path).splitlines()
        try:
            self.root = yaml.compose("\n".join(self.lines), Loader=yaml.SafeLoader)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line, column = (mark.line + 1, mark.column + 1) if mark else (None, None)
            raise SourceError(path, line, column, f"not valid YAML ({getattr(exc, 'problem', exc)})") from None
        if not isinstance(self.root, yaml.MappingNode):
            raise SourceError(path, 1, None, "expected a mapping of sections such as 'nlu:' and 'responses:'")

    def error(self, node: yaml.Node, message: str) -> SourceError:
        return SourceError(self.path, node.start_mark.line + 1, node.start_mark.column + 1, message)

    def get(self, node: yaml.Node, key: str) -> yaml.Node | None:
        if not isinstance(node, yaml.MappingNode):
            raise self.error(node, "expected a mapping")
        return next((value for k, value in node.value if k.value == key), None)

    def sequence(self, node: yaml.Node, name: str) -> list[yaml.Node]:
        if not isinstance(node, yaml.SequenceNode):
            raise self.error(node, f"{name}: expected a list ('- ' items)")
        return node.value

    def text(self, node: yaml.Node, name: str) -> str:
        if not isinstance(node, yaml.ScalarNode) or not node.value.strip():
            raise self.error(node, f"{name}: expected a non-empty text")
        return node.value.strip()

    def examples(self, item: yaml.Node, intent: str) -> list[str]:
        node = self.get(item, "examples")
        if node is None:
            raise self.error(item, f"intent '{intent}' has no 'examples:'")
        if isinstance(node, yaml.SequenceNode):  # `- text: ...` items, when examples carry metadata
            texts = [(self.get(e, "text") or e) if isinstance(e, yaml.MappingNode) else e for e in node.value]
            return [ENTITY.sub(r"\1", self.text(text, "text")) for text in texts]
        if not isinstance(node, yaml.ScalarNode):
            raise self.error(node, "examples: expected a block of '- example' lines ('examples: |')")
        first_line = node.start_mark.line + (1 if node.style in ("|", ">") else 0)
        found = []
        for offset, line in enumerate(node.value.splitlines()):
            if not line.strip():
                continue
            if not line.lstrip().startswith("- "):
                number = first_line + offset  # 0-based
                source_line = self.lines[number] if number < len(self.lines) else line
                column = len(source_line) - len(source_line.lstrip()) + 1
                raise SourceError(self.path, number + 1, column, f"examples of '{intent}': each must start with '- '")
            found.append(ENTITY.sub(r"\1", line.lstrip()[2:]).strip())
        return [text for text in found if text]

    def responses(self, *, required: bool) -> dict[str, str]:
        """Response name -> the text of its first variation that has one."""
        node = self.get(self.root, "responses")
        if node is None:
            if required:
                raise SourceError(self.path, 1, None, "has no 'responses:' section (give the domain or responses file)")
            return {}
        if not isinstance(node, yaml.MappingNode):
            raise self.error(node, "responses: expected a mapping of response names")
        found = {}
        for key, variations in node.value:
            for variation in self.sequence(variations, key.value):
                text = self.get(variation, "text")
                if text is not None and isinstance(text, yaml.ScalarNode) and text.value.strip():
                    found[key.value] = text.value.strip()
                    break
        return found
