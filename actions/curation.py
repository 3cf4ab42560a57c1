"""The action server's side of the curation pages: the test panel and the grouping of suggestions.

Both need the models and the index, which live in this process only:

- `POST /try`: what the bot would do with a question, with the published knowledge base and,
  given a draft, with that draft in place of its published version: the ranked articles, the
  fused score and its parts (dense, lexical, classifier), the threshold and the decision.
- `POST /group`: questions users asked that the bot did not answer well, grouped by meaning
  across both languages, each group with the article that answers it best.
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
from sanic import Sanic
from sanic.request import Request
from sanic.response import HTTPResponse, json

from actions.answer import AnswerSettings, Verdict, judge_question
from actions.live import LiveKnowledgeBase
from knowledge_base.articles import LANGUAGES, Article, article_from_fields, field_problems
from knowledge_base.search import Hit, HybridSearcher

MAX_QUERY = 500
MAX_GROUPED = 2000  # questions grouped in one call
# Two questions are one group when their embeddings (the multilingual model's) are this similar,
# measured from the model's "unrelated" level (0) to the same sentence (1); or, when the knowledge
# base's best match for both is the same article, at least SAME_ARTICLE_SIMILARITY, since the small
# model ranks translations (a zh and an en question of one meaning) only a little above unrelated.
GROUP_SIMILARITY = 0.25
SAME_ARTICLE_SIMILARITY = -0.25
SHOWN = 5


def error(message: str, status: int = 400) -> HTTPResponse:
    return json({"error": {"code": "invalid_request", "message": message}}, status=status)


def hit_json(hit: Hit) -> dict[str, Any]:
    return {
        "article_id": hit.article.id,
        "title": hit.article.title,
        "score": round(hit.score, 4),
        "dense": round(hit.dense, 4),
        "lexical": round(hit.lexical, 4),
        "classifier": round(hit.probability, 4),
    }


def verdict_json(verdict: Verdict, hits: list[Hit]) -> dict[str, Any]:
    return {
        "decision": verdict.decision,
        "threshold": verdict.threshold,
        "answer": hit_json(verdict.confident[0]) if verdict.confident else None,
        "choices": [hit_json(hit) for hit in verdict.confident[1:]],
        "candidates": [hit_json(hit) for hit in verdict.candidates],
        "hits": [hit_json(hit) for hit in hits],
    }


def draft_article(fields: Any) -> Article:
    """A draft from the editor, checked as a save would be; ValueError says what is wrong."""
    if not isinstance(fields, dict):
        raise ValueError("'draft' must be an object with id, language, title, questions, body and tags")
    fields = {**fields, "status": "draft"}
    problems = field_problems(fields)
    if problems:
        raise ValueError("; ".join(f"{p.field}: {p.message}" for p in problems))
    return article_from_fields(fields, "published")


def add_curation(app: Sanic, knowledge_base: LiveKnowledgeBase, settings: AnswerSettings) -> None:
    @app.post("/try")
    async def try_question(request: Request) -> HTTPResponse:
        body = request.json if isinstance(request.json, dict) else {}
        query, language = str(body.get("query") or "").strip()[:MAX_QUERY], body.get("language")
        if language not in LANGUAGES:
            return error(f"'language' must be one of {', '.join(LANGUAGES)}")
        if not query:
            return error("'query' is empty")
        off_topic = bool(body.get("off_topic"))
        k = settings.max_choices + 2
        published = knowledge_base.search(query, language, k)
        result = {
            "query": query,
            "language": language,
            "version": knowledge_base.version,
            "published": verdict_json(
                judge_question(knowledge_base, query, language, settings, off_topic=off_topic), published
            ),
            "draft": None,
        }
        if body.get("draft") is not None:
            try:
                draft = draft_article(body["draft"])
            except ValueError as exc:
                return error(f"the draft is not valid: {exc}")
            loop = asyncio.get_running_loop()
            searcher = await loop.run_in_executor(None, knowledge_base.what_if, draft)
            hits = searcher.search(query, language, k)
            verdict = judge_question(searcher, query, language, settings, off_topic=off_topic)
            result["draft"] = verdict_json(verdict, hits)
        return json(result)

    @app.post("/group")
    async def group(request: Request) -> HTTPResponse:
        body = request.json if isinstance(request.json, dict) else {}
        questions = body.get("questions")
        if not isinstance(questions, list) or len(questions) > MAX_GROUPED:
            return error(f"'questions' must be a list of at most {MAX_GROUPED} {{text, language}} objects")
        cleaned = []
        for question in questions:
            if not isinstance(question, dict) or question.get("language") not in LANGUAGES:
                return error("every question needs a text and a language (en or zh)")
            cleaned.append((str(question.get("text") or "")[:MAX_QUERY], question["language"]))
        loop = asyncio.get_running_loop()
        groups = await loop.run_in_executor(None, group_questions, cleaned, knowledge_base)
        return json({"groups": groups})


def group_questions(questions: list[tuple[str, str]], knowledge_base: LiveKnowledgeBase) -> list[dict[str, Any]]:
    """Group `questions` (text, language) by meaning: linked when similar enough (see
    GROUP_SIMILARITY), groups are what links connect. Each group has its members' positions (in
    the order given) and the article that best answers its first question, in its language."""
    if not questions:
        return []
    vectors, baseline = embed(questions, knowledge_base.searcher)
    similarity = (vectors @ vectors.T - baseline) / (1 - baseline)
    best = [next(iter(knowledge_base.search(text, language, 1)), None) for text, language in questions]
    best_id = [hit.article.id if hit else None for hit in best]
    owner = list(range(len(questions)))

    def root(i: int) -> int:
        while owner[i] != i:
            owner[i] = owner[owner[i]]
            i = owner[i]
        return i

    for i in range(len(questions)):
        for j in range(i + 1, len(questions)):
            same_article = best_id[i] is not None and best_id[i] == best_id[j]
            if similarity[i, j] >= GROUP_SIMILARITY or (same_article and similarity[i, j] >= SAME_ARTICLE_SIMILARITY):
                owner[root(j)] = root(i)
    members: dict[int, list[int]] = {}
    for i in range(len(questions)):
        members.setdefault(root(i), []).append(i)
    return [
        {
            "members": positions,
            "best": hit_json(best[positions[0]]) | {"language": questions[positions[0]][1]}
            if best[positions[0]]
            else None,
        }
        for positions in members.values()
    ]


def embed(questions: list[tuple[str, str]], searcher: HybridSearcher | None) -> tuple[np.ndarray, float]:
    """Unit vectors on which questions of both languages compare, and the cosine that means
    "unrelated" for them: the multilingual (Chinese) model's embeddings where there is one, else
    each question's lexical features (which only group questions of one language)."""
    texts = [text for text, _ in questions]
    encoder = searcher.encoders.get("zh") if searcher else None
    if encoder is not None:
        baseline = float((searcher.index.manifest.get("dense_baseline") or {}).get("zh", 0.0))
        return encoder.encode(texts), min(baseline, 0.95)
    if searcher is None:
        return np.eye(len(texts), dtype=np.float32), 0.0
    from sklearn.feature_extraction import DictVectorizer

    features = [dict.fromkeys(searcher.analyzer.features(text, language), 1.0) for text, language in questions]
    matrix = DictVectorizer().fit_transform(features).toarray().astype(np.float32)
    return matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12), 0.0
