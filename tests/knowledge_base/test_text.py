from __future__ import annotations

import pytest

from knowledge_base.text import detect_language, question_parts


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


@pytest.mark.parametrize(
    ("text", "language", "parts"),
    [
        (
            "How do I turn on roaming? And what does data cost in Japan?",
            "en",
            ["How do I turn on roaming?", "what does data cost in Japan?"],
        ),
        (
            "how do i activate esim and how much is the 5g plan",
            "en",
            ["how do i activate esim", "how much is the 5g plan"],
        ),
        ("my phone was stolen, also can you block my sim", "en", ["my phone was stolen", "can you block my sim"]),
        ("怎么开通国际漫游？另外日本的流量多少钱", "zh", ["怎么开通国际漫游？", "日本的流量多少钱"]),
        ("宽带坏了，还有我想查一下账单", "zh", ["宽带坏了", "我想查一下账单"]),
        # One question stays whole: no joining word before a question word, or a part too short.
        ("how do I pay my bill and top up my balance", "en", ["how do I pay my bill and top up my balance"]),
        ("thanks? and how", "en", ["thanks? and how"]),
        ("What is a PUK?", "en", ["What is a PUK?"]),
        ("我想换套餐", "zh", ["我想换套餐"]),
    ],
)
def test_question_parts(text, language, parts):
    assert question_parts(text, language) == parts
