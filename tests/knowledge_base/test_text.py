from __future__ import annotations

import pytest

from knowledge_base.text import detect_language


@pytest.mark.parametrize(
    ("text", "default", "expected"),
    [
        ("How do I pay my bill?", "en", "en"),
        ("怎么交话费", "en", "zh"),
        ("eSIM 怎么开通", "en", "zh"),
        ("5G", "zh", "zh"),
        ("eSIM", "zh", "zh"),
        ("ok thanks", "zh", "zh"),
        ("how do I pay my bill", "zh", "en"),
        ("5G", "en", "en"),
        ("123 ???", "zh", "zh"),
        ("", "en", "en"),
    ],
)
def test_detect_language(text, default, expected):
    assert detect_language(text, default) == expected


def test_english_features_drop_stop_words_and_keep_word_trigrams(analyzer):
    features = analyzer.features("How do I activate roaming?", "en")
    assert {"w:activate", "w:roaming", "c:<ro", "c:ing"} <= set(features)
    assert not {"w:how", "w:do", "w:i", "w:?"} & set(features)


def test_chinese_features_are_words_and_character_ngrams_of_content_only(analyzer):
    features = analyzer.features("怎么开通国际漫游？", "zh")
    assert {"w:开通", "b:漫游", "c:漫", "b:开通"} <= set(features)
    # The question word 怎么 is a stop word: neither it nor n-grams across it are features.
    assert not {"w:怎么", "b:怎么", "b:么开", "c:怎"} & set(features)


def test_off_topic_chinese_question_made_only_of_stop_words_has_few_features(analyzer):
    assert set(analyzer.features("怎么了吗？", "zh")) == set()
