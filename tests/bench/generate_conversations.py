"""Conversations that look like Touchpoint's traffic, by the hundred thousand, for the review
list's benchmark (tests/bench/bench_review.py) and for trying the review pages on a full database.

    python tests/bench/generate_conversations.py --database-url URL [--conversations 100000]
        [--messages 1000000] [--days 90] [--end YYYY-MM-DD] [--seed 1]

The database is migrated first and must hold no conversations yet. Every row is what the gateway,
the state machine and the desk would have stored (`bot.gateway`, `bot.conversations`): a user's
message then the bot's reply, an answer with its article, score, title, choices and trace, the
system's notices in the user's language, agents' messages, handoffs with their claims and
tickets, ratings of answers and of agents ("handoff:<id>"), notes, and a few reviewers' labels.

The traffic: channels telegram / widget / api 45 / 45 / 10 %, English and Chinese about half
each, over --days days up to --end (default today, UTC), busier on weekdays and in the day (China
time) than at night, ~20 % of conversations handed off to a person. Questions are the demo
knowledge base's own (knowledge_base/articles), a few with phone numbers, e-mail addresses or
bank card numbers in them. Agents (role agent) work 08:00-22:00 China time; outside those
hours a handoff finds nobody online. Agents and the reviewer `reviewer` are made (or have their
password reset) with the password printed at the end.

Rows are written with bulk inserts, 10,000 at a time, with explicit ids (on PostgreSQL the id
sequences are moved past them after); the same --seed and --end give the same database.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import math
import random
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, insert, select, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bot import vocabulary  # noqa: E402
from bot.auth import hash_password  # noqa: E402
from bot.conversations import back_button, rating_choices, waiting_choices  # noqa: E402
from bot.store import Store  # noqa: E402
from bot.store.models import Claim, Conversation, Feedback, Handoff, Message, Note, ReviewLabel, Ticket  # noqa: E402
from bot.strings import text as say  # noqa: E402
from knowledge_base.articles import Article, read_article_files  # noqa: E402

BATCH = 10_000  # rows per INSERT
BLOCK = 1_000  # conversations generated, then written, at a time (~10,000 messages)
PASSWORD = "touchpoint-bench-staff"
AGENTS = (  # username, name, share of the claims
    ("alice", "Alice Chen", 30),
    ("zhangwei", "Zhang Wei", 25),
    ("ben", "Ben Wright", 20),
    ("lina", "Li Na", 15),
    ("priya", "Priya Patel", 10),
)
REVIEWER = ("reviewer", "Rita Reviewer")
CHANNELS = {"telegram": 45, "widget": 45, "api": 10}
HANDED_OFF = 0.20
REASONS = {"low_confidence": 50, "user_request": 35, "repeated_not_helpful": 10, "service_error": 5}
# What became of a handoff made while agents were online.
STORIES = {"claimed": 66, "cancelled": 12, "timeout_ticket": 12, "ticket": 10}
REVIEWED = 0.02
LABELS = {"bot_right": 50, "should_answer": 20, "missing_article": 15, "agent_issue": 5, "other": 10}
CHINA = timedelta(hours=8)
OPEN_HOURS = range(8, 22)  # China time, when agents are online
# Conversations started in each hour of the day, China time.
HOURLY = (3, 1.5, 1, 0.8, 0.8, 1.2, 3, 6, 9, 12, 14, 13, 10, 11, 13, 13, 12, 11, 10, 12, 14, 13, 10, 6)
TABLES = (Conversation, Message, Handoff, Claim, Ticket, Feedback, Note, ReviewLabel)  # in foreign-key order

TALK = {
    "en": {
        "human": ("agent", "talk to a person", "I want to speak to a human", "real person please", "customer service"),
        "back": ("back", "cancel", "never mind"),
        "off_topic": (
            "what's the weather in Shanghai tomorrow", "tell me a joke", "who won the football last night",
            "can you book me a taxi", "what is the meaning of life",
        ),
        "greet": ("hi", "hello", "hey there"),
        "thanks": ("thanks", "thank you!", "cheers"),
        "pii": (
            "{q} My number is {phone}.", "{q} You can reach me at {email}", "{q} my card is {card}",
            "Hi, {phone} here. {q}", "{q} (account email {email}, phone {phone})",
        ),
        "left": (
            "Please call me back on {phone}, my internet has been down since yesterday.",
            "My bill is wrong, I was charged twice. Email me at {email}.", "I need to cancel my contract, call {phone}",
            "Payment failed with card {card}, please check", "Roaming is not working in Japan, reach me at {email}",
            "Still no answer?", "I need help with my plan, please get back to me",
        ),
        "agent": (
            "Hi, this is {name}. I'm looking at your question now.",
            "Could you tell me the phone number on the account?",
            "Thanks, one moment while I check.", "I've found the problem and fixed it on our side.",
            "It should work within 10 minutes. Anything else?", "I've sent you a link by SMS.",
            "Sorry for the trouble! I've added a credit to your account.",
        ),
        "user": ("ok thanks", "It's {phone}", "still not working", "great, that worked", "yes please", "how long?"),
        "note": (
            "Customer was double-charged; refund requested from billing.", "Reset the APN remotely; asked to restart.",
            "Escalated to the network team (NET-{n}).", "Wants to port out; offered the retention deal.",
            "Sent the e-fapiao again by hand.",
        ),
        "names": ("Emma", "Oliver", "Sophie", "James", "Mia", "Lucas", "Hannah", "Daniel", "Grace", "Tom"),
        "mail": ("emma.wilson", "j.smith", "liam", "olivia.b", "noah.k", "sam.taylor"),
    },
    "zh": {
        "human": ("人工", "转人工", "人工客服", "我要找人工", "真人客服"),
        "back": ("返回", "算了", "取消"),
        "off_topic": ("明天上海天气怎么样", "讲个笑话", "昨晚球赛谁赢了", "帮我叫个车", "你喜欢吃什么"),
        "greet": ("你好", "您好"),
        "thanks": ("谢谢", "多谢"),
        "pii": (
            "{q} 我的手机号是{phone}", "{q}，我的邮箱是{email}", "{q} 银行卡号{card}", "我手机{phone}，{q}",
            "{q} 联系电话：{phone}",
        ),
        "left": (
            "宽带从昨天就断了，请回电{phone}", "话费扣了两次，麻烦联系我{email}", "我要销户，电话{phone}",
            "银行卡{card}扣款失败了，帮我查一下", "在国外漫游用不了，邮箱{email}", "怎么还没人回复？",
            "套餐的问题请尽快联系我",
        ),
        "agent": (
            "您好，我是{name}，正在为您查看。", "请提供一下账户的手机号码。", "好的，请稍等，我查一下。",
            "问题已经在后台处理好了。", "10分钟内应该就能恢复，还有其他问题吗？", "已经通过短信给您发了链接。",
            "给您带来不便很抱歉，已为您的账户补偿了话费。",
        ),
        "user": ("好的谢谢", "是{phone}", "还是不行", "可以了，谢谢", "好的", "要多久？"),
        "note": (
            "用户要求退款，已提交账务处理。", "远程重置了网络设置。", "已升级给网络组处理（NET-{n}）。",
            "用户想携号转网，已介绍挽留优惠。",
        ),
        "names": ("王芳", "李伟", "张敏", "刘洋", "陈静", "杨磊", "赵丽", "黄强"),
        "mail": ("zhangwei", "li.na", "wangfang88", "chen_jie", "liuyang1990"),
    },
}  # fmt: skip
MAIL_DOMAINS = ("example.com", "gmail.com", "outlook.com", "qq.com", "163.com")


def weighted(rng: random.Random, table: dict[str, float]) -> str:
    return rng.choices(list(table), weights=list(table.values()))[0]


def luhn_complete(digits: str) -> str:
    """`digits` with the check digit that makes the number pass the Luhn check."""
    total = 0
    for position, digit in enumerate(reversed(digits)):
        value = int(digit) * (2 if position % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return digits + str(-total % 10)


class Personal:
    """Made-up personal data of the shapes bot.redaction finds."""

    def __init__(self, rng: random.Random):
        self.rng = rng

    def phone(self, language: str) -> str:
        r, n = self.rng.random(), self.rng.randrange
        if language == "zh" or r < 0.3:
            number = f"1{self.rng.choice('3456789')}{n(10)}{n(10**8):08d}"
            return number if self.rng.random() < 0.7 else f"{number[:3]}-{number[3:7]}-{number[7:]}"
        if r < 0.65:
            return f"+44 20 7946 0{n(1000):03d}"
        return f"+1 (415) 555-01{n(100):02d}"

    def email(self, language: str) -> str:
        name = self.rng.choice(TALK[language]["mail"])
        return f"{name}{self.rng.randrange(100)}@{self.rng.choice(MAIL_DOMAINS)}"

    def card(self) -> str:
        prefix = self.rng.choice(("622202", "621700", "453201", "550012"))
        number = luhn_complete(prefix + "".join(str(self.rng.randrange(10)) for _ in range(9)))
        return number if self.rng.random() < 0.5 else " ".join(number[i : i + 4] for i in range(0, 16, 4))

    def fill(self, template: str, language: str, **fields: str) -> str:
        return template.format(
            phone=self.phone(language),
            email=self.email(language),
            card=self.card(),
            n=self.rng.randrange(9999),
            **fields,
        )


class KnowledgeBase:
    """The demo articles, some far more asked about than others (the same ones in both languages)."""

    def __init__(self, files: list[tuple[Article, str]], rng: random.Random):
        self.articles = {lang: [a for a, _ in files if a.language == lang and a.status == "published"] for lang in TALK}
        ids = sorted({a.id for a in self.articles["en"]})
        rng.shuffle(ids)
        rank = {article_id: number for number, article_id in enumerate(ids)}
        self.weights = {
            lang: [1 / (rank[a.id] + 1) ** 0.9 for a in articles] for lang, articles in self.articles.items()
        }

    def popular(self, rng: random.Random, language: str) -> Article:
        return rng.choices(self.articles[language], weights=self.weights[language])[0]

    def other(self, rng: random.Random, article: Article) -> Article:
        while (picked := rng.choice(self.articles[article.language])).id == article.id:
            pass
        return picked


def choice(article: Article) -> dict[str, str]:
    return {"title": article.title, "payload": vocabulary.choice_payload(article.id), "article_id": article.id}


def button(key: str, payload: str, language: str) -> dict[str, str]:
    return {"title": say(f"button_{key}", language), "payload": payload}


class Rows:
    """The rows of a block of conversations, per table; ids run on from block to block."""

    def __init__(self):
        self.tables: dict[type, list[dict]] = {table: [] for table in TABLES}
        self.made = {table: 0 for table in TABLES}

    def add(self, table: type, **row) -> dict:
        self.made[table] += 1
        if table not in (Conversation, Ticket):  # keyed by their own id, or by their handoff's
            row["id"] = self.made[table]
        self.tables[table].append(row)
        return row

    def counts(self) -> dict[str, int]:
        return {table.__tablename__: made for table, made in self.made.items()}

    def take(self) -> dict[type, list[dict]]:
        taken, self.tables = self.tables, {table: [] for table in TABLES}
        return taken


def at(moment: float) -> datetime:
    return datetime.fromtimestamp(moment, UTC)


class Chat:
    """A conversation being told: its row, its clock, what has happened in it so far."""

    def __init__(self, row: dict, start: float):
        self.row = row
        self.id, self.channel, self.language = row["id"], row["channel"], row["language"]
        self.t = start
        self.messages = 0
        self.first_question: int | None = None
        self.answered: list[str] = []
        self.agent: tuple[int, str] | None = None


class Generator:
    """Tells conversations into `rows`, one at a time, as the gateway would have stored them."""

    def __init__(self, rng, kb: KnowledgeBase, agents: list[tuple[int, str, int]], reviewer_id: int, end: float):
        self.rng, self.kb, self.end = rng, kb, end
        self.agents, self.reviewer_id = agents, reviewer_id
        self.personal = Personal(rng)
        self.rows = Rows()
        self.bias = 0.0  # how many messages a conversation ends up longer than aimed at, on average
        self.told = 0
        self.made = 0

    # --- a conversation ---------------------------------------------------------------------

    def conversation(self, number: int, start: float, aim: float) -> None:
        rng = self.rng
        channel = weighted(rng, CHANNELS)
        language = "zh" if rng.random() < 0.5 else "en"
        named = channel == "telegram" and rng.random() < 0.7 or channel == "api" and rng.random() < 0.3
        row = self.rows.add(
            Conversation,
            id=self._conversation_id(channel, number),
            channel=channel,
            language=language,
            state="bot",
            user_name=rng.choice(TALK[language]["names"]) if named else None,
            token_hash=hashlib.sha256(f"{number}-{rng.random()}".encode()).hexdigest() if channel == "api" else None,
            created_at=at(start),
            updated_at=at(start),
            reviewed_at=None,
            reviewed_by=None,
        )
        chat = Chat(row, start)
        target = 2 + round(rng.gammavariate(1.2, max(0.2, aim - 2 - self.bias) / 1.2))
        if channel == "telegram" and rng.random() < 0.4:  # the /start command
            self.user(chat, vocabulary.GREET, display="/start")
            self.bot(chat, say("utter_greet", language))
        handed_off = rng.random() < HANDED_OFF
        while chat.messages < target - (8 if handed_off else 0) or not (handed_off or chat.messages > 1):
            self.turn(chat)
        if handed_off:
            self.hand_off(chat, weighted(rng, REASONS))
            while chat.row["state"] == "bot" and chat.messages < target:
                self.turn(chat)
        row["updated_at"] = at(chat.t)
        if rng.random() < REVIEWED:
            self.review(chat)
        self.told += 1
        self.made += chat.messages
        self.bias += (chat.messages - target - self.bias) / self.told

    def _conversation_id(self, channel: str, number: int) -> str:
        rng = self.rng
        if channel == "telegram":
            return f"telegram:{5_000_000_000 + number * 17 + rng.randrange(17)}"
        if channel == "widget":
            return f"widget:{rng.getrandbits(128):032x}"
        return f"crm-{number:07d}" if rng.random() < 0.5 else f"shop/{number:06d}-{rng.getrandbits(24):06x}"

    def turn(self, chat: Chat) -> None:
        """The user says something; the assistant answers (and the user may rate it)."""
        rng, language = self.rng, chat.language
        r = rng.random()
        if r < 0.05:
            self.user(chat, rng.choice(TALK[language]["off_topic"]))
            hits = self.hits(self.kb.popular(rng, language), rng.uniform(0.1, 0.45))
            offer = [button("talk_to_person", vocabulary.REQUEST_HUMAN, language)]
            why = self.trace(hits, "off_topic", intent="out_of_scope", threshold=0.5)
            self.bot(chat, say("utter_out_of_scope", language), choices=offer, trace=why)
        elif r < 0.09:
            kind = rng.choice(("greet", "thanks"))
            self.user(chat, rng.choice(TALK[language][kind]))
            self.bot(chat, say("utter_greet" if kind == "greet" else "utter_you_are_welcome", language))
        else:
            article, runners_up = self.answer(chat)
            r = rng.random()
            if runners_up and r < 0.35:
                picked = rng.choice(runners_up)
                self.user(chat, vocabulary.choice_payload(picked.id), display=picked.title)
                self.bot(chat, picked.body, article=picked)  # a button's article: no score, no trace
            elif r < 0.25:
                self.rate(chat, article, True)
            elif r < 0.33:
                self.rate(chat, article, False)

    def answer(self, chat: Chat) -> tuple[Article, list[Article]]:
        """A question from the knowledge base, and the answer (now and then the wrong article)."""
        rng = self.rng
        article = self.kb.popular(rng, chat.language)
        self.user(chat, self.asked(article, chat.language), question=True)
        top = rng.uniform(0.32, 0.95)
        hits = self.hits(article, top)
        if rng.random() < 0.1:
            (first, _), (second, score) = hits[0], hits[1]
            hits[0], hits[1] = (second, top), (first, score)
        best = hits[0][0]
        runners_up = [a for a, score in hits[1:] if score >= 0.3 and top - score <= 0.05]
        why = self.trace(hits, "choices" if runners_up else "answer")
        self.bot(chat, best.body, article=best, score=round(top, 4), choices=[choice(a) for a in runners_up], trace=why)
        chat.answered.append(best.id)
        return best, runners_up

    def rate(self, chat: Chat, article: Article, helpful: bool) -> None:
        language = chat.language
        if helpful:
            self.user(chat, vocabulary.HELPFUL, display=say("button_helpful", language))
            self.bot(chat, say("utter_feedback_thanks", language))
        else:
            self.user(chat, vocabulary.NOT_HELPFUL, display=say("button_not_helpful", language))
            alternatives = [choice(self.kb.other(self.rng, article))] if self.rng.random() < 0.6 else []
            key = "utter_feedback_sorry" if alternatives else "utter_feedback_sorry_no_alternatives"
            self.bot(chat, say(key, language), choices=alternatives)
        self.rows.add(Feedback, conversation_id=chat.id, article_id=article.id, helpful=helpful, created_at=at(chat.t))

    def asked(self, article: Article, language: str) -> str:
        """One of the article's questions as a user types it, now and then with personal data."""
        rng = self.rng
        question = rng.choice(article.questions)
        if language == "en" and rng.random() < 0.3:
            question = question.lower().rstrip("?")
        if rng.random() < 0.08:
            question = self.personal.fill(rng.choice(TALK[language]["pii"]), language, q=question)
        return question

    def hits(self, article: Article, top: float) -> list[tuple[Article, float]]:
        """What the search ranked: `article` scoring `top`, then three others, each lower."""
        others = [a for a in self.rng.sample(self.kb.articles[article.language], 4) if a.id != article.id][:3]
        hits, score = [(article, top)], top
        for other in others:
            score = max(0.01, score - self.rng.uniform(0.02, 0.2))
            hits.append((other, score))
        return hits

    def trace(self, hits, decision: str, *, intent: str = "ask_question", threshold: float = 0.3) -> dict:
        return {
            "intent": intent,
            "confidence": round(self.rng.uniform(0.45, 0.99), 4),
            "ranking": [{"article_id": a.id, "score": round(score, 4)} for a, score in hits],
            "decision": decision,
            "threshold": threshold,
        }

    # --- a person is asked for ----------------------------------------------------------------

    def hand_off(self, chat: Chat, reason: str) -> None:
        """The turn that asks for a person, then what became of the request."""
        rng, language = self.rng, chat.language
        candidates = []
        if reason == "low_confidence":
            article = self.kb.popular(rng, language)
            self.user(chat, self.asked(article, language), question=True)
            hits = self.hits(article, rng.uniform(0.08, 0.29))
            candidates = [choice(a) for a, score in hits if score >= 0.15][:3]
            key = "utter_handoff_low_confidence_with_candidates" if candidates else "utter_handoff_low_confidence"
            self.bot(chat, say(key, language), trace=self.trace(hits, "hand_off"))
        elif reason == "user_request":
            if rng.random() < 0.4:
                shown = "/human" if chat.channel == "telegram" else say("button_talk_to_person", language)
                self.user(chat, vocabulary.REQUEST_HUMAN, display=shown)
            else:
                self.user(chat, rng.choice(TALK[language]["human"]))
            self.bot(chat, say("utter_handoff_user_request", language))
        elif reason == "repeated_not_helpful":
            first, _ = self.answer(chat)
            self.rate(chat, first, False)
            second, _ = self.answer(chat)
            self.user(chat, vocabulary.NOT_HELPFUL, display=say("button_not_helpful", language))
            self.bot(chat, say("utter_handoff_repeated_not_helpful", language))
            self.rows.add(Feedback, conversation_id=chat.id, article_id=second.id, helpful=False, created_at=at(chat.t))
        else:  # service_error: Rasa did not answer
            self.user(chat, self.asked(self.kb.popular(rng, language), language), question=True)
            self.bot(chat, say("service_error", language))
        self.requested(chat, reason, candidates)

    def requested(self, chat: Chat, reason: str, candidates: list[dict]) -> None:
        rng, language = self.rng, chat.language
        china_hour = (at(chat.t) + CHINA).hour
        if china_hour not in OPEN_HOURS or rng.random() < 0.02:  # nobody online
            self.handoff(chat, reason, outcome="no_agent")
            offer = [*candidates, button("leave_message", vocabulary.LEAVE_MESSAGE, language)]
            self.system(chat, "nobody_online", choices=offer)
            if rng.random() < 0.35:
                self.press(chat, vocabulary.LEAVE_MESSAGE, "leave_message")
                self.ticket(chat, self.handoff(chat, reason))
            return
        handoff = self.handoff(chat, reason)
        chat.row["state"] = "waiting"
        self.system(chat, "queue_position", choices=[*candidates, back_button(language)], position=rng.randint(1, 4))
        story = weighted(rng, STORIES)
        if story != "cancelled" and rng.random() < 0.2:  # a question while waiting
            self.answer(chat)
            self.system(chat, "waiting_bot_answered", choices=[back_button(language)], position=rng.randint(1, 3))
        if story == "claimed":
            chat.t += rng.lognormvariate(math.log(100), 0.9)
            self.claim(chat, handoff)
        elif story == "cancelled":
            chat.t += rng.uniform(20, 300)
            self.back(chat)
            self.system(chat, "back_with_bot")
            self.end_handoff(chat, handoff, "cancelled")
        else:
            if story == "timeout_ticket":
                chat.t += 300 + rng.uniform(0, 30)
                self.system(chat, "queue_timeout", choices=waiting_choices(language), kind="queue_timeout")
            self.press(chat, vocabulary.LEAVE_MESSAGE, "leave_message")
            self.ticket(chat, handoff)

    def ticket(self, chat: Chat, handoff: dict) -> None:
        """The user leaves a message; an agent takes it up hours later (if that is before the end)."""
        rng, language = self.rng, chat.language
        self.rows.add(Ticket, handoff_id=handoff["id"], created_at=at(chat.t))
        chat.row["state"] = "ticket"
        self.system(chat, "leave_your_message", choices=[back_button(language)])
        self.user(chat, self.personal.fill(rng.choice(TALK[language]["left"]), language))
        self.system(chat, "ticket_noted", choices=[back_button(language)])
        later = chat.t + rng.uniform(0.2, 16) * 3600
        while (at(later) + CHINA).hour not in OPEN_HOURS:
            later += 3600
        if rng.random() < 0.85 and later < self.end:
            chat.t = later
            self.claim(chat, handoff)

    def claim(self, chat: Chat, handoff: dict) -> None:
        """An agent takes the conversation, talks with the user, and ends it (or the user leaves)."""
        rng, language = self.rng, chat.language
        agent_id, name, _ = rng.choices(self.agents, weights=[share for *_, share in self.agents])[0]
        claim = self.rows.add(
            Claim, handoff_id=handoff["id"], agent_id=agent_id, claimed_at=at(chat.t), ended_at=None, outcome=None
        )
        chat.row["state"], chat.agent = "agent", (agent_id, name)
        self.system(chat, "agent_joined", choices=[back_button(language)], name=name)
        lines = TALK[language]["agent"]
        for number in range(rng.randint(1, 4)):
            if number and rng.random() < 0.15:  # an article pasted in from the knowledge base
                article = self.kb.popular(rng, language)
                self.message(chat, "agent", article.body, article_id=article.id, data={"agent": name}, after=(20, 90))
            else:
                line = lines[0] if number == 0 else rng.choice(lines[1:])
                self.message(chat, "agent", line.format(name=name), data={"agent": name}, after=(10, 90))
            if rng.random() < 0.8:
                self.user(chat, self.personal.fill(rng.choice(TALK[language]["user"]), language))
        if rng.random() < 0.3:
            note = self.personal.fill(rng.choice(TALK[language]["note"]), language)
            self.rows.add(Note, conversation_id=chat.id, author_id=agent_id, text=note, created_at=at(chat.t + 5))
        outcome = weighted(rng, {"closed": 50, "returned": 40, "user_left": 10})
        chat.t += rng.uniform(10, 120)
        if outcome == "user_left":
            self.back(chat)
            self.system(chat, "back_with_bot_from_agent", name=name)
        else:
            key = "agent_closed" if outcome == "closed" else "agent_handed_back"
            self.system(chat, key, choices=rating_choices(language), name=name)
        claim["ended_at"], claim["outcome"] = at(chat.t), outcome
        self.end_handoff(chat, handoff, outcome)
        if outcome != "user_left" and rng.random() < 0.45:
            helped = rng.random() < 0.75
            key = "person_helped" if helped else "person_did_not_help"
            self.press(chat, vocabulary.PERSON_HELPED if helped else vocabulary.PERSON_DID_NOT_HELP, key)
            self.rows.add(
                Feedback, conversation_id=chat.id, article_id=f"handoff:{handoff['id']}", helpful=helped,
                created_at=at(chat.t),
            )  # fmt: skip
            self.system(chat, "rated_person")

    def handoff(self, chat: Chat, reason: str, outcome: str | None = None) -> dict:
        moment = at(chat.t)
        return self.rows.add(
            Handoff, conversation_id=chat.id, reason=reason, created_at=moment,
            ended_at=moment if outcome else None, outcome=outcome,
        )  # fmt: skip

    def end_handoff(self, chat: Chat, handoff: dict, outcome: str) -> None:
        handoff["ended_at"], handoff["outcome"] = at(chat.t), outcome
        chat.row["state"] = "bot"

    def back(self, chat: Chat) -> None:
        if self.rng.random() < 0.5:
            self.press(chat, vocabulary.BACK_TO_BOT, "back_to_bot")
        else:
            self.user(chat, self.rng.choice(TALK[chat.language]["back"]))

    def review(self, chat: Chat) -> None:
        """A reviewer read the conversation and labelled it."""
        rng = self.rng
        moment = at(min(chat.t + rng.uniform(3600, 10 * 86400), max(chat.t, self.end)))
        chat.row["reviewed_at"], chat.row["reviewed_by"] = moment, self.reviewer_id
        label = weighted(rng, LABELS)
        if label == "agent_issue" and chat.agent is None:
            label = "other"
        article_id = None
        if label == "should_answer":
            article_id = self.kb.popular(rng, chat.language).id
        elif label == "bot_right" and chat.answered:
            article_id = chat.answered[0]
        self.rows.add(
            ReviewLabel, conversation_id=chat.id, message_id=chat.first_question if rng.random() < 0.5 else None,
            label=label, article_id=article_id, comment=rng.choice(("", "", "checked", "see the second answer")),
            author_id=self.reviewer_id, created_at=moment,
        )  # fmt: skip

    # --- messages ---------------------------------------------------------------------------

    def message(self, chat: Chat, role: str, said: str, *, data: dict, after: tuple[float, float], **fields) -> dict:
        if chat.messages:
            chat.t += self.rng.uniform(*after)
        chat.messages += 1
        return self.rows.add(
            Message, conversation_id=chat.id, role=role, channel=chat.channel, text=said,
            article_id=fields.get("article_id"), score=fields.get("score"), data=data, created_at=at(chat.t),
        )  # fmt: skip

    def user(self, chat: Chat, said: str, *, display: str | None = None, question: bool = False) -> None:
        data: dict = {"display": display} if display else {}
        if chat.channel == "widget":
            data["client_id"] = f"{self.rng.getrandbits(64):016x}"
        data["language"] = chat.language
        row = self.message(chat, "user", said, data=data, after=(4, 60))
        if question and chat.first_question is None:
            chat.first_question = row["id"]

    def press(self, chat: Chat, payload: str, key: str) -> None:
        self.user(chat, payload, display=say(f"button_{key}", chat.language))

    def bot(self, chat: Chat, said: str, *, article: Article | None = None, score=None, choices=(), trace=None):
        data = {"title": article.title if article else None, "choices": list(choices)}
        if trace:
            data["trace"] = trace
        article_id = article.id if article else None
        self.message(chat, "bot", said, article_id=article_id, score=score, data=data, after=(0.4, 2.5))

    def system(self, chat: Chat, key: str, *, choices=(), kind: str | None = None, **fields) -> None:
        data: dict = {"choices": list(choices)}
        if kind:
            data["kind"] = kind
        self.message(chat, "system", say(key, chat.language, **fields), data=data, after=(0.01, 0.05))


# --- when, and the database -----------------------------------------------------------------------


def start_times(rng: random.Random, count: int, days: int, end: float) -> list[float]:
    """When each conversation starts, oldest first: more on weekdays, in the day (China time), as
    the weeks go by, and on one day when something went wrong."""
    first = end - days * 86400
    incident = rng.randrange(days)
    day_weights = []
    for day in range(days):
        weekday = (at(first + day * 86400) + CHINA).weekday()
        weight = (1.0, 1.0, 1.0, 1.0, 1.0, 0.75, 0.7)[weekday] * (1 + 0.4 * day / days)
        day_weights.append(weight * (2.5 if day == incident else 1))
    hour_weights = [HOURLY[(hour + 8) % 24] for hour in range(24)]  # by UTC hour
    chosen_days = rng.choices(range(days), weights=day_weights, k=count)
    chosen_hours = rng.choices(range(24), weights=hour_weights, k=count)
    moments = [
        min(first + day * 86400 + hour * 3600 + rng.uniform(0, 3600), end - rng.uniform(600, 3600))
        for day, hour in zip(chosen_days, chosen_hours, strict=True)
    ]
    return sorted(moments)


async def make_staff(store: Store) -> tuple[list[tuple[int, str, int]], int]:
    """The agents and the reviewer, with PASSWORD (an existing account has its password reset)."""
    password_hash = hash_password(PASSWORD)
    ids = {}
    for username, name, role in [(u, n, "agent") for u, n, _ in AGENTS] + [(*REVIEWER, "reviewer")]:
        user = await store.user_by_name(username)
        if user is None:
            user = await store.add_user(username, name, role, password_hash)
        elif user.role != role:
            raise SystemExit(f"there is a user {username!r} with the role {user.role}, not {role}")
        else:
            await store.set_password(username, password_hash)
        ids[username] = user.id
    return [(ids[username], name, share) for username, name, share in AGENTS], ids[REVIEWER[0]]


async def write(store: Store, tables: dict[type, list[dict]]) -> None:
    """One block's rows, table by table in foreign-key order, BATCH rows an INSERT."""
    async with store.engine.begin() as connection:
        for table, rows in tables.items():
            for offset in range(0, len(rows), BATCH):
                await connection.execute(insert(table.__table__), rows[offset : offset + BATCH])


async def finish_postgres(store: Store, counts: dict[str, int]) -> None:
    """Move each id sequence past the ids written, so the app's own inserts go on from there;
    then VACUUM ANALYZE: the planner learns the tables' sizes, and the visibility map is set as
    autovacuum keeps it on a live database (index-only scans need it; it may be off here)."""
    async with store.engine.begin() as connection:
        for table, last in counts.items():
            if last:
                await connection.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {last})"))
    async with store.engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.execute(text("VACUUM (ANALYZE)"))


async def generate(args: argparse.Namespace) -> dict[str, int]:
    """Fill the database; the number of rows written per table."""
    store = Store.from_url(args.database_url)
    try:
        await store.upgrade()
        async with store.engine.connect() as connection:
            existing = await connection.scalar(select(func.count()).select_from(Conversation.__table__))
        if existing:
            raise SystemExit(f"the database holds {existing:,} conversations already; give a fresh one")
        agents, reviewer_id = await make_staff(store)
        rng = random.Random(args.seed)
        kb = KnowledgeBase(read_article_files(ROOT / "knowledge_base" / "articles"), rng)
        end = datetime.combine(args.end, datetime.min.time(), UTC).timestamp()
        generator = Generator(rng, kb, agents, reviewer_id, end)
        moments = start_times(rng, args.conversations, args.days, end)
        started = time.perf_counter()
        for first in range(0, args.conversations, BLOCK):
            for number in range(first, min(first + BLOCK, args.conversations)):
                remaining = args.conversations - number
                aim = min(
                    max((args.messages - generator.made) / remaining, 2.0), 3 * args.messages / args.conversations
                )
                generator.conversation(number, moments[number], aim)
            await write(store, generator.rows.take())
            done = min(first + BLOCK, args.conversations)
            if done % (BLOCK * 10) == 0 or done == args.conversations:
                elapsed = time.perf_counter() - started
                print(f"{done:,} conversations, {generator.made:,} messages in {elapsed:.0f} s", flush=True)
        counts = generator.rows.counts()
        if store.engine.dialect.name == "postgresql":
            serial = {Conversation.__tablename__, Ticket.__tablename__}
            await finish_postgres(store, {table: n for table, n in counts.items() if table not in serial})
        counts["seconds"] = round(time.perf_counter() - started, 1)  # VACUUM ANALYZE included
        return counts
    finally:
        await store.close()


async def recreate(url: str) -> None:
    """An empty PostgreSQL database at `url`, made through the server's `postgres` database."""
    import asyncpg

    target = make_url(url)
    if not target.get_backend_name().startswith("postgresql"):
        raise SystemExit("--fresh: only for PostgreSQL")
    admin = target.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    connection = await asyncpg.connect(admin)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)')
        await connection.execute(f'CREATE DATABASE "{target.database}"')
    finally:
        await connection.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", required=True, help="e.g. postgresql+asyncpg://postgres@127.0.0.1/bench")
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=1_000_000, help="about this many in all")
    parser.add_argument("--days", type=int, default=90, help="spread over this many days before --end")
    parser.add_argument("--end", type=date.fromisoformat, default=datetime.now(UTC).date(), help="YYYY-MM-DD (UTC)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--fresh", action="store_true", help="PostgreSQL: drop the database if it exists and create it empty first"
    )
    args = parser.parse_args(argv)
    if args.conversations < 1 or args.days < 1:
        parser.error("--conversations and --days: at least 1")
    if args.messages < 2 * args.conversations:
        parser.error("--messages: at least two a conversation (a question and its answer)")
    if args.fresh:
        asyncio.run(recreate(args.database_url))
    started = time.perf_counter()
    counts = asyncio.run(generate(args))
    took = f"{counts.pop('seconds')} s, {time.perf_counter() - started:.1f} s with the migration and the staff"
    print(f"\nwrote in {took}:")
    for table, count in counts.items():
        print(f"  {table:14} {count:>10,}")
    staff = ", ".join(username for username, *_ in AGENTS)
    print(f"\nsign in as {REVIEWER[0]!r} (reviewer) or {staff} (agents), password {PASSWORD!r}")
    print(f"database: {make_url(args.database_url).render_as_string(hide_password=True)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
