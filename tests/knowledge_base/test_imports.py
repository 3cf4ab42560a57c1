"""`touchpoint convert csv|tsv|rasa|dialogflow|azure`: a team's FAQ data becomes articles that
`touchpoint kb import` takes, drafts where the data has no answer, and bad input is reported
with its file, line and column. The fixtures are tiny hand-written copies of each format."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest

from bot.cli import build_parser, main
from knowledge_base.articles import load_articles, read_article_files
from knowledge_base.benchmarks import CONVERTERS
from knowledge_base.imports import IMPORTERS, SourceError
from knowledge_base.imports.base import ArticleIds

FIXTURES = Path(__file__).parent / "fixtures" / "imports"


def articles_by_key(imported) -> dict[tuple[str, str], object]:
    return {a.key: a for a in imported.articles}


# --- CSV and TSV ---------------------------------------------------------------------------


def test_csv_question_intent_rows_become_one_draft_per_intent_and_language():
    imported = IMPORTERS["csv"](FIXTURES / "intents.csv")
    articles = articles_by_key(imported)
    assert list(articles) == [("order-status", "en"), ("refund", "en"), ("refund", "zh")]
    order = articles[("order-status", "en")]
    assert order.questions == ("Where is my parcel?", "Has my order shipped, or not yet?", "track my order")
    assert order.title == "Where is my parcel?"
    assert all(a.status == "draft" for a in imported.articles) and imported.drafts == imported.articles
    assert "Answer needed" in order.body and "intent `order_status`" in order.body
    # the intent's Chinese rows are its Chinese article, under the same id, asking in Chinese
    assert articles[("refund", "zh")].questions == ("退款要多久到账", "我想退货")
    assert articles[("refund", "zh")].body.startswith("**待写答案。**")


def test_csv_language_option_puts_every_row_in_that_language():
    imported = IMPORTERS["csv"](FIXTURES / "intents.csv", language="zh")
    assert [a.key for a in imported.articles] == [("order-status", "zh"), ("refund", "zh")]


def test_tsv_with_an_answer_column_publishes_each_intent_in_the_language_its_rows_name():
    imported = IMPORTERS["tsv"](FIXTURES / "answers.tsv")
    articles = articles_by_key(imported)
    assert list(articles) == [("pay-bill", "en"), ("pay-bill", "zh")]  # 'zh-CN' is zh
    assert articles[("pay-bill", "en")].questions == ("How do I pay my bill?", "pay bill online")
    assert articles[("pay-bill", "en")].body == "Pay in the app under **Bills**."
    assert articles[("pay-bill", "zh")].body == "在 App 的**账单**页面缴费。"
    assert {a.status for a in imported.articles} == {"published"} and not imported.drafts


def test_csv_question_answer_rows_are_grouped_by_their_answer():
    imported = IMPORTERS["csv"](FIXTURES / "questions_answers.csv")
    assert [(a.id, a.questions) for a in imported.articles] == [
        ("do-you-deliver-abroad", ("Do you deliver abroad?",)),
        ("what-are-your-opening-hours", ("What are your opening hours?", "When do you open?")),
    ]
    assert imported.articles[0].body == "Yes, to 30 countries.\nSee the shipping page for prices."


@pytest.mark.parametrize(
    ("content", "where", "message"),
    [
        ("question,text\nhi,greet\n", "x.csv:1", "the header must name question and intent or answer columns"),
        ("question,intent,question\nhi,greet,hey\n", "x.csv:1, column 3", "'question' is named twice"),
        ("question,intent\nhi,greet\n,greet\n", "x.csv:3, column 1 (question)", "is empty"),
        ("question,intent\nhi,\n", "x.csv:2, column 2 (intent)", "is empty"),
        ("question,answer\nhi,\n", "x.csv:2, column 2 (answer)", "is empty"),
        ("question,intent\nhi,greet,extra\n", "x.csv:2, column 3", "the header names 2 columns but this row has 3"),
        ("question,intent\nhi\n", "x.csv:2, column 2", "the header names 2 columns but this row has 1"),
        ("question,intent,language\nhola,greet,es\n", "x.csv:2, column 3 (language)", "'es' is not a language"),
        ('question,intent\nhi,greet\n"no end,greet\n', "x.csv:3", "not valid CSV"),
        ("question,intent,answer\na,x,One.\nb,y,Two.\nc,x,Three.\n", "x.csv:4, column 3 (answer)",
         "intent 'x' already has a different answer on line 2"),
        # a quoted answer over two lines: the rows after it are still reported at their own line
        ('question,answer\nq,"one\ntwo"\n,three\n', "x.csv:4, column 1 (question)", "is empty"),
        ("", "x.csv:1", "is empty; the first line must name the columns"),
    ],
)  # fmt: skip
def test_malformed_csv_is_reported_with_file_line_and_column(tmp_path, content, where, message):
    path = tmp_path / "x.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(SourceError) as caught:
        IMPORTERS["csv"](path)
    assert str(caught.value).startswith(f"{path.parent}/{where}: ")
    assert message in str(caught.value)


def test_a_file_that_is_not_utf8_is_reported_at_the_first_bad_byte(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes("question,intent\nhi,greet\ncaf\xe9,order\n".encode("cp1252"))
    with pytest.raises(SourceError, match=r"excel.csv:3, column 4: is not UTF-8 text; save it as UTF-8"):
        IMPORTERS["csv"](path)


def test_a_tsv_is_read_by_tabs_so_commas_stay_in_the_text(tmp_path):
    path = tmp_path / "faq.tsv"
    path.write_text("Question\tIntent\nhi, how are you\tgreet\n", encoding="utf-8")
    assert IMPORTERS["tsv"](path).articles[0].questions == ("hi, how are you",)


# --- Rasa ----------------------------------------------------------------------------------


def test_rasa_intents_with_a_response_are_published_and_the_others_are_drafts():
    imported = IMPORTERS["rasa"](FIXTURES / "rasa" / "nlu.yml", responses=FIXTURES / "rasa" / "domain.yml")
    articles = {a.id: a for a in imported.articles}
    assert list(articles) == ["greet", "faq-ask-hours", "faq-ask-refund", "check-balance"]  # the synonym is no intent
    assert articles["greet"].body == "Hello! How can I help?"  # the data file's own responses
    hours = articles["faq-ask-hours"]  # a retrieval intent, answered by utter_faq/ask_hours in the domain
    assert (hours.status, hours.body) == ("published", "We are open 9:00 to 18:00, Monday to Friday.")
    assert hours.questions == ("when are you open", "what are your opening hours", "are you open on sunday")
    assert articles["check-balance"].questions == ("what is my balance",)  # `- text:` examples with metadata
    assert [a.id for a in imported.drafts] == ["faq-ask-refund", "check-balance"]


def test_rasa_without_the_domain_leaves_the_retrieval_intents_as_drafts():
    imported = IMPORTERS["rasa"](FIXTURES / "rasa" / "nlu.yml")
    assert [a.id for a in imported.articles if a.status == "published"] == ["greet"]


@pytest.mark.parametrize(
    ("content", "where", "message"),
    [
        ("nlu:\n- intent: greet\n  examples: |\n    - hi\n    hello\n", "nlu.yml:5, column 5",
         "examples of 'greet': each must start with '- '"),
        ("nlu:\n- intent: greet\n  examples: |\n    - hi\n- intent: bye\n", "nlu.yml:5, column 3",
         "intent 'bye' has no 'examples:'"),
        ("nlu:\n- intent: greet\n  examples: [\n", "nlu.yml:3, column 14", "not valid YAML"),
        ("nlu:\n  intent: greet\n", "nlu.yml:2, column 3", "nlu: expected a list"),
        ("stories: []\n", "nlu.yml:1", "has no 'nlu:' section"),
    ],
)  # fmt: skip
def test_malformed_rasa_data_is_reported_with_file_line_and_column(tmp_path, content, where, message):
    path = tmp_path / "nlu.yml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(SourceError) as caught:
        IMPORTERS["rasa"](path)
    assert str(caught.value).startswith(f"{tmp_path}/{where}: ")
    assert message in str(caught.value)


def test_a_rasa_responses_file_without_responses_is_an_error(tmp_path):
    (tmp_path / "domain.yml").write_text("intents:\n- greet\n", encoding="utf-8")
    with pytest.raises(SourceError, match="domain.yml:1: has no 'responses:' section"):
        IMPORTERS["rasa"](FIXTURES / "rasa" / "nlu.yml", responses=tmp_path / "domain.yml")


# --- Dialogflow ----------------------------------------------------------------------------


def test_dialogflow_intents_become_articles_per_language_sharing_the_id():
    imported = IMPORTERS["dialogflow"](FIXTURES / "dialogflow")
    articles = articles_by_key(imported)
    assert list(articles) == [("lost-card", "en"), ("opening-hours", "en"), ("opening-hours", "zh")]  # no fallback
    hours = articles[("opening-hours", "en")]
    assert hours.questions == ("when do you open", "what are your hours on Sunday")  # parts joined
    # the first variant of each text message, not the Telegram copy nor the rich payload
    assert hours.body == "We are open 9 to 6, Monday to Friday.\n\nClosed on public holidays."
    assert articles[("opening-hours", "zh")].body == "周一至周五 9 点到 18 点营业。"
    assert [a.key for a in imported.drafts] == [("lost-card", "en")]  # no text response
    assert imported.notes == [
        "left out the training phrases in 'de' (Touchpoint answers in en and zh) of: Opening hours"
    ]


def test_dialogflow_zip_export_reads_like_its_folder_and_language_picks_one(tmp_path):
    archive = tmp_path / "agent.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for path in (FIXTURES / "dialogflow").rglob("*.json"):
            zipped.write(path, path.relative_to(FIXTURES / "dialogflow").as_posix())

    def content(imported):
        return [(a.key, a.questions, a.status, a.body if a.status == "published" else "") for a in imported.articles]

    assert content(IMPORTERS["dialogflow"](archive)) == content(IMPORTERS["dialogflow"](FIXTURES / "dialogflow"))
    assert [a.key for a in IMPORTERS["dialogflow"](archive, language="zh").articles] == [("opening-hours", "zh")]


def test_dialogflow_json_that_does_not_parse_is_reported_at_its_line_and_column(tmp_path):
    shutil.copytree(FIXTURES / "dialogflow", tmp_path / "agent")
    (tmp_path / "agent" / "intents" / "Lost card.json").write_text('{\n  "name": "Lost card",\n  "responses": [}\n')
    with pytest.raises(SourceError, match=r"intents/Lost card.json:3, column 17: not valid JSON"):
        IMPORTERS["dialogflow"](tmp_path / "agent")


def test_a_folder_without_intents_is_not_a_dialogflow_export(tmp_path):
    with pytest.raises(SourceError, match="has no intents/"):
        IMPORTERS["dialogflow"](tmp_path)


# --- Azure QnA Maker and Language Studio -----------------------------------------------------


def test_azure_tsv_groups_alternate_questions_by_qna_id_and_restores_line_breaks():
    imported = IMPORTERS["azure"](FIXTURES / "azure" / "qna.tsv")
    assert [(a.id, a.questions) for a in imported.articles] == [
        ("how-do-i-reset-my-password", ("How do I reset my password?", "I forgot my password")),
        ("where-is-your-office", ("Where is your office?",)),
    ]
    assert imported.articles[0].body == "Go to **Settings** and choose **Password**.\nWe email you a link."


def test_azure_json_exports_qna_maker_and_language_studio():
    maker = IMPORTERS["azure"](FIXTURES / "azure" / "qna.json")
    assert [a.id for a in maker.articles] == ["how-do-i-reset-my-password", "where-is-your-office"]  # not the unasked
    studio = IMPORTERS["azure"](FIXTURES / "azure" / "project.json")
    # the project's language (zh-Hans); Chinese questions give no Latin slug, so the id is numbered
    assert [(a.id, a.language, a.questions) for a in studio.articles] == [
        ("faq-1", "zh", ("怎么重置密码", "忘记密码了"))
    ]


def test_azure_tsv_without_its_header_is_an_error(tmp_path):
    path = tmp_path / "qna.tsv"
    path.write_text("How do I pay?\tIn the app.\n", encoding="utf-8")
    with pytest.raises(SourceError, match="qna.tsv:1: expected QnA Maker's header"):
        IMPORTERS["azure"](path)


# --- ids -----------------------------------------------------------------------------------


def test_article_ids_are_slugs_made_unique_and_shared_by_a_key():
    ids = ArticleIds()
    assert ids("Card Arrival", "Card Arrival") == "card-arrival"
    assert ids("card_arrival", "card_arrival") == "card-arrival-2"
    assert ids("Card Arrival", "anything") == "card-arrival"  # the same key, e.g. the intent in Chinese
    assert ids("退款", "退款", "怎么退款") == "faq-1"
    assert ids("Café?", "Café?") == "cafe"
    long = ids("long", "word " * 40)
    assert len(long) <= 60 and not long.endswith("-")


# --- the command ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "articles", "drafts"),
    [
        (["csv", "intents.csv"], 3, 3),
        (["tsv", "answers.tsv"], 2, 0),
        (["csv", "questions_answers.csv"], 2, 0),
        (["rasa", "rasa/nlu.yml", "--responses", str(FIXTURES / "rasa" / "domain.yml")], 4, 2),
        (["dialogflow", "dialogflow"], 3, 1),
        (["azure", "azure/qna.tsv"], 2, 0),
        (["azure", "azure/qna.json"], 2, 0),
        (["azure", "azure/project.json"], 1, 0),
    ],
)
def test_convert_writes_articles_that_load_and_says_how_many_need_an_answer(tmp_path, capsys, argv, articles, drafts):
    kind, source, *options = argv
    assert main(["convert", kind, str(FIXTURES / source), str(tmp_path / "out"), *options]) == 0
    written = read_article_files(tmp_path / "out" / "articles")
    assert len(written) == articles
    assert sum(article.status == "draft" for article, _ in written) == drafts
    assert len(load_articles(tmp_path / "out" / "articles")) == articles - drafts  # drafts are never answered
    output = capsys.readouterr().out
    need = "draft that needs" if drafts == 1 else "drafts that need"
    assert f"wrote {articles} article" in output and f"{drafts} {need} an answer" in output
    assert f"next: touchpoint kb import {tmp_path / 'out' / 'articles'}" in output


def test_converted_articles_import_into_the_database_as_users_import_them(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TOUCHPOINT_BUILD_DIR", str(tmp_path / "build"))
    assert main(["convert", "csv", str(FIXTURES / "intents.csv"), str(tmp_path / "out")]) == 0
    assert main(["kb", "import", str(tmp_path / "out" / "articles")]) == 0
    assert "3 new" in capsys.readouterr().out


def test_convert_does_not_overwrite_articles_without_force(tmp_path, capsys):
    source, out = str(FIXTURES / "intents.csv"), str(tmp_path / "out")
    assert main(["convert", "csv", source, out]) == 0
    assert main(["convert", "csv", source, out]) == 1
    assert "is not empty; convert into a new folder or pass --force" in capsys.readouterr().err
    assert main(["convert", "tsv", str(FIXTURES / "answers.tsv"), out, "--force"]) == 0
    assert {a.id for a, _ in read_article_files(tmp_path / "out" / "articles")} == {"pay-bill"}


def test_convert_reports_bad_input_and_options_for_other_formats(tmp_path, capsys):
    (tmp_path / "x.csv").write_text("question,intent\n,greet\n", encoding="utf-8")
    assert main(["convert", "csv", str(tmp_path / "x.csv"), str(tmp_path / "out")]) == 1
    assert "x.csv:2, column 1 (question): is empty; nothing was written" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    assert main(["convert", "csv", str(tmp_path / "x.csv"), str(tmp_path / "out"), "--responses", "d.yml"]) == 2
    assert "--responses applies to rasa only" in capsys.readouterr().err


def test_convert_offers_every_importer_and_every_benchmark():
    commands = next(a for a in build_parser()._actions if a.dest == "command").choices
    formats = next(a for a in commands["convert"]._actions if a.dest == "format").choices
    assert set(formats) == set(IMPORTERS) | set(CONVERTERS)
