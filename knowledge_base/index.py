"""The knowledge-base index: per language, a FAISS index and a lexical index over "units".

A unit is a piece of an article that a question can match: its title, each alternate question,
and its answer. Each unit keeps its article, so the best-matching unit speaks for the article.
The index is saved with a manifest (model, settings, content hash of the article files), and
`open_index` rebuilds it when the manifest no longer matches what it would build now.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from scipy import sparse

from knowledge_base.articles import LANGUAGES, Article, articles_hash, content_hash, load_articles
from knowledge_base.classifier import ArticleClassifier
from knowledge_base.confidence import calibrate, carried
from knowledge_base.encoder import NO_MODEL, Encoder
from knowledge_base.lexical import LexicalIndex
from knowledge_base.text import Analyzer
from knowledge_base.vectors import APPROXIMATE_ABOVE, VectorIndex

logger = logging.getLogger(__name__)

FORMAT_VERSION = 3  # 3: the manifest has each language's calibration
MANIFEST = "manifest.json"
FEATURES = "features.json"


class StaleIndexError(RuntimeError):
    """The saved index does not match the knowledge base, model or settings it is asked for."""


@dataclass(frozen=True)
class IndexSettings:
    index_titles: bool = True
    index_questions: bool = True
    index_answers: bool = True
    index_pooled: bool = True  # title and all questions as one more unit: the article's whole vocabulary
    classifier: bool = True  # train an article classifier on the titles and questions
    classifier_regularisation: float = 100.0  # logistic regression's C: larger fits the questions closer
    classifier_units: tuple[str, ...] = ("title", "question")  # which units it learns from
    # Its weights grow with articles × features, and it learns nothing from one example an article
    # (a title and no other question), so it is skipped above this size or below two examples an article.
    classifier_max_articles: int = 3000
    classifier_embeddings: bool = True  # the classifier also sees the sentence embedding, where there is one
    answer_chars: int = 600  # the answer's opening, where its subject is stated
    approximate_above: int = APPROXIMATE_ABOVE  # units per language above which FAISS search is HNSW, not exact
    # The answer confidence's calibration (`confidence.py`): alternate questions are spread over
    # this many folds, each asked of an index that keeps `kept_folds` of the others; at most
    # `questions` of them per language are asked, and a `unanswerable` share of the articles is left
    # out of the first fold to be asked about.
    calibrate: bool = True
    calibration_folds: int = 3
    calibration_kept_folds: int = 2
    calibration_questions: int = 2000
    calibration_unanswerable: float = 0.15


@dataclass(frozen=True)
class Unit:
    article: int  # position in KnowledgeIndex.articles
    kind: str  # "title" | "question" | "answer" | "pooled"
    text: str


class KnowledgeIndex:
    def __init__(
        self,
        articles: list[Article],
        units: dict[str, list[Unit]],
        vectors: dict[str, VectorIndex],
        lexical: dict[str, LexicalIndex],
        classifiers: dict[str, ArticleClassifier | None],
        manifest: dict,
    ):
        self.articles = articles
        self.units = units
        self.vectors = vectors
        self.lexical = lexical
        self.classifiers = classifiers
        self.manifest = manifest
        # Each unit text's lexical features, per language, kept by a build (not saved) so that the
        # next build analyses the changed texts only.
        self.features: dict[str, dict[str, Counter[str]]] = {}

    # --- building -------------------------------------------------------------------------
    @classmethod
    def build(
        cls,
        articles: list[Article],
        encoders: Mapping[str, Encoder],
        analyzer: Analyzer,
        settings: IndexSettings = IndexSettings(),
        content: str = "",
        previous: KnowledgeIndex | None = None,
    ) -> KnowledgeIndex:
        """Index `articles`; a language without an encoder in `encoders` gets the lexical side only.
        Unit texts that `previous` (built with the same models) embedded are not encoded again,
        so a rebuild after one edit encodes that edit only."""
        started = time.perf_counter()
        units: dict[str, list[Unit]] = {language: [] for language in LANGUAGES}
        for position, article in enumerate(articles):
            units[article.language].extend(_units(position, article, settings))

        vectors, lexical, classifiers, baselines, features = {}, {}, {}, {}, {}
        for language, language_units in units.items():
            texts = [unit.text for unit in language_units]
            encoder = encoders.get(language)
            embeddings = None
            if encoder is not None:
                known = previous.embedded(language) if previous and previous.models == model_names(encoders) else {}
                embeddings = _encode(encoder, texts, known)
                vectors[language] = VectorIndex.build(
                    embeddings, np.arange(len(texts)), approximate_above=settings.approximate_above
                )
                baselines[language] = unrelated_similarity(embeddings, [u.article for u in language_units])
            known_features = previous.features.get(language, {}) if previous else {}
            features[language] = {t: known_features.get(t) or analyzer.features(t, language) for t in texts}
            lexical[language] = LexicalIndex.build([features[language][t] for t in texts])
            classifiers[language] = _train_classifier(language_units, lexical[language], embeddings, settings)

        manifest = {
            "format_version": FORMAT_VERSION,
            "models": model_names(encoders),
            "dimensions": {language: encoder.dimension for language, encoder in encoders.items()},
            "dense_baseline": baselines,
            "settings": _plain(settings),
            "content_hash": content,
            "articles": len(articles),
            "units": {language: len(u) for language, u in units.items()},
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "build_seconds": round(time.perf_counter() - started, 3),
        }
        index = cls(articles, units, vectors, lexical, classifiers, manifest)
        index.features = features
        if settings.calibrate:
            manifest |= carried(previous, manifest, articles) or {
                "calibration": calibrate(index, encoders, analyzer, settings),
                "calibration_edits": 0,
            }
            manifest["build_seconds"] = round(time.perf_counter() - started, 3)
        return index

    @property
    def models(self) -> dict[str, str]:
        return self.manifest.get("models", {})

    def embedded(self, language: str) -> dict[str, np.ndarray]:
        """Each unit text of `language` with its embedding, read back from the vector index."""
        if language not in self.vectors:
            return {}
        vectors = self.vectors[language].vectors()
        return {unit.text: vectors[i] for i, unit in enumerate(self.units[language])}

    # --- persistence ----------------------------------------------------------------------
    def save(self, directory: Path | str) -> None:
        """Write the index next to `directory` and swap it in, so readers never see half of it."""
        directory = Path(directory)
        staging = directory.with_name(directory.name + ".building")
        self.write(staging)
        old = directory.with_name(directory.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if directory.exists():
            directory.rename(old)
        staging.rename(directory)
        shutil.rmtree(old, ignore_errors=True)

    def write(self, staging: Path) -> None:
        """Write every file of the index into the new folder `staging`."""
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        articles = [
            {
                "id": a.id,
                "language": a.language,
                "title": a.title,
                "questions": list(a.questions),
                "body": a.body,
                "tags": list(a.tags),
                "status": a.status,
            }
            for a in self.articles
        ]
        (staging / "articles.json").write_text(json.dumps(articles, ensure_ascii=False), encoding="utf-8")
        units = {lang: [[u.article, u.kind, u.text] for u in us] for lang, us in self.units.items()}
        (staging / "units.json").write_text(json.dumps(units, ensure_ascii=False), encoding="utf-8")
        for language in LANGUAGES:
            if language in self.vectors:
                self.vectors[language].save(staging / f"vectors-{language}.faiss")
            self.lexical[language].save(staging, f"lexical-{language}")
            if self.classifiers.get(language) is not None:
                self.classifiers[language].save(staging / f"classifier-{language}.npz")
        if self.features:  # for the next build from this one (read by `read_features`, not by `load`)
            plain = {
                language: {text: dict(f) for text, f in by_text.items()} for language, by_text in self.features.items()
            }
            (staging / FEATURES).write_text(json.dumps(plain, ensure_ascii=False), encoding="utf-8")
        (staging / MANIFEST).write_text(json.dumps(self.manifest, indent=2), encoding="utf-8")  # last: marks it whole

    @classmethod
    def load(cls, directory: Path | str) -> KnowledgeIndex:
        directory = Path(directory)
        manifest = read_manifest(directory)
        if manifest is None:
            raise StaleIndexError(f"no index at {directory}")
        articles = [
            Article(
                id=a["id"],
                language=a["language"],
                title=a["title"],
                questions=tuple(a["questions"]),
                body=a["body"],
                tags=tuple(a["tags"]),
                status=a["status"],
            )
            for a in json.loads((directory / "articles.json").read_text(encoding="utf-8"))
        ]
        raw_units = json.loads((directory / "units.json").read_text(encoding="utf-8"))
        units = {lang: [Unit(a, k, t) for a, k, t in us] for lang, us in raw_units.items()}
        vectors = {
            lang: VectorIndex.load(path) for lang in LANGUAGES if (path := directory / f"vectors-{lang}.faiss").exists()
        }
        lexical = {lang: LexicalIndex.load(directory, f"lexical-{lang}") for lang in LANGUAGES}
        classifiers = {
            lang: ArticleClassifier.load(path) if (path := directory / f"classifier-{lang}.npz").exists() else None
            for lang in LANGUAGES
        }
        return cls(articles, units, vectors, lexical, classifiers, manifest)


def _units(position: int, article: Article, settings: IndexSettings) -> list[Unit]:
    """The article's units; a text that repeats one already taken (a title asked as a question) is left out."""
    candidates = []
    if settings.index_titles:
        candidates.append(("title", article.title))
    if settings.index_questions:
        candidates.extend(("question", q) for q in article.questions)
    if settings.index_answers:
        candidates.append(("answer", article.body[: settings.answer_chars]))
    if settings.index_pooled and len(article.questions) > 1:
        candidates.append(("pooled", "\n".join([article.title, *article.questions])))
    seen: set[str] = set()
    units = []
    for kind, text in candidates:
        if text not in seen:
            seen.add(text)
            units.append(Unit(position, kind, text))
    return units


def _encode(encoder: Encoder, texts: list[str], known: Mapping[str, np.ndarray]) -> np.ndarray:
    embeddings = np.zeros((len(texts), encoder.dimension), dtype=np.float32)
    missing = [i for i, text in enumerate(texts) if text not in known]
    if missing:
        embeddings[missing] = encoder.encode([texts[i] for i in missing])
    for i, text in enumerate(texts):
        if text in known:
            embeddings[i] = known[text]
    return embeddings


def _train_classifier(
    units: list[Unit], lexical: LexicalIndex, embeddings: np.ndarray | None, settings: IndexSettings
) -> ArticleClassifier | None:
    rows = [i for i, unit in enumerate(units) if unit.kind in settings.classifier_units]
    labels = np.array([units[i].article for i in rows])
    classes = len(set(labels.tolist()))
    if not settings.classifier or not 2 <= classes <= settings.classifier_max_articles or len(rows) < 2 * classes:
        return None
    features = lexical.matrix[rows]
    uses_embeddings = settings.classifier_embeddings and embeddings is not None
    if uses_embeddings:
        features = sparse.hstack([features, sparse.csr_matrix(embeddings[rows])], format="csr")
    return ArticleClassifier.train(
        features, labels, regularisation=settings.classifier_regularisation, uses_embeddings=uses_embeddings
    )


def unrelated_similarity(embeddings: np.ndarray, articles: list[int], sample: int = 2000) -> float:
    """The mean cosine between units of different articles: what "unrelated" scores with this model.

    Models differ widely here (about 0.1 for MiniLM, about 0.8 for E5, trained with a low
    temperature), so search rescales dense scores from this floor to 1 before fusing them.
    """
    if len(embeddings) < 2:
        return 0.0
    rows = np.random.default_rng(0).permutation(len(embeddings))[:sample]
    chosen, owners = embeddings[rows], np.asarray(articles)[rows]
    different = owners[:, None] != owners[None, :]
    if not different.any():
        return 0.0
    return round(float((chosen @ chosen.T)[different].mean()), 4)


def model_names(encoders: Mapping[str, Encoder]) -> dict[str, str]:
    return {language: encoders[language].name if language in encoders else NO_MODEL for language in LANGUAGES}


def _plain(settings: IndexSettings) -> dict:
    """Settings as they read back from the manifest's JSON (tuples become lists)."""
    return json.loads(json.dumps(asdict(settings)))


def read_features(directory: Path | str) -> dict[str, dict[str, Counter[str]]]:
    """The lexical features a build saved for each unit text (empty if it saved none)."""
    path = Path(directory) / FEATURES
    if not path.is_file():
        return {}
    plain = json.loads(path.read_text(encoding="utf-8"))
    return {language: {text: Counter(f) for text, f in by_text.items()} for language, by_text in plain.items()}


def read_manifest(directory: Path | str) -> dict | None:
    path = Path(directory) / MANIFEST
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def staleness(manifest: dict | None, *, models: dict[str, str], settings: IndexSettings, content: str) -> str | None:
    """Why an index with `manifest` is out of date, or None if it is current."""
    if manifest is None:
        return "no index has been built"
    if manifest.get("format_version") != FORMAT_VERSION:
        return f"index format {manifest.get('format_version')} is not {FORMAT_VERSION}"
    if manifest.get("models") != models:
        return f"index was built with models {manifest.get('models')}, not {models}"
    if manifest.get("settings") != _plain(settings):
        return "index settings changed"
    if manifest.get("content_hash") != content:
        return "knowledge base articles changed"
    return None


def open_index(
    articles_dir: Path | str,
    index_dir: Path | str,
    encoders: Mapping[str, Encoder],
    analyzer: Analyzer,
    settings: IndexSettings = IndexSettings(),
    *,
    rebuild: bool = False,
) -> KnowledgeIndex:
    """Load the saved index, rebuilding (and saving) it first if it is stale."""
    content = content_hash(articles_dir)
    reason = (
        "rebuild requested"
        if rebuild
        else staleness(read_manifest(index_dir), models=model_names(encoders), settings=settings, content=content)
    )
    if reason is None:
        return KnowledgeIndex.load(index_dir)
    logger.info("Building the knowledge-base index: %s", reason)
    index = KnowledgeIndex.build(load_articles(articles_dir), encoders, analyzer, settings, content)
    index.save(index_dir)
    return index


KEEP_BUILDS = 3  # content-addressed builds kept beside the newest, for processes still loading one
KEY_CHARS = 20  # of the build key, naming its folder


def build_directory(root: Path | str, index: KnowledgeIndex) -> Path:
    """Where `cached_index` keeps `index` under `root`."""
    return Path(root) / index.manifest["content_hash"][:KEY_CHARS]


def build_key(articles: list[Article], encoders: Mapping[str, Encoder], settings: IndexSettings) -> str:
    """What an index is a function of: the articles' content, the models and the settings."""
    digest = hashlib.sha256(articles_hash(articles).encode())
    digest.update(json.dumps([FORMAT_VERSION, model_names(encoders), _plain(settings)], sort_keys=True).encode())
    return digest.hexdigest()


def cached_index(
    articles: list[Article],
    root: Path | str,
    encoders: Mapping[str, Encoder],
    analyzer: Analyzer,
    settings: IndexSettings = IndexSettings(),
    *,
    previous: KnowledgeIndex | None = None,
) -> KnowledgeIndex:
    """The index of `articles`, loaded from `root/<key>` if it was built before, else built (from
    `previous`'s embeddings where it can) and saved there. Builds are content-addressed, so any
    number of processes can share `root`: the first to finish a build publishes it with one
    atomic rename, and the others load it or keep their own identical one."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    key = build_key(articles, encoders, settings)
    directory = root / key[:KEY_CHARS]
    # One process builds a key while the others on this machine wait for it and load its build.
    with open(root / f".{key[:KEY_CHARS]}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if read_manifest(directory) is not None:
            try:
                return KnowledgeIndex.load(directory)
            except (OSError, ValueError, KeyError) as exc:  # a build damaged on disk: make it again
                logger.warning("The saved index at %s cannot be read (%s); rebuilding it", directory, exc)
                shutil.rmtree(directory, ignore_errors=True)
        index = KnowledgeIndex.build(articles, encoders, analyzer, settings, key, previous=previous)
        staging = root / f".{key[:KEY_CHARS]}.{os.getpid()}.{time.monotonic_ns()}"
        index.write(staging)
        try:
            staging.rename(directory)
        except OSError:  # another machine sharing the folder published the same build first
            shutil.rmtree(staging, ignore_errors=True)
    _prune(root, keep=directory)
    return index


def _prune(root: Path, keep: Path) -> None:
    """Remove all but the newest KEEP_BUILDS builds, and staging folders left by a crash."""
    builds = sorted(
        (p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and p != keep),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    for old in builds[KEEP_BUILDS:]:
        shutil.rmtree(old, ignore_errors=True)
    hour_ago = time.time() - 3600
    for leftover in root.glob(".*"):
        if leftover.stat().st_mtime < hour_ago:  # staging folders left by a crash, old build locks
            shutil.rmtree(leftover, ignore_errors=True) if leftover.is_dir() else leftover.unlink(missing_ok=True)
