"""Language detection and the lexical analyser shared by indexing and search.

Tokenisation is spaCy's blank pipelines: `en` for English and `zh` with the jieba segmenter
for Chinese. Besides words (stop words and punctuation dropped) the analyser emits character
n-grams: bigrams of Chinese characters, so that a paraphrase sharing characters but segmented
differently still matches, and trigrams inside English words, which stand in for stemming.
"""

from __future__ import annotations

import logging
import os
import re
from collections import Counter
from functools import cached_property

CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
LATIN = re.compile(r"[A-Za-z]")
LATIN_WORD = re.compile(r"[A-Za-z]+")
ENGLISH_SENTENCE_WORDS = 3

# Where a message starts a second question: after a question mark, or where a joining word
# ("and", "also", "另外", "还有", ...) leads into a question word.
_QUESTION_WORD = r"(?:how|what|when|where|which|who|why|can|could|do|does|did|is|are|will|would|should|may)\b"
SECOND_QUESTION = {
    "en": re.compile(
        rf"(?<=\?)\s+(?:(?:and|also|plus)\s+)?|(?:[,;.]\s*|\s+)(?:and|also|plus)\s+(?:also\s+)?(?={_QUESTION_WORD})|[;.]\s+(?={_QUESTION_WORD})",
        re.IGNORECASE,
    ),
    "zh": re.compile(r"(?<=[？?])\s*|[，,。；;]?\s*(?:另外|还有|顺便问一下|顺便问下|顺便问问|顺便|再问一下)[，,]?\s*"),
}
SHORTEST_PART = {"en": 3, "zh": 4}  # words in English, characters in Chinese


def question_parts(text: str, language: str) -> list[str]:
    """The questions a message asks, in order: `[text]` for one question, or its parts when it
    asks two or three ("How do I turn on roaming? And what does data cost in Japan?",
    "怎么开通国际漫游？另外日本的流量多少钱"). A part too short to be a question of its own
    ("thanks?") keeps the message whole."""
    pattern = SECOND_QUESTION.get(language)
    if pattern is None:
        return [text]
    parts = [part.strip(" ,;.，。；") for part in pattern.split(text)]
    parts = [part for part in parts if part]
    size = (lambda p: len(p.split())) if language == "en" else (lambda p: len(CJK.findall(p)) or len(p.split()))
    if not 2 <= len(parts) <= 3 or any(size(part) < SHORTEST_PART[language] for part in parts):
        return [text]
    return parts


def detect_language(text: str, default: str = "en") -> str:
    """'zh' if the text has Chinese characters, 'en' if it has Latin letters, else `default`.

    Mixed text ("eSIM 怎么开通") counts as Chinese: Chinese users often type product names in
    Latin letters, English users rarely type Chinese. For the same reason a few Latin words
    ("eSIM", "ok", "5G") do not switch a Chinese conversation to English; a sentence does.
    """
    if CJK.search(text):
        return "zh"
    if LATIN.search(text):
        return "en" if default == "en" or len(LATIN_WORD.findall(text)) >= ENGLISH_SENTENCE_WORDS else default
    return default


class Analyzer:
    """Turns text into weighted lexical features for one language."""

    def __init__(self, cache_dir: str | os.PathLike | None = None):
        self._cache_dir = cache_dir

    @cached_property
    def _english(self):
        import spacy

        return spacy.blank("en")

    @cached_property
    def _chinese(self):
        import jieba
        import spacy

        jieba.setLogLevel(logging.WARNING)
        if self._cache_dir is not None:
            os.makedirs(self._cache_dir, exist_ok=True)
            jieba.dt.tmp_dir = str(self._cache_dir)
        return spacy.blank("zh", config={"nlp": {"tokenizer": {"segmenter": "jieba"}}})

    def features(self, text: str, language: str) -> Counter[str]:
        if language == "zh":
            return self._chinese_features(text)
        return self._english_features(text)

    def _english_features(self, text: str) -> Counter[str]:
        features: Counter[str] = Counter()
        for token in self._english(text.lower()):
            if token.is_punct or token.is_space or token.is_stop:
                continue
            word = token.text.strip("'")
            if not word:
                continue
            features["w:" + word] += 1
            padded = f"<{word}>"
            for i in range(len(padded) - 2):
                features["c:" + padded[i : i + 3]] += 1
        return features

    def _chinese_features(self, text: str) -> Counter[str]:
        features: Counter[str] = Counter()
        runs: list[str] = []  # stretches of content words, broken at stop words and punctuation
        current = ""
        for token in self._chinese(text.lower()):
            if token.is_punct or token.is_space or token.is_stop:
                runs.append(current)
                current = ""
                continue
            features["w:" + token.text] += 1
            current += token.text
        runs.append(current)
        # Character unigrams and bigrams inside content runs: "携号转网" still matches "转网"
        # or "携号", while "怎么" and "吗" add nothing.
        for run in runs:
            for piece in CJK_RUN.findall(run):
                for i, char in enumerate(piece):
                    features["c:" + char] += 1
                    if i + 1 < len(piece):
                        features["b:" + piece[i : i + 2]] += 1
        return features
