"""Test doubles and builders shared by the unit tests."""

from __future__ import annotations

import hashlib
import json
import textwrap
from pathlib import Path

import numpy as np


class HashingEncoder:
    """A deterministic stand-in for a sentence encoder: hashed character trigrams, unit length.

    Unit tests use it to exercise indexing and fusion without loading a model; texts that share
    trigrams get similar vectors, which is all the fusion logic needs.
    """

    name = "hashing-test-encoder"
    dimension = 64

    def encode(self, texts: list[str]) -> np.ndarray:
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            padded = f"  {text.lower()}  "
            for i in range(len(padded) - 2):
                bucket = int(hashlib.md5(padded[i : i + 3].encode()).hexdigest(), 16) % self.dimension
                vectors[row, bucket] += 1
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.where(norms == 0, 1, norms)


def hashing_encoders(encoder: HashingEncoder | None = None) -> dict[str, HashingEncoder]:
    """The same hashing encoder for both languages, as `KnowledgeIndex.build` takes them."""
    encoder = encoder or HashingEncoder()
    return {"en": encoder, "zh": encoder}


def article_text(
    id: str = "roaming-activate",
    language: str = "en",
    title: str = "Turn on international roaming",
    questions: tuple[str, ...] = ("How do I activate roaming?", "Can I use my phone abroad?"),
    body: str = "Open the app and go to Services, then Roaming.",
    tags: str = "[roaming]",
    status: str = "published",
) -> str:
    question_lines = "\n".join(f"  - {json.dumps(q, ensure_ascii=False)}" for q in questions)
    return textwrap.dedent(
        """\
        ---
        id: {id}
        language: {language}
        title: {title}
        questions:
        {questions}
        tags: {tags}
        status: {status}
        ---
        {body}
        """
    ).format(
        id=id,
        language=language,
        title=json.dumps(title, ensure_ascii=False),
        questions=question_lines,
        tags=tags,
        status=status,
        body=body,
    )


SAMPLE_ARTICLES = [
    dict(
        id="roaming-activate",
        language="en",
        title="Turn on international roaming",
        questions=("How do I activate roaming before I travel?", "Can I use my phone abroad?"),
        body="Roaming is off by default. Open the app, go to Services and switch on Roaming.",
    ),
    dict(
        id="billing-payment-methods",
        language="en",
        title="Ways to pay your bill",
        questions=("How can I pay my bill?", "Which payment methods do you accept?"),
        body="Pay in the app, with WeChat Pay or Alipay, by bank card, or in cash at a store.",
    ),
    dict(
        id="sim-puk",
        language="en",
        title="SIM locked: PIN and PUK codes",
        questions=("My SIM card is locked, what is the PUK?", "I entered the wrong PIN three times"),
        body="Find your PUK in the app under Me, SIM, or call the hotline.",
    ),
    dict(
        id="roaming-activate",
        language="zh",
        title="开通国际漫游",
        questions=("出国前怎么开通漫游？", "在国外能用手机吗？"),
        body="新号码默认关闭漫游。打开云雀App，进入服务-漫游开通即可。",
    ),
    dict(
        id="billing-payment-methods",
        language="zh",
        title="话费缴纳方式",
        questions=("怎么交话费？", "可以用微信支付交话费吗？"),
        body="可以通过App、微信支付、支付宝、银行卡或门店现金缴费。",
    ),
    dict(
        id="sim-puk",
        language="zh",
        title="SIM卡被锁：PIN码和PUK码",
        questions=("SIM卡锁了怎么解？", "PIN码输错三次了怎么办？"),
        body="在App的我的-SIM卡中可以查看PUK码，也可以拨打客服热线。",
    ),
]


def write_articles(directory: Path, articles: list[dict] = SAMPLE_ARTICLES) -> Path:
    for article in articles:
        path = directory / article["language"] / f"{article['id']}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(article_text(**article), encoding="utf-8")
    return directory
