"""A Dialogflow ES agent export (the ZIP from Export and Import, or its unpacked folder).

`intents/<Name>_usersays_<lang>.json` holds an intent's training phrases in one language
(`[{"data": [{"text": ...}, ...]}]`, the parts joined); `intents/<Name>.json` its responses, whose
text messages (`speech`, the first variant of each) in that language make the answer. One article
per intent and language, the languages sharing the id; an intent without a text response is a
draft; fallback intents and languages other than English and Chinese are left out.
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path, PurePosixPath

from knowledge_base.imports.base import ArticleIds, Imported, SourceError, language_code, make_article, read_text

USERSAYS = re.compile(r"^(?P<intent>.+)_usersays_(?P<lang>[A-Za-z]+(?:-[A-Za-z]+)?)\.json$")


def read_dialogflow(source: Path, *, language: str | None = None) -> Imported:
    files = _intent_files(source)
    if not files:
        raise SourceError(source, None, None, "has no intents/*.json; is it a Dialogflow ES agent export?")
    phrases: dict[tuple[str, str], list[str]] = {}  # (intent file stem, our language) -> questions
    codes: dict[tuple[str, str], list[str]] = {}  # ... -> Dialogflow's language codes ('zh-cn', 'zh-tw')
    skipped: dict[str, set[str]] = {}
    for name in sorted(files):
        match = USERSAYS.match(name)
        if not match:
            continue
        code = match["lang"].lower()
        ours = language_code(code)
        if ours is None:
            skipped.setdefault(code, set()).add(match["intent"])
        if ours is None or (language and ours != language):
            continue
        key = (match["intent"], ours)
        phrases.setdefault(key, []).extend(_phrases(source, name, files[name]))
        codes.setdefault(key, []).append(code)

    ids, articles = ArticleIds(), []
    for (stem, ours), questions in phrases.items():
        intent_name = f"{stem}.json"
        if intent_name not in files:
            raise SourceError(_where(source, intent_name), None, None, f"is missing, but '{stem}' has training phrases")
        intent = _json(source, intent_name, files[intent_name])
        if not isinstance(intent, dict):
            raise SourceError(_where(source, intent_name), 1, 1, "expected an intent object")
        if intent.get("fallbackIntent") or not any(q.strip() for q in questions):
            continue
        display = str(intent.get("name") or stem)
        answer = _answer(intent, codes[(stem, ours)])
        articles.append(make_article(ids(stem, display), ours, questions, answer, source.name, display))
    notes = [
        f"left out the training phrases in '{code}' (Touchpoint answers in en and zh) of: {', '.join(sorted(stems))}"
        for code, stems in sorted(skipped.items())
    ]
    return Imported(articles, notes)


def _intent_files(source: Path) -> dict[str, bytes]:
    """File name -> bytes of every intents/*.json, from a folder or a ZIP (perhaps one folder deep)."""
    if source.is_dir():
        return {p.name: p.read_bytes() for p in sorted((source / "intents").glob("*.json"))}
    if not zipfile.is_zipfile(source):
        raise SourceError(source, None, None, "expected the agent's ZIP export or its unpacked folder")
    with zipfile.ZipFile(source) as archive:
        return {
            PurePosixPath(name).name: archive.read(name)
            for name in archive.namelist()
            if PurePosixPath(name).parent.name == "intents" and name.endswith(".json")
        }


def _where(source: Path, name: str) -> Path:
    return source / "intents" / name


def _json(source: Path, name: str, data: bytes) -> object:
    path = _where(source, name)
    try:
        return json.loads(read_text(path, data))
    except json.JSONDecodeError as exc:
        raise SourceError(path, exc.lineno, exc.colno, f"not valid JSON ({exc.msg})") from None


def _phrases(source: Path, name: str, data: bytes) -> list[str]:
    examples = _json(source, name, data)
    if not isinstance(examples, list) or not all(
        isinstance(e, dict) and isinstance(e.get("data"), list) for e in examples
    ):
        raise SourceError(_where(source, name), 1, 1, "expected a list of training phrases, each with 'data' parts")
    return ["".join(str(part.get("text", "")) for part in e["data"] if isinstance(part, dict)) for e in examples]


def _answer(intent: dict, codes: list[str]) -> str | None:
    """The text messages of the intent's first response in one of `codes`, the first variant of each."""
    for response in intent.get("responses") or []:
        texts = []
        for message in (response.get("messages") or []) if isinstance(response, dict) else []:
            if not isinstance(message, dict) or message.get("platform"):
                continue  # channel-specific copies (Telegram, Google Assistant) repeat the default
            if str(message.get("lang", codes[0])).lower() not in codes:
                continue
            speech = message.get("speech")
            variants = speech if isinstance(speech, list) else [speech]
            text = next((v.strip() for v in variants if isinstance(v, str) and v.strip()), None)
            if text:
                texts.append(text)
        if texts:
            return "\n\n".join(texts)
    return None
