"""Lexical side of the index: TF-IDF cosine over the analyser's words and character n-grams.

Cosine keeps scores in [0, 1] whatever the query length, so the lexical score can be fused
with the dense one and compared with a single handoff threshold (BM25 scores are unbounded).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
from scipy import sparse


class LexicalIndex:
    def __init__(self, vocabulary: dict[str, int], idf: np.ndarray, matrix: sparse.csr_matrix):
        self._vocabulary = vocabulary
        self._idf = idf
        self._matrix = matrix

    @classmethod
    def build(cls, documents: list[Counter[str]]) -> LexicalIndex:
        vocabulary: dict[str, int] = {}
        for features in documents:
            for feature in features:
                vocabulary.setdefault(feature, len(vocabulary))
        document_frequency = np.zeros(len(vocabulary), dtype=np.float64)
        for features in documents:
            for feature in features:
                document_frequency[vocabulary[feature]] += 1
        # Smoothed idf, as scikit-learn's TfidfVectorizer.
        idf = np.log((1 + len(documents)) / (1 + document_frequency)) + 1
        index = cls(vocabulary, idf.astype(np.float32), sparse.csr_matrix((0, len(vocabulary)), dtype=np.float32))
        rows = [index._weights(features) for features in documents]
        indptr = np.cumsum([0, *(len(columns) for columns, _ in rows)])
        columns = np.concatenate([c for c, _ in rows]) if rows else np.zeros(0, dtype=np.int64)
        values = np.concatenate([v for _, v in rows]) if rows else np.zeros(0, dtype=np.float32)
        index._matrix = sparse.csr_matrix((values, columns, indptr), shape=(len(documents), len(vocabulary)))
        return index

    @property
    def matrix(self) -> sparse.csr_matrix:
        """One L2-normalised TF-IDF row per document."""
        return self._matrix

    def vectorise(self, features: Counter[str]) -> sparse.csr_matrix:
        columns, values = self._weights(features)
        return sparse.csr_matrix(
            (values, columns, [0, len(columns)]), shape=(1, len(self._vocabulary)), dtype=np.float32
        )

    def _weights(self, features: Counter[str]) -> tuple[np.ndarray, np.ndarray]:
        """Known features' columns (sorted) and L2-normalised sublinear TF-IDF weights."""
        known = sorted(
            (column, count) for f, count in features.items() if (column := self._vocabulary.get(f)) is not None
        )
        if not known:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        columns = np.array([column for column, _ in known], dtype=np.int64)
        counts = np.array([count for _, count in known], dtype=np.float32)
        values = ((1 + np.log(counts)) * self._idf[columns]).astype(np.float32)
        return columns, values / np.linalg.norm(values)  # idf >= 1, so the norm is positive

    def __len__(self) -> int:
        return self._matrix.shape[0]

    def scores(self, query: sparse.csr_matrix) -> np.ndarray:
        """Cosine similarity of a vectorised query to every document, in document order."""
        if len(self) == 0:
            return np.zeros(0, dtype=np.float32)
        return (self._matrix @ query.T).toarray().ravel()

    def save(self, directory: Path, name: str) -> None:
        sparse.save_npz(directory / f"{name}.npz", self._matrix)
        np.save(directory / f"{name}-idf.npy", self._idf)
        (directory / f"{name}-vocabulary.json").write_text(
            json.dumps(self._vocabulary, ensure_ascii=False), encoding="utf-8"
        )

    @classmethod
    def load(cls, directory: Path, name: str) -> LexicalIndex:
        vocabulary = json.loads((directory / f"{name}-vocabulary.json").read_text(encoding="utf-8"))
        return cls(
            vocabulary, np.load(directory / f"{name}-idf.npy"), sparse.load_npz(directory / f"{name}.npz").tocsr()
        )
