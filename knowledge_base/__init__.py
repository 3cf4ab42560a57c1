"""The knowledge base: articles, their validation, the hybrid index and search."""

from knowledge_base.articles import Article, ArticleError, load_articles, parse_article
from knowledge_base.index import IndexSettings, KnowledgeIndex, StaleIndexError, open_index
from knowledge_base.search import Hit, HybridSearcher, KnowledgeBase, SearchSettings

__all__ = [
    "Article",
    "ArticleError",
    "Hit",
    "HybridSearcher",
    "IndexSettings",
    "KnowledgeBase",
    "KnowledgeIndex",
    "SearchSettings",
    "StaleIndexError",
    "load_articles",
    "open_index",
    "parse_article",
]
