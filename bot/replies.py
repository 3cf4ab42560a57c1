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
    "queue_position": {
        "en": "You are number {position} in the queue.",
        "zh": "您目前排在第 {position} 位。",
    },
    "nobody_online": {
        "en": "Nobody from our support team is online right now. Please leave your message here, "
        "with an email address or phone number if you like, and we'll reply in this chat as soon as we can.",
        "zh": "客服人员暂时都不在线。请在这里留言（如方便，可留下邮箱或电话），我们会尽快在此对话中回复您。",
    },
    "queue_timeout": {
        "en": "Sorry for the wait: everyone on our team is busy. You can keep waiting, go back to the "
        "virtual assistant, or leave a message and we'll reply here.",
        "zh": "抱歉久等了，客服人员都在忙。您可以继续等待、返回智能助手，或者留言，我们会在这里回复您。",
    },
    "keep_waiting": {"en": "Keep waiting", "zh": "继续等待"},
    "back_to_bot": {"en": "Back to the assistant", "zh": "返回智能助手"},
    "leave_message": {"en": "Leave a message", "zh": "留言"},
    "still_waiting": {
        "en": "OK, you're still in the queue: number {position}.",
        "zh": "好的，您仍在排队，您是第 {position} 位。",
    },
    "back_with_bot": {
        "en": "You're back with the virtual assistant. What can I help you with?",
        "zh": "已为您返回智能助手，请问有什么可以帮您？",
    },
    "leave_your_message": {
        "en": "Please leave your message here, with an email address or phone number if you like, "
        "and we'll reply in this chat as soon as we can.",
        "zh": "请在这里留言（如方便，可留下邮箱或电话），我们会尽快在此对话中回复您。",
    },
    "ticket_noted": {
        "en": "Thanks, we've noted that. Someone from our team will reply here as soon as we can.",
        "zh": "收到，已为您记录。客服人员会尽快在这里回复您。",
    },
    "agent_joined": {
        "en": "{name} from our support team has joined the chat.",
        "zh": "客服 {name} 已加入对话。",
    },
    "agent_handed_back": {
        "en": "{name} has left the chat; you're back with the virtual assistant. Did {name} solve your problem?",
        "zh": "客服 {name} 已离开对话，接下来由智能助手为您服务。{name} 解决您的问题了吗？",
    },
    "agent_closed": {
        "en": "{name} has closed this chat. Did {name} solve your problem? You can ask me anything else here.",
        "zh": "客服 {name} 已结束本次对话。{name} 解决您的问题了吗？如有其他问题可以继续问我。",
    },
    "helpful": {"en": "👍 Helpful", "zh": "👍 有帮助"},
    "not_helpful": {"en": "👎 Not helpful", "zh": "👎 没帮助"},
    "button_expired": {"en": "This button is no longer available.", "zh": "这个按钮已失效。"},
    "person_helped": {"en": "👍 Yes", "zh": "👍 解决了"},
    "person_did_not_help": {"en": "👎 No", "zh": "👎 没解决"},
    "rated_person": {
        "en": "Thank you for your feedback!",
        "zh": "感谢您的反馈！",
    },
    "no_words": {
        "en": "Could you tell me in words what you need help with?",
        "zh": "请用文字描述一下您需要什么帮助？",
    },
    "too_long": {
        "en": "Sorry, that message is too long for me. Could you ask your question more briefly?",
        "zh": "抱歉，这条消息太长了。能简短地描述一下您的问题吗？",
    },
    "telegram_help": {
        "en": "Ask me anything about your plan, bills, roaming, SIM card, broadband or account, in "
        "English or Chinese, and I'll answer from our help articles.\n\n"
        "Under an answer, tap 👍 or 👎 to tell me whether it helped.\n"
        "/human - talk to a person\n/start - start again\n/help - this message",
        "zh": "套餐、账单、漫游、SIM卡、宽带、账户等问题，用中文或英文直接问我，我会从帮助文章中为您解答。\n\n"
        "回答下方可以点 👍 或 👎 告诉我是否有帮助。\n"
        "/human - 转人工客服\n/start - 重新开始\n/help - 查看本说明",
    },
    "text_only": {
        "en": "Sorry, I can only read text messages. Please type your question.",
        "zh": "抱歉，我只能读取文字消息，请直接输入您的问题。",
    },
}


def reply(key: str, language: str) -> str:
    texts = REPLIES[key]
    return texts.get(language, texts["en"])
