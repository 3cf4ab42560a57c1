"""A classifier over articles, trained on the knowledge base's own alternate questions.

Similarity to the single closest question is brittle when a customer's words are spread over
several of an article's questions; a multinomial logistic regression learns which words (and,
where the language has an encoder, which embedding directions) speak for which article. Its probability is fused
with the similarity score in `search.py`; alone it cannot say "none of these" (a question about
the weather still gets a distribution over articles), which is why similarity stays in the mix.

Trained with scikit-learn at index time; applied with numpy, so loading needs no pickles.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import sparse


class ArticleClassifier:
    def __init__(self, weights: np.ndarray, bias: np.ndarray, classes: np.ndarray, uses_embeddings: bool):
        self.weights = weights  # (features, classes)
        self.bias = bias  # (classes,)
        self.classes = classes  # article positions, one per column
        self.uses_embeddings = uses_embeddings  # features are [lexical | embedding], not lexical alone

    @classmethod
    def train(
        cls, features: sparse.csr_matrix, labels: np.ndarray, *, regularisation: float, uses_embeddings: bool
    ) -> ArticleClassifier:
        from sklearn.linear_model import LogisticRegression

        model = LogisticRegression(C=regularisation, max_iter=5000, random_state=0)
        model.fit(features, labels)
        weights, bias = model.coef_, model.intercept_
        if len(model.classes_) == 2:  # scikit-learn keeps one column for two classes
            weights, bias = np.vstack([-weights, weights]) / 2, np.concatenate([-bias, bias]) / 2
        return cls(weights.T.astype(np.float32), bias.astype(np.float32), model.classes_, uses_embeddings)

    def probabilities(self, features: sparse.csr_matrix) -> np.ndarray:
        """Softmax over `classes` for each row of `features`."""
        logits = np.asarray(features @ self.weights) + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)

    def save(self, path: Path) -> None:
        np.savez(path, weights=self.weights, bias=self.bias, classes=self.classes, uses_embeddings=self.uses_embeddings)

    @classmethod
    def load(cls, path: Path) -> ArticleClassifier:
        with np.load(path) as data:
            return cls(data["weights"], data["bias"], data["classes"], bool(data["uses_embeddings"]))
