from __future__ import annotations

import pytest

from knowledge_base.articles import (
    Article,
    ArticleError,
    content_hash,
    load_articles,
    parse_article,
    write_article,
)
from tests.helpers import article_text, write_articles


def write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_parses_a_valid_article(tmp_path):
    path = write(tmp_path, "roaming-activate.md", article_text())
    article = parse_article(path.read_text(), path)
    assert article.id == "roaming-activate"
    assert article.language == "en"
    assert article.questions == ("How do I activate roaming?", "Can I use my phone abroad?")
    assert article.tags == ("roaming",)
    assert article.body == "Open the app and go to Services, then Roaming."


@pytest.mark.parametrize(
    ("text", "line", "field", "words"),
    [
        (article_text(language="fr"), 3, "language", "must be one of en, zh"),
        (article_text(status="live"), 9, "status", "must be one of published"),
        (article_text(title=""), 4, "title", "non-empty string"),
        (article_text(tags="roaming"), 8, "tags", "list of non-empty strings"),
        (article_text(id="Roaming_Activate"), 2, "id", "lowercase letters"),
        (article_text(body=""), 11, "body", "empty"),
        (article_text(questions=()).replace("questions:\n\n", "questions: []\n"), 5, "questions", "non-empty list"),
        (article_text(questions=("How?", "")), 7, "questions", "non-empty string"),
        (
            article_text().replace("status: published\n", "status: published\nauthor: me\n"),
            10,
            "author",
            "unknown field",
        ),
        (article_text().replace('title: "Turn on international roaming"\n', ""), 1, "title", "missing required field"),
    ],
)
def test_bad_field_names_file_line_and_field(tmp_path, text, line, field, words):
    path = write(tmp_path, "roaming-activate.md", text)
    with pytest.raises(ArticleError) as caught:
        parse_article(text, path)
    error = caught.value
    assert (error.path, error.line, error.field) == (path, line, field)
    assert words in error.message
    assert str(error).startswith(f"{path}:{line}: {field}: ")


def test_invalid_yaml_reports_the_line_of_the_problem(tmp_path):
    text = article_text().replace('title: "Turn on international roaming"', "title: [unclosed")
    path = write(tmp_path, "roaming-activate.md", text)
    with pytest.raises(ArticleError, match="not valid YAML") as caught:
        parse_article(text, path)
    assert caught.value.line in (4, 5)


def test_missing_front_matter_is_rejected(tmp_path):
    with pytest.raises(ArticleError, match="must start with a '---' line") as caught:
        parse_article("Just an answer.\n", tmp_path / "x.md")
    assert caught.value.line == 1


def test_unclosed_front_matter_is_rejected(tmp_path):
    with pytest.raises(ArticleError, match="not closed"):
        parse_article("---\nid: x\n", tmp_path / "x.md")


def test_id_must_match_the_file_name(tmp_path):
    path = write(tmp_path, "other-name.md", article_text())
    with pytest.raises(ArticleError, match="does not match the file name 'other-name.md'") as caught:
        parse_article(path.read_text(), path)
    assert (caught.value.line, caught.value.field) == (2, "id")


def test_duplicate_id_and_language_names_both_files(tmp_path):
    write_articles(tmp_path)
    (tmp_path / "copy").mkdir()
    write(tmp_path / "copy", "sim-puk.md", article_text(id="sim-puk"))
    with pytest.raises(ArticleError, match="already defined in") as caught:
        load_articles(tmp_path)
    assert caught.value.field == "id"


def test_load_skips_drafts_unless_asked(tmp_path):
    write_articles(tmp_path)
    write(tmp_path / "en", "draft-one.md", article_text(id="draft-one", status="draft"))
    assert "draft-one" not in {a.id for a in load_articles(tmp_path)}
    assert "draft-one" in {a.id for a in load_articles(tmp_path, include_unpublished=True)}


def test_missing_folder_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_articles(tmp_path / "nope")


def test_content_hash_changes_when_an_article_changes(tmp_path):
    write_articles(tmp_path)
    before = content_hash(tmp_path)
    assert content_hash(tmp_path) == before
    path = tmp_path / "en" / "sim-puk.md"
    path.write_text(path.read_text() + "\nOne more line.\n", encoding="utf-8")
    assert content_hash(tmp_path) != before


def test_a_rendered_article_parses_back_unchanged(tmp_path):
    article = Article(
        id="quoting-test",
        language="zh",
        title='标题: with "quotes" and a colon',
        questions=("- starts like a list item?", "第二个问题"),
        body="The answer.\n\nSecond paragraph.",
        tags=("a", "b"),
        status="draft",
    )
    path = write_article(tmp_path, article)
    assert path == tmp_path / "zh" / "quoting-test.md"
    assert parse_article(path.read_text(encoding="utf-8"), path) == article


def test_a_byte_order_mark_is_accepted(tmp_path):
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "roaming-activate.md").write_text("\ufeff" + article_text(), encoding="utf-8")
    assert [a.id for a in load_articles(tmp_path)] == ["roaming-activate"]


def test_an_article_in_the_other_languages_folder_is_rejected(tmp_path):
    (tmp_path / "zh").mkdir()
    (tmp_path / "zh" / "roaming-activate.md").write_text(article_text(language="en"), encoding="utf-8")
    with pytest.raises(
        ArticleError, match=r"roaming-activate.md:1: language: is 'en' but the file is in the 'zh' folder"
    ):
        load_articles(tmp_path)
