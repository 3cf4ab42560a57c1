"""The real python-telegram-bot Application, inside the real app, against a local fake Bot API
server over HTTP; Rasa is replaced at the transport. Long polling and the webhook both."""

from __future__ import annotations

import contextlib
import time

import pytest
from sqlalchemy import event
from starlette.testclient import TestClient

from bot.app import create_app
from bot.rasa_client import RasaClient
from bot.settings import Settings
from tests import databases
from tests.fake_rasa import FakeRasa, transport_client
from tests.fake_telegram import NOT_MODIFIED, TOKEN, FakeTelegram
from tests.staff import API_TOKEN, AUTHORIZATION

CHAT = 4242
SECRET = "s3cret_webhook-token"
EXPIRED = "This button is no longer available."
LONG_BODY = " ".join(f"**Step {i}:** open the app and check the roaming settings page carefully." for i in range(90))


def bot_reply(sent: dict) -> list[dict]:
    """What a trained Rasa would say: a greeting, a handoff, or an answer with two choices."""
    text, language = sent["message"], sent["metadata"]["language"]
    if text == "/greet":
        return [{"text": "您好！我是智能助手。" if language == "zh" else "Hi! I'm the virtual assistant."}]
    if text == "/request_human" or "person" in text:
        return [{"text": "Connecting you with a person."}, {"custom": {"handoff": {"reason": "user_request"}}}]
    if text in ("/affirm", "/deny"):
        return [{"custom": {"feedback": {"article_id": "roaming-activate", "helpful": text == "/affirm"}}},
                {"text": "Thanks!"}]  # fmt: skip
    if "long" in text:
        return [{"custom": {"text": LONG_BODY, "article_id": "roaming-rates", "title": "Roaming rates"}}]
    if "script" in text:
        return [{"custom": {"text": 'Type <b>"roaming"</b> & press <Enter>', "article_id": "x", "title": "A <i>"}}]
    title = "开通国际漫游" if language == "zh" else "Turn on international roaming"
    return [
        {
            "custom": {
                "text": "Open the app, go to **Services → Roaming** and switch it on.",
                "article_id": "roaming-activate",
                "title": title,
                "score": 0.8,
                "choices": [
                    {
                        "title": "Roaming rates",
                        "payload": '/choose_article{"article_id":"roaming-rates"}',
                        "article_id": "roaming-rates",
                    },
                ],  # fmt: skip
            }
        }
    ]


@pytest.fixture
def telegram():
    fake = FakeTelegram().start()
    yield fake
    fake.stop()


@pytest.fixture
def rasa():
    return FakeRasa(respond=bot_reply)


def make_settings(tmp_path, telegram, database_url="", **extra) -> Settings:
    return Settings(
        build_dir=tmp_path,
        database_url=database_url,
        rasa_url="http://rasa.test",
        actions_url="http://actions.test",
        telegram_token=TOKEN,
        telegram_api_url=telegram.base_url,
        api_token=API_TOKEN,
        **extra,
    )


def start_app(settings: Settings, rasa: FakeRasa, **options) -> TestClient:
    """A client for the app; use it in one `with` block, so that every request runs on the
    app's event loop (a database pool belongs to the loop it was made on)."""
    app = create_app(
        settings, RasaClient(settings.rasa_url, settings.actions_url, timeout=5, http=transport_client(rasa))
    )
    return TestClient(app, headers=AUTHORIZATION, **options)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request):
    return databases.database_url(request)


@pytest.fixture
def polling(tmp_path, telegram, rasa, database_url):
    """The app with the bot long-polling the fake Bot API."""
    with start_app(make_settings(tmp_path, telegram, database_url), rasa) as client:
        telegram.wait_for(lambda: "getUpdates" in telegram.methods(), what="polling to start")
        yield client


@contextlib.contextmanager
def messages_cannot_be_stored(store):
    """The database refuses to store messages (as one that went away would) while the rest of it,
    the channel's record of handled updates included, still works. Done at the engine, below
    the Store's methods."""

    def refuse(connection, cursor, statement, *args):
        if statement.lstrip().upper().startswith("INSERT INTO MESSAGES"):
            raise OSError("database went away")

    event.listen(store.engine.sync_engine, "before_cursor_execute", refuse)
    try:
        yield
    finally:
        event.remove(store.engine.sync_engine, "before_cursor_execute", refuse)


def conversation(client) -> dict:
    response = client.get(f"/api/conversations/telegram:{CHAT}")
    assert response.status_code == 200, response.text
    return response.json()


# --- long polling ----------------------------------------------------------------------------


def test_polling_starts_by_deleting_the_webhook(polling, telegram):
    methods = telegram.methods()
    assert methods.index("deleteWebhook") < methods.index("getUpdates")


def test_start_greets_in_the_users_telegram_language(polling, telegram, rasa):
    telegram.push(telegram.text_update(CHAT, "/start", language_code="zh-hans"))
    [greeting] = telegram.wait_for_messages(CHAT, 1)
    assert greeting["shown"] == "您好！我是智能助手。"
    assert rasa.sent[0]["message"] == "/greet"
    assert rasa.sent[0]["metadata"] == {"language": "zh", "channel": "telegram"}
    stored = conversation(polling)
    assert stored["channel"] == "telegram" and stored["language"] == "zh"
    assert [(m["role"], m["channel"], m["display"]) for m in stored["messages"]] == [
        ("user", "telegram", "/start"),
        ("bot", "telegram", None),
    ]


def test_question_gets_an_answer_with_choices_and_rating_buttons_while_typing(polling, telegram, rasa):
    telegram.push(telegram.text_update(CHAT, "出国怎么开通漫游", language_code="en"))
    [answer] = telegram.wait_for_messages(CHAT, 1)
    assert rasa.sent[0]["metadata"]["language"] == "zh"  # the text decides, not language_code
    assert answer["parse_mode"] == "HTML"
    assert answer["text"].startswith("<b>开通国际漫游</b>\n\n")
    assert "<b>Services → Roaming</b>" in answer["text"]
    keyboard = answer["reply_markup"]["inline_keyboard"]
    assert keyboard == [
        [{"text": "Roaming rates", "callback_data": "a:roaming-rates"}],
        [{"text": "👍 有帮助", "callback_data": "/affirm"}, {"text": "👎 没帮助", "callback_data": "/deny"}],
    ]
    methods = telegram.methods()
    assert "sendChatAction" in methods
    assert methods.index("sendChatAction") < methods.index("sendMessage")
    typing = next(c for c in telegram.calls if c.method == "sendChatAction")
    assert typing.params == {"chat_id": CHAT, "action": "typing"}


def test_english_question_is_answered_in_english(polling, telegram, rasa):
    telegram.push(telegram.text_update(CHAT, "How do I turn on roaming?", language_code="zh"))
    [answer] = telegram.wait_for_messages(CHAT, 1)
    assert rasa.sent[0]["metadata"]["language"] == "en"
    assert answer["shown"].startswith("Turn on international roaming")
    assert answer["reply_markup"]["inline_keyboard"][-1][0]["text"] == "👍 Helpful"


def test_button_press_is_answered_and_sends_its_payload(polling, telegram, rasa):
    telegram.push(telegram.text_update(CHAT, "How do I turn on roaming?"))
    [answer] = telegram.wait_for_messages(CHAT, 1)

    telegram.push(telegram.button_update(CHAT, answer, "a:roaming-rates"))
    telegram.wait_for_messages(CHAT, 2)
    assert rasa.sent[-1]["message"] == '/choose_article{"article_id":"roaming-rates"}'
    assert rasa.sent[-1]["metadata"]["language"] == "en"
    assert "answerCallbackQuery" in telegram.methods()
    edit = next(c for c in telegram.calls if c.method == "editMessageReplyMarkup")
    assert edit.params["message_id"] == answer["message_id"]  # the used keyboard is removed
    assert conversation(polling)["messages"][2]["display"] == "Roaming rates"


def test_rating_buttons_record_feedback(polling, telegram, rasa):
    telegram.push(telegram.text_update(CHAT, "How do I turn on roaming?"))
    [answer] = telegram.wait_for_messages(CHAT, 1)
    telegram.push(telegram.button_update(CHAT, answer, "/deny"))
    telegram.wait_for_messages(CHAT, 2)
    assert rasa.sent[-1]["message"] == "/deny"
    assert conversation(polling)["feedback"] == [{"article_id": "roaming-activate", "helpful": False}]


def test_a_button_this_bot_never_sent_is_answered_as_expired(polling, telegram, rasa):
    telegram.push(telegram.text_update(CHAT, "How do I turn on roaming?"))
    [answer] = telegram.wait_for_messages(CHAT, 1)
    telegram.push(telegram.button_update(CHAT, answer, "/restart_everything"))
    answered = telegram.wait_for(lambda: telegram.calls_to("answerCallbackQuery"))
    assert answered[0].params["text"] == EXPIRED
    time.sleep(0.3)
    assert len(rasa.sent) == 1


def test_a_double_tap_on_a_keyboard_is_handled_once(polling, telegram, rasa):
    telegram.push(telegram.text_update(CHAT, "How do I turn on roaming?"))
    [answer] = telegram.wait_for_messages(CHAT, 1)
    telegram.push(telegram.button_update(CHAT, answer, "/deny"))
    telegram.push(telegram.button_update(CHAT, answer, "a:roaming-rates"))  # the same keyboard, again
    answered = telegram.wait_for(lambda: (a := telegram.calls_to("answerCallbackQuery")) and len(a) == 2 and a)
    assert [a.params.get("text") for a in answered] == [None, EXPIRED]  # every press is answered
    telegram.wait_for_messages(CHAT, 2)
    time.sleep(0.5)
    assert len(telegram.sent(CHAT)) == 2  # the answer and one reply to the press
    assert [s["message"] for s in rasa.sent] == ["How do I turn on roaming?", "/deny"]
    assert len(telegram.calls_to("editMessageReplyMarkup")) == 1


def test_a_keyboard_that_is_already_gone_is_not_edited_again_and_the_press_is_handled_once(polling, telegram, rasa):
    telegram.push(telegram.text_update(CHAT, "How do I turn on roaming?"))
    [answer] = telegram.wait_for_messages(CHAT, 1)
    telegram.fail_next("editMessageReplyMarkup", 400, description=f"Bad Request: {NOT_MODIFIED}")
    telegram.push(telegram.button_update(CHAT, answer, "a:roaming-rates"))
    _, reply = telegram.wait_for_messages(CHAT, 2, timeout=5)  # not after 15 s of retries
    time.sleep(1.5)  # a retry would come after 1 s
    assert [c.params.get("failed") for c in telegram.calls_to("editMessageReplyMarkup")] == [400]
    assert len(telegram.sent(CHAT)) == 2
    assert [s["message"] for s in rasa.sent] == [
        "How do I turn on roaming?",
        '/choose_article{"article_id":"roaming-rates"}',
    ]


def test_duplicate_update_is_handled_once(polling, telegram, rasa):
    update = telegram.text_update(CHAT, "How do I turn on roaming?")
    telegram.push(update)
    telegram.push(update)  # Telegram delivering the same update twice
    telegram.push(telegram.text_update(CHAT, "/help"))
    telegram.wait_for_messages(CHAT, 2)
    time.sleep(0.3)
    assert len(telegram.sent(CHAT)) == 2
    assert [s["message"] for s in rasa.sent] == ["How do I turn on roaming?"]


def test_rate_limit_is_waited_out_and_the_reply_sent_once(polling, telegram, rasa):
    telegram.fail_next("sendMessage", 429, retry_after=1)
    telegram.push(telegram.text_update(CHAT, "How do I turn on roaming?"))
    [answer] = telegram.wait_for_messages(CHAT, 1)
    attempts = [c for c in telegram.calls if c.method == "sendMessage"]
    assert [c.params.get("failed") for c in attempts] == [429, None]
    assert attempts[1].at - attempts[0].at >= 1.0  # retry_after was honoured
    assert answer["shown"].startswith("Turn on international roaming")
    assert len(rasa.sent) == 1


def test_server_errors_are_retried_without_duplicating(polling, telegram, rasa):
    telegram.fail_next("sendMessage", 502, times=2)
    telegram.push(telegram.text_update(CHAT, "How do I turn on roaming?"))
    telegram.wait_for_messages(CHAT, 1)
    time.sleep(0.3)
    assert [c.params.get("failed") for c in telegram.calls if c.method == "sendMessage"] == [502, 502, None]
    assert len(telegram.sent(CHAT)) == 1


@pytest.mark.parametrize("status", [400, 403, 413])
def test_a_refused_send_is_not_retried(polling, telegram, rasa, status):
    telegram.fail_next("sendMessage", status)
    telegram.push(telegram.text_update(CHAT, "How do I turn on roaming?"))
    telegram.wait_for(lambda: telegram.calls_to("sendMessage"), what="the reply")
    time.sleep(1.5)  # a retry would come after 1 s
    assert [c.params.get("failed") for c in telegram.calls_to("sendMessage")] == [status]
    assert conversation(polling)["messages"][-1]["role"] == "bot"  # stored all the same


def test_human_command_with_nobody_online_offers_a_message_and_the_user_is_never_trapped(polling, telegram, rasa):
    telegram.push(telegram.text_update(CHAT, "/human"))
    handoff, offer = telegram.wait_for_messages(CHAT, 2)
    assert rasa.sent[0]["message"] == "/request_human"
    assert handoff["shown"] == "Connecting you with a person."
    assert offer["shown"].startswith("Nobody from our support team is online right now.")
    assert conversation(polling)["state"] == "bot"  # no ticket unless the user leaves a message

    telegram.push(telegram.button_update(CHAT, offer, "/leave_message"))
    asked = telegram.wait_for_messages(CHAT, 3)[2]
    assert asked["shown"].startswith("Please write your message here")
    telegram.push(telegram.text_update(CHAT, "hello? anyone there"))
    noted = telegram.wait_for_messages(CHAT, 4)[3]
    assert noted["shown"] == "Thanks, we've noted that. Someone from our team will reply here as soon as we can."
    assert len(rasa.sent) == 1  # the message is for the team, not the bot
    assert conversation(polling)["state"] == "ticket"

    telegram.push(telegram.button_update(CHAT, noted, "/back_to_bot"))
    assert "stays with our team" in telegram.wait_for_messages(CHAT, 5)[4]["shown"]
    telegram.push(telegram.text_update(CHAT, "how do I turn on roaming"))
    telegram.wait_for_messages(CHAT, 6)
    assert len(rasa.sent) == 2 and conversation(polling)["state"] == "bot"


def test_commands_are_registered_for_the_menu_in_english_and_chinese(polling, telegram):
    assert [c.params.get("language_code") for c in telegram.calls_to("setMyCommands")] == [None, "zh"]
    assert telegram.commands == {
        None: [
            {"command": "start", "description": "Start again"},
            {"command": "human", "description": "Talk to a person"},
            {"command": "help", "description": "What I can help with"},
        ],
        "zh": [
            {"command": "start", "description": "重新开始"},
            {"command": "human", "description": "转人工客服"},
            {"command": "help", "description": "查看使用说明"},
        ],
    }


def test_a_failure_to_register_the_commands_does_not_stop_the_bot(tmp_path, telegram, rasa):
    telegram.fail_next("setMyCommands", 400, description="Bad Request: BOT_COMMAND_INVALID")
    with start_app(make_settings(tmp_path, telegram), rasa):
        telegram.push(telegram.text_update(CHAT, "/start"))
        [greeting] = telegram.wait_for_messages(CHAT, 1)
    assert greeting["shown"] == "Hi! I'm the virtual assistant."
    assert [c.params.get("failed") for c in telegram.calls_to("setMyCommands")] == [400, None]
    assert list(telegram.commands) == ["zh"]  # the other language is registered all the same


def test_help_lists_the_commands_without_asking_the_bot(polling, telegram, rasa):
    telegram.push(telegram.text_update(CHAT, "/help@SkylarkHelpBot", language_code="en"))
    [help_text] = telegram.wait_for_messages(CHAT, 1)
    assert "/human" in help_text["shown"] and "/start" in help_text["shown"]
    assert rasa.sent == []


def test_long_answer_is_split_under_the_limit_without_breaking_words_or_markup(polling, telegram, rasa):
    telegram.push(telegram.text_update(CHAT, "a long answer please"))
    pieces = telegram.wait_for_messages(CHAT, 2)
    time.sleep(0.3)
    pieces = telegram.sent(CHAT)
    assert len(pieces) == 2
    assert all(len(p["shown"]) <= 4096 for p in pieces)  # the fake also refuses anything longer
    assert all(p["text"].count("<b>") == p["text"].count("</b>") for p in pieces)
    # Every word arrives whole, in order, and the keyboard comes under the last piece only.
    words = " ".join(p["shown"] for p in pieces).split()
    assert words == ("Roaming rates\n\n" + LONG_BODY.replace("**", "")).split()
    assert "reply_markup" not in pieces[0] and pieces[1]["reply_markup"]["inline_keyboard"]


def test_html_in_answers_and_questions_is_shown_as_text(polling, telegram, rasa):
    question = "<script>alert(1)</script> & <b>"
    telegram.push(telegram.text_update(CHAT, question))
    [answer] = telegram.wait_for_messages(CHAT, 1)
    assert answer["shown"] == 'A <i>\n\nType <b>"roaming"</b> & press <Enter>'
    assert rasa.sent[0]["message"] == question
    assert conversation(polling)["messages"][0]["text"] == question


@pytest.mark.parametrize(
    ("text", "expected", "asks_rasa"),
    [
        ("   ", "Could you tell me in words what you need help with?", False),
        ("😀😀🙏", "Could you tell me in words what you need help with?", False),
        ("x" * 10_000, "Sorry, that message is too long for me.", False),
        ("\x00\x01roaming\x7f abroad", "Turn on international roaming", True),
        ("/", "Could you tell me in words what you need help with?", False),
        ("/\u2003", "Could you tell me in words what you need help with?", False),
    ],
    ids=["whitespace", "emoji", "10000-characters", "control-characters", "slash", "slash-em-space"],
)
def test_bad_input_gets_a_sensible_reply(polling, telegram, rasa, text, expected, asks_rasa):
    telegram.push(telegram.text_update(CHAT, text))
    [reply] = telegram.wait_for_messages(CHAT, 1)
    assert reply["shown"].startswith(expected)
    assert bool(rasa.sent) == asks_rasa
    if asks_rasa:
        assert rasa.sent[0]["message"] == "roaming abroad"


def test_a_photo_gets_asked_for_text(polling, telegram, rasa):
    update = telegram.text_update(CHAT, "x")
    del update["message"]["text"]
    update["message"]["photo"] = [{"file_id": "f", "file_unique_id": "u", "width": 1, "height": 1}]
    telegram.push(update)
    [reply] = telegram.wait_for_messages(CHAT, 1)
    assert reply["shown"] == "Sorry, I can only read text messages. Please type your question."
    assert rasa.sent == []


def test_a_failure_while_polling_gets_the_polite_reply_not_silence(polling, telegram, rasa):
    with messages_cannot_be_stored(polling.app.state.store):
        telegram.push(telegram.text_update(CHAT, "How do I turn on roaming?"))
        [reply] = telegram.wait_for_messages(CHAT, 1)
    assert reply["shown"].startswith("Sorry, I'm having trouble answering right now.")


# --- webhook ---------------------------------------------------------------------------------


@pytest.fixture
def webhook_settings(tmp_path, telegram, database_url) -> Settings:
    return make_settings(
        tmp_path,
        telegram,
        database_url,
        telegram_webhook_url="https://bot.example.com/telegram/webhook",
        telegram_webhook_secret=SECRET,
    )


@pytest.fixture
def webhook(webhook_settings, rasa):
    with start_app(webhook_settings, rasa) as client:
        yield client


def post_update(client, update, secret=SECRET):
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
    return client.post("/telegram/webhook", json=update, headers=headers)


def test_webhook_is_registered_with_its_secret(webhook, telegram):
    [registration] = [c.params for c in telegram.calls if c.method == "setWebhook"]
    assert registration["url"] == "https://bot.example.com/telegram/webhook"
    assert registration["secret_token"] == SECRET
    assert "getUpdates" not in telegram.methods()
    assert list(telegram.commands) == [None, "zh"]  # the menu too


@pytest.mark.parametrize("secret", [None, "", "wrong"])
def test_webhook_refuses_a_missing_or_wrong_secret(webhook, telegram, rasa, secret):
    response = post_update(webhook, telegram.text_update(CHAT, "How do I turn on roaming?"), secret=secret)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert rasa.sent == []


def test_webhook_answers_and_handles_a_redelivery_once(webhook, telegram, rasa):
    update = telegram.text_update(CHAT, "How do I turn on roaming?")
    assert post_update(webhook, update).json() == {"ok": True}
    assert post_update(webhook, update).json() == {"ok": True}
    assert len(rasa.sent) == 1
    assert len(telegram.sent(CHAT)) == 1


def test_an_update_id_telegram_numbers_again_after_a_long_silence_is_a_new_update(webhook, telegram, rasa):
    """Telegram may start update_id again after a week without updates; a redelivery never comes
    more than a day late, so an update whose number was last seen two days ago is handled."""
    from datetime import timedelta

    from sqlalchemy import update as sql_update

    from bot.store import ChannelEvent, utcnow

    first = telegram.text_update(CHAT, "How do I turn on roaming?")
    assert post_update(webhook, first).json() == {"ok": True}

    async def two_days_pass():
        async with webhook.app.state.store.engine.begin() as connection:
            await connection.execute(sql_update(ChannelEvent).values(created_at=utcnow() - timedelta(days=2)))

    webhook.portal.call(two_days_pass)
    again = telegram.text_update(CHAT, "What does roaming cost in Japan?") | {"update_id": first["update_id"]}
    assert post_update(webhook, again).json() == {"ok": True}
    assert post_update(webhook, again).json() == {"ok": True}  # and its redelivery is still handled once
    assert [s["message"] for s in rasa.sent] == ["How do I turn on roaming?", "What does roaming cost in Japan?"]


def test_an_update_claimed_by_a_process_that_died_is_handled_on_redelivery(webhook, telegram, rasa):
    """An instance recorded the update and died before handling it: Telegram redelivers it, and
    once the claim is older than a turn could take, it is handled, once."""
    from datetime import timedelta

    from sqlalchemy import update as sql_update

    from bot.channels.telegram import ABANDONED_AFTER
    from bot.store import ChannelEvent, utcnow

    update = telegram.text_update(CHAT, "How do I turn on roaming?")
    key = f"telegram:{webhook.app.state.settings.telegram_token.split(':')[0]}:{update['update_id']}"
    store = webhook.app.state.store
    assert webhook.portal.call(store.claim_event, key)  # the instance that died

    async def age(by: timedelta):
        async with store.engine.begin() as connection:
            await connection.execute(sql_update(ChannelEvent).values(created_at=utcnow() - by))

    post_update(webhook, update)  # redelivered while the claim may still be in hand: left to it
    assert rasa.sent == []
    webhook.portal.call(age, ABANDONED_AFTER + timedelta(seconds=1))
    post_update(webhook, update)
    post_update(webhook, update)
    assert [s["message"] for s in rasa.sent] == ["How do I turn on roaming?"]
    assert len(telegram.sent(CHAT)) == 1
    webhook.portal.call(age, ABANDONED_AFTER * 2)  # handled to the end: never again within the day
    post_update(webhook, update)
    assert len(rasa.sent) == 1


@pytest.mark.parametrize("body", ["not json", "[1]", '{"update_id": "x"}'])
def test_webhook_refuses_a_body_that_is_no_update(webhook, body):
    response = webhook.post("/telegram/webhook", content=body, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
    assert response.status_code == 400
    assert "Telegram update" in response.json()["error"]["message"]


def test_webhook_is_not_served_when_polling(polling, telegram):
    response = post_update(polling, telegram.text_update(CHAT, "hi"))
    assert response.status_code == 404


def test_webhook_lets_telegram_redeliver_when_the_database_fails(webhook_settings, telegram, rasa):
    # One client for the whole test, so that every request runs on the event loop the app (and
    # its database pool) started on; server errors come back as 500s, as Telegram would see them.
    with start_app(webhook_settings, rasa, raise_server_exceptions=False) as client:
        update = telegram.text_update(CHAT, "How do I turn on roaming?")
        with messages_cannot_be_stored(client.app.state.store):
            assert post_update(client, update).status_code == 500
        response = post_update(client, update)  # Telegram's redelivery
        assert response.status_code == 200 and response.json() == {"ok": True}
    assert len(telegram.sent(CHAT)) == 1


def test_webhook_lets_telegram_redeliver_a_button_press_when_the_database_fails(webhook_settings, telegram, rasa):
    with start_app(webhook_settings, rasa, raise_server_exceptions=False) as client:
        assert post_update(client, telegram.text_update(CHAT, "How do I turn on roaming?")).status_code == 200
        [answer] = telegram.sent(CHAT)
        press = telegram.button_update(CHAT, answer, "/deny")
        with messages_cannot_be_stored(client.app.state.store):
            assert post_update(client, press).status_code == 500
        assert post_update(client, press).status_code == 200  # the press is not taken as a double tap
    assert [s["message"] for s in rasa.sent] == ["How do I turn on roaming?", "/deny"]
    assert len(telegram.sent(CHAT)) == 2


def test_settings_refuse_a_webhook_without_a_secret(tmp_path):
    from bot.settings import ConfigError

    with pytest.raises(ConfigError, match="TOUCHPOINT_TELEGRAM_WEBHOOK_SECRET must be set"):
        Settings(build_dir=tmp_path, telegram_token=TOKEN, telegram_webhook_url="https://x.example/hook")


def test_a_chat_over_its_rate_is_told_once_and_nothing_is_stored(tmp_path, telegram, rasa, database_url):
    settings = make_settings(
        tmp_path, telegram, database_url, rate_conversation=6,  # a burst of 2, then one every 10 s
        telegram_webhook_url="https://bot.example.com/telegram/webhook", telegram_webhook_secret=SECRET,
    )  # fmt: skip
    with start_app(settings, rasa) as client:
        for n in range(5):
            assert post_update(client, telegram.text_update(CHAT, f"question {n}")).json() == {"ok": True}
        assert len(rasa.sent) == 2
        texts = [message["text"] for message in telegram.sent(CHAT)]
        notices = [text for text in texts if "faster than I can answer" in text]
        assert len(notices) == 1 and "wait 10 seconds" in notices[0]  # once, not once per refused message
        stored = client.portal.call(client.app.state.store.messages, f"telegram:{CHAT}")
        assert [m.text for m in stored if m.role == "user"] == ["question 0", "question 1"]
        post_update(client, telegram.text_update(CHAT + 1, "another chat"))
        assert len(rasa.sent) == 3  # each chat its own limit


def test_an_update_whose_message_was_stored_before_a_crash_is_answered_once_on_redelivery(webhook, telegram, rasa):
    """The instance stored the user's message and died before the answer: the redelivered update
    is answered, and the message is not stored twice."""
    from datetime import timedelta

    from sqlalchemy import update as sql_update

    from bot.channels.telegram import ABANDONED_AFTER
    from bot.store import ChannelEvent, Message, utcnow

    update = telegram.text_update(CHAT, "How do I turn on roaming?")
    key = f"telegram:{webhook.app.state.settings.telegram_token.split(':')[0]}:{update['update_id']}"
    store = webhook.app.state.store
    conversation_id = f"telegram:{CHAT}"

    async def died_after_storing():
        assert await store.claim_event(key)
        async with store.transaction() as tx:
            conversation = await tx.add_conversation(conversation_id, "telegram", "en")
            data = {"client_id": f"message-{update['message']['message_id']}", "language": "en"}
            tx.add_messages(
                conversation, [Message(role="user", channel="telegram", text=update["message"]["text"], data=data)]
            )
        async with store.engine.begin() as connection:
            await connection.execute(
                sql_update(ChannelEvent).values(created_at=utcnow() - ABANDONED_AFTER - timedelta(seconds=1))
            )

    webhook.portal.call(died_after_storing)
    post_update(webhook, update)
    assert [s["message"] for s in rasa.sent] == ["How do I turn on roaming?"]
    assert len(telegram.sent(CHAT)) == 1
    stored = webhook.portal.call(store.messages, conversation_id)
    assert [m.role for m in stored] == ["user", "bot"]
