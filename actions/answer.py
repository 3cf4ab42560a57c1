"""Answering from the knowledge base; when no answer is good enough, a person (with the best
candidates to read meanwhile), or, for an off-topic message, what the assistant can help with."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.handoff import hand_off
from bot.redaction import redact
from bot.strings import text
from bot.vocabulary import REQUEST_HUMAN, choice_payload
from knowledge_base.articles import Article
from knowledge_base.search import Hit, KnowledgeBase
from knowledge_base.text import question_parts

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AnswerSettings:
    # Scores are the calibrated probability that an article is the right answer (knowledge_base.search).
    threshold: float = 0.5  # below this, a person answers instead
    out_of_scope_threshold: float = 0.7  # stricter when the NLU thinks the message is off-topic
    choice_margin: float = 0.05  # runners-up this close to the top answer's relevance are offered as choices
    max_choices: int = 3
    # Articles scoring at least this share of the threshold are shown while a person is fetched.
    candidate_share: float = 0.5


@dataclass(frozen=True)
class Verdict:
    """What the knowledge base has for a message: the answer and its close runners-up (empty when
    none is good enough), the weaker candidates, and whether the NLU took it as off-topic."""

    confident: list[Hit]
    candidates: list[Hit]
    off_topic: bool
    language: str
    threshold: float
    ranked: tuple[Hit, ...] = ()  # what the search ranked first, for the transcript's trace

    @property
    def decision(self) -> str:
        """answer | choices (the answer with close runners-up) | off_topic | hand_off"""
        if self.confident:
            return "choices" if len(self.confident) > 1 else "answer"
        return "off_topic" if self.off_topic else "hand_off"


def decide(hits: list[Hit], settings: AnswerSettings, *, off_topic: bool, language: str) -> Verdict:
    """Answer, offer choices or hand off, from the ranked `hits` for a message; stricter when the
    NLU took the message as off-topic."""
    threshold = settings.threshold
    if off_topic:
        threshold = max(threshold, settings.out_of_scope_threshold)
    if not hits or hits[0].score < threshold:
        floor = settings.threshold * settings.candidate_share
        candidates = [hit for hit in hits if hit.score >= floor][: settings.max_choices]
        return Verdict([], candidates, off_topic, language, threshold, tuple(hits))
    best = hits[0]
    # A runner-up nearly as relevant as the answer: the question may be asking for either (or both).
    floor = settings.threshold * settings.candidate_share
    runners_up = [
        hit for hit in hits[1:] if hit.score >= floor and best.relevance - hit.relevance <= settings.choice_margin
    ]
    return Verdict([best, *runners_up], [], off_topic, language, threshold, tuple(hits))


def with_parts(verdict: Verdict, answers: list[list[Hit]], settings: AnswerSettings) -> Verdict:
    """`verdict` for a message that asks two or three questions, given the ranking for each part
    (`question_parts`): when the parts have confident answers the whole message's verdict lacks,
    the reply answers the first part and offers the others' answers (then the verdict's own)."""
    if verdict.off_topic:
        return verdict
    parts: list[Hit] = []
    for hits in answers:
        if hits and hits[0].score >= verdict.threshold and all(hits[0].article != p.article for p in parts):
            parts.append(hits[0])
    if all(any(p.article == c.article for c in verdict.confident) for p in parts):
        return verdict
    rest = [c for c in verdict.confident if all(c.article != p.article for p in parts)]
    return replace(verdict, confident=[*parts, *rest][: settings.max_choices + 1], candidates=[])


def judge_question(
    knowledge_base: KnowledgeBase, query: str, language: str, settings: AnswerSettings, *, off_topic: bool
) -> Verdict:
    """What the bot does with `query`: search, decide, and for a message that asks two or three
    questions, each part's answer too. `off_topic`: the NLU took the message as off-topic."""
    hits = knowledge_base.search(query, language, k=settings.max_choices + 1)
    verdict = decide(hits, settings, off_topic=off_topic, language=language)
    if len(parts := question_parts(query, language)) > 1:
        verdict = with_parts(verdict, [knowledge_base.search(part, language, k=1) for part in parts], settings)
    return verdict


def trace(verdict: Verdict, tracker: Tracker) -> dict[str, Any]:
    """Why the assistant answered as it did, kept with its reply for the reviewers' transcript:
    Rasa's intent and confidence, the ranked articles with their scores, the decision."""
    intent = tracker.latest_message.get("intent") or {}
    return {
        "intent": intent.get("name"),
        "confidence": None if intent.get("confidence") is None else round(float(intent["confidence"]), 4),
        "ranking": [{"article_id": hit.article.id, "score": round(hit.score, 4)} for hit in verdict.ranked],
        "decision": verdict.decision,
        "threshold": verdict.threshold,
    }


def article_choice(article: Article) -> dict[str, str]:
    """A button that answers with `article`."""
    return {"title": article.title, "payload": choice_payload(article.id), "article_id": article.id}


def top_intent(tracker: Tracker) -> str | None:
    """The NLU's best real intent (under a FallbackClassifier verdict, the runner-up it beat)."""
    for ranked in tracker.latest_message.get("intent_ranking") or [tracker.latest_message.get("intent") or {}]:
        name = ranked.get("name")
        if name and name != "nlu_fallback":
            return name
    return None


class ActionAnswerQuestion(Action):
    def __init__(self, knowledge_base: KnowledgeBase, settings: AnswerSettings = AnswerSettings()):
        self._kb = knowledge_base
        self._settings = settings

    def name(self) -> str:
        return "action_answer_question"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        latest = tracker.latest_message
        if (latest.get("intent") or {}).get("name") == "choose_article":
            language = tracker.get_slot("language") or "en"
            # A button press names its article; its payload text is no question to search for.
            chosen = next(
                (e.get("value") for e in latest.get("entities") or [] if e.get("entity") == "article_id"), None
            )
            article = self._kb.get(chosen, language) if isinstance(chosen, str) else None
            if article is None:
                dispatcher.utter_message(response="utter_article_unavailable")
                return [SlotSet("article_id", None), SlotSet("last_article_id", None)]  # a "no" now rates nothing
            return self._answer(dispatcher, article, score=None, runners_up=[])

        return self.answer(dispatcher, self.judge(latest.get("text") or "", tracker), tracker)

    def judge(self, query: str, tracker: Tracker) -> Verdict:
        """Search the knowledge base for `query`. Public so that other actions can treat a
        message as a question."""
        language = tracker.get_slot("language") or "en"
        off_topic = top_intent(tracker) == "out_of_scope"
        verdict = judge_question(self._kb, query, language, self._settings, off_topic=off_topic)
        if not verdict.confident:
            best = verdict.ranked[0].score if verdict.ranked else 0
            # Logs are kept longer than conversations: no personal data in them.
            logger.info("No confident answer (best %.3f < %.3f) for %r", best, verdict.threshold, redact(query))
        return verdict

    def answer(self, dispatcher: CollectingDispatcher, verdict: Verdict, tracker: Tracker) -> list[EventType]:
        """Answer with the verdict's best article. Without one: an off-topic message is told what
        the assistant can help with and offered a person (a handoff only if the user takes it);
        an in-domain question goes to a person, its best candidates shown meanwhile. The reply
        carries the verdict's trace."""
        why = trace(verdict, tracker)
        if verdict.confident:
            best, *runners_up = verdict.confident
            return self._answer(dispatcher, best.article, score=best.score, runners_up=runners_up, why=why)
        if verdict.off_topic:
            offer = [{"title": text("button_talk_to_person", verdict.language), "payload": REQUEST_HUMAN}]
            dispatcher.utter_message(response="utter_out_of_scope", json_message={"choices": offer, "trace": why})
            return [SlotSet("last_article_id", None)]
        candidates = [article_choice(hit.article) for hit in verdict.candidates]
        return hand_off(dispatcher, "low_confidence", candidates, why)

    def _answer(
        self,
        dispatcher: CollectingDispatcher,
        article: Article,
        *,
        score: float | None,
        runners_up: list[Hit],
        why: dict[str, Any] | None = None,
    ) -> list[EventType]:
        dispatcher.utter_message(
            json_message={
                "text": article.body,
                "article_id": article.id,
                "title": article.title,
                "score": None if score is None else round(score, 4),
                "choices": [article_choice(hit.article) for hit in runners_up[: self._settings.max_choices]],
                **({"trace": why} if why else {}),  # None for a button's article
            }
        )
        return [
            SlotSet("last_article_id", article.id),
            SlotSet("runner_up_ids", [hit.article.id for hit in runners_up]),
            SlotSet("article_id", None),
        ]
