"""Private helpers of the deep-learning stage: patient-aware fitting, learning curves, shared folds.

:func:`dcemets.evaluation.cross_validate` calls ``estimator.fit(X_train, y_train)`` without the
patients of the slices.  :class:`_PatientFit` finds them again (from each sample's bytes) so
that a network's early-stopping split holds out whole patients, and records each fold's
training history (``history_``) in :data:`_HISTORIES`.  :class:`_HistoryStore` stores that
history with the fold's checkpoint and restores it when the fold is read back, so a resumed
run draws the same learning curves.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, clone

_HISTORIES: dict[str, list[list[dict[str, float]]]] = {}


def _sample_key(x: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(x, dtype=np.float32).tobytes()).hexdigest()


class _PatientFit(ClassifierMixin, BaseEstimator):
    """Fit `estimator` with the patient of every training sample as `groups`; record its history."""

    def __init__(self, estimator: Any = None, groups: dict[str, str] | None = None, sink: str = "") -> None:
        self.estimator = estimator
        self.groups = groups
        self.sink = sink

    def fit(self, X: Any, y: Any) -> _PatientFit:
        X = np.asarray(X)
        lookup = self.groups or {}
        groups = np.asarray([lookup.get(_sample_key(x), f"sample{i}") for i, x in enumerate(X)])
        self.estimator_ = clone(self.estimator).fit(X, y, groups=groups)
        self.classes_ = self.estimator_.classes_
        _HISTORIES.setdefault(self.sink, []).append(list(self.estimator_.history_))
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        return np.asarray(self.estimator_.predict_proba(X))

    def predict(self, X: Any) -> np.ndarray:
        return np.asarray(self.estimator_.predict(X))


class _HistoryStore:
    """A fold checkpoint store (or none) that keeps each fold's training history with it."""

    def __init__(self, store: Any, sink: str) -> None:
        self.store = store
        self.sink = sink

    def get(self, key: str) -> dict[str, Any] | None:
        value = None if self.store is None else self.store.get(key)
        if value is not None:
            _HISTORIES.setdefault(self.sink, []).append(list(value.get("history", [])))
        return value

    def put(self, key: str, value: dict[str, Any]) -> None:
        history = _HISTORIES.get(self.sink, [[]])[-1]  # the fold just fitted
        if self.store is not None:
            self.store.put(key, {**value, "history": history})


def patient_groups(X: np.ndarray, groups: np.ndarray) -> dict[str, str]:
    """``{sample bytes digest: patient}`` for :class:`_PatientFit`."""
    return {_sample_key(x): str(g) for x, g in zip(X, groups, strict=True)}


def learning_curves(sink: str) -> pd.DataFrame:
    """The recorded histories of `sink` as one table: fold, epoch, losses and accuracies."""
    rows = [
        {"fold": k, **{key: float(v) for key, v in record.items()}}
        for k, history in enumerate(_HISTORIES.pop(sink, []))
        for record in history
    ]
    frame = pd.DataFrame(rows)
    if len(frame):
        frame["epoch"] = frame["epoch"].astype(int)
    return frame


def fold_of_samples(fold_of_patient: pd.Series, groups: np.ndarray) -> np.ndarray:
    """The test fold of every slice, from its patient's fold."""
    return fold_of_patient.reindex(np.asarray(groups, dtype=str)).to_numpy(dtype=int)


class FixedFolds:
    """A splitter with given test folds (``PredefinedSplit`` without its warning about `groups`)."""

    def __init__(self, test_fold: np.ndarray) -> None:
        self.test_fold = np.asarray(test_fold, dtype=int)

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        return int(np.unique(self.test_fold).size)

    def split(self, X: Any = None, y: Any = None, groups: Any = None) -> Any:
        index = np.arange(self.test_fold.size)
        for k in np.unique(self.test_fold):
            yield index[self.test_fold != k], index[self.test_fold == k]
