"""What the gateway itself says, in each language, when the bot cannot speak for itself."""

from __future__ import annotations

REPLIES = {
    "service_error": {
        "en": "Sorry, I'm having trouble answering right now. I've passed your message to our "
        "support team, and a person will reply here as soon as possible.",
        "zh": "抱歉，我暂时无法回答。您的消息已转给我们的客服团队，工作人员会尽快在这里回复您。",
    },
    "waiting_for_agent": {
        "en": "Thanks, your message has been passed to our support team. A person will reply here.",
        "zh": "收到，您的消息已转给客服团队，工作人员会在这里回复您。",
    },
}


def reply(key: str, language: str) -> str:
    texts = REPLIES[key]
    return texts.get(language, texts["en"])
