"""The words the app, the channels and the action server share: intents, button payloads,
handoff reasons and the phrases that take a user back to the assistant.

Plain Python with no dependencies, so the action server imports it without the app and the app
imports it without rasa_sdk. A payload that starts with "/" is read by Rasa as an intent.
"""

from __future__ import annotations

import json
import re
import unicodedata

# Intents of Rasa's domain that the app or the actions name.
AFFIRM = "affirm"
DENY = "deny"
REQUEST_HUMAN_INTENT = "request_human"
OUT_OF_SCOPE = "out_of_scope"
CHOOSE_ARTICLE = "choose_article"

# Buttons answered by Rasa.
GREET = "/greet"
HELPFUL = "/" + AFFIRM
NOT_HELPFUL = "/" + DENY
REQUEST_HUMAN = "/" + REQUEST_HUMAN_INTENT
# Buttons answered by the app's conversation state machine, never sent to Rasa.
PERSON_HELPED = "/person_helped"
PERSON_DID_NOT_HELP = "/person_did_not_help"
KEEP_WAITING = "/keep_waiting"
BACK_TO_BOT = "/back_to_bot"
LEAVE_MESSAGE = "/leave_message"

STATE_MACHINE_PAYLOADS = (PERSON_HELPED, PERSON_DID_NOT_HELP, KEEP_WAITING, BACK_TO_BOT, LEAVE_MESSAGE)
# Every payload a button may send besides an article choice (channels refuse any other).
BUTTON_PAYLOADS = (HELPFUL, NOT_HELPFUL, REQUEST_HUMAN, *STATE_MACHINE_PAYLOADS)

# The catalogue key (bot/strings) of each button's label, to show a press as the user saw it.
BUTTON_LABELS = {
    HELPFUL: "button_helpful",
    NOT_HELPFUL: "button_not_helpful",
    REQUEST_HUMAN: "button_talk_to_person",
    PERSON_HELPED: "button_person_helped",
    PERSON_DID_NOT_HELP: "button_person_did_not_help",
    KEEP_WAITING: "button_keep_waiting",
    BACK_TO_BOT: "button_back_to_bot",
    LEAVE_MESSAGE: "button_leave_message",
}

CHOICE_PATTERN = re.compile(r'/choose_article\{"article_id":"[a-z0-9-]{1,120}"\}')

HANDOFF_REASONS = ("low_confidence", "user_request", "repeated_not_helpful", "service_error")


def choice_payload(article_id: str) -> str:
    """The payload of a button that answers with one article."""
    return f"/{CHOOSE_ARTICLE}" + json.dumps({"article_id": article_id}, separators=(",", ":"))


def is_button(payload: str) -> bool:
    return payload in (GREET, *BUTTON_PAYLOADS) or CHOICE_PATTERN.fullmatch(payload) is not None


# What users type to leave the queue, a ticket or an agent and get the assistant back. Matched on
# the whole message (lower case, punctuation and spaces dropped), so a question that merely
# contains "cancel" is not taken for one.
BACK_PHRASES = frozenset(
    {
        "back",
        "goback",
        "backtobot",
        "backtothebot",
        "backtotheassistant",
        "backtoassistant",
        "talktothebot",
        "cancel",
        "nevermind",
        "nvm",
        "stopwaiting",
        "idontneedaperson",
        "nopersonneeded",
        "返回",
        "返回智能助手",
        "返回助手",
        "返回机器人",
        "取消",
        "取消转人工",
        "不用转人工了",
        "不用人工了",
        "不需要人工",
        "不等了",
        "算了",
        "不用了",
    }
)


def _squeezed(text: str) -> str:
    return "".join(c for c in text.lower() if unicodedata.category(c)[0] in "LN")


def means_back_to_bot(text: str) -> bool:
    return text == BACK_TO_BOT or _squeezed(text) in BACK_PHRASES
