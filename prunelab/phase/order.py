"""Order parameters of a (pruned) network: pure functions of predictions, masks and weights.

Functional order parameters take model outputs on a test set; structural ones take the list of
layer masks (see :mod:`prunelab.graph.structure`). Entropies are in nats.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import special, stats

from prunelab.errors import ConfigError
from prunelab.graph.structure import structure_summary


def _as_numpy(a: Any) -> np.ndarray:
    if type(a).__module__.startswith("torch"):
        return a.detach().cpu().numpy()
    return np.asarray(a)


def _logits(outputs: Any) -> np.ndarray:
    out = _as_numpy(outputs).astype(np.float64)
    if out.ndim != 2 or out.shape[1] < 2:
        raise ConfigError(
            f"outputs must be logits of shape (n_samples, n_classes >= 2), got {out.shape}"
        )
    return out


def predicted_classes(outputs: Any) -> np.ndarray:
    """Predicted class per sample: argmax of (n, C) logits, or (n,) int labels unchanged."""
    out = _as_numpy(outputs)
    if out.ndim == 1:
        return out.astype(np.int64)
    return _logits(out).argmax(axis=1)


def accuracy(outputs: Any, labels: Any) -> float:
    """Fraction of correct predictions, in [0, 1].

    Parameters
    ----------
    outputs : array (n, C) of logits or (n,) of predicted classes
    labels : int array (n,)
    """
    pred = predicted_classes(outputs)
    labels = _as_numpy(labels).astype(np.int64)
    if pred.shape != labels.shape or pred.size == 0:
        raise ConfigError(
            f"predictions {pred.shape} and labels {labels.shape} must have the same non-zero length"
        )
    return float(np.mean(pred == labels))


def normalized_accuracy(acc: Any, acc_dense: float, n_classes: int) -> Any:
    """``m = (A − 1/C) / (A_dense − 1/C)``: 1 at the dense accuracy, 0 at chance.

    Parameters
    ----------
    acc : float or array
        Test accuracy A in [0, 1].
    acc_dense : float
        Accuracy of the dense (unpruned) network; must exceed chance ``1/C``.
    n_classes : int
        Number of classes C (>= 2).

    Returns
    -------
    float or ndarray like ``acc`` (dimensionless; may be < 0 below chance)
    """
    if int(n_classes) < 2:
        raise ConfigError(f"n_classes must be >= 2, got {n_classes}")
    chance = 1.0 / int(n_classes)
    if not acc_dense > chance:
        raise ConfigError(
            f"acc_dense={acc_dense} is not above chance 1/{n_classes}; m is undefined, check the dense run"
        )
    out = (np.asarray(acc, dtype=float) - chance) / (acc_dense - chance)
    return float(out) if out.ndim == 0 else out


def prediction_entropy(outputs: Any, from_logits: bool = True) -> float:
    """Mean over samples of the entropy of the softmax output, in nats (0 .. log C).

    Parameters
    ----------
    outputs : array (n, C)
        Logits (``from_logits=True``) or probabilities (rows summing to 1).
    """
    out = _logits(outputs)
    if from_logits:
        logp = special.log_softmax(out, axis=1)
        return float(np.mean(-np.sum(np.exp(logp) * logp, axis=1)))
    return float(np.mean(stats.entropy(out, axis=1)))


def outcome_entropy(outputs: Any, n_classes: int | None = None) -> float:
    """Entropy of the histogram of predicted classes, in nats (0 when one class is always
    predicted, log C when predictions are spread evenly).

    Parameters
    ----------
    outputs : array (n, C) of logits or (n,) of predicted classes
    n_classes : int, optional
        C; needed only with class predictions (default: max class + 1).
    """
    pred = predicted_classes(outputs)
    if pred.size == 0:
        raise ConfigError("outcome entropy needs at least one prediction")
    C = n_classes or (
        _as_numpy(outputs).shape[1] if _as_numpy(outputs).ndim == 2 else int(pred.max()) + 1
    )
    return float(stats.entropy(np.bincount(pred, minlength=C)))


def weight_statistics(weights: Sequence[Any]) -> dict[str, float]:
    """Summary of the link weights of all layers pooled (weights of existing links only).

    Parameters
    ----------
    weights : sequence of float arrays
        Per-layer link values (e.g. ``layer.link_values()``), any shapes.

    Returns
    -------
    dict
        ``n_links``, ``mean_abs``, ``rms``, ``std``, ``max_abs`` (weight units) and ``kurtosis``
        (Fisher, dimensionless; nan with fewer than 4 links).
    """
    flat = (
        np.concatenate([_as_numpy(w).astype(np.float64).ravel() for w in weights])
        if len(weights)
        else np.empty(0)
    )
    if flat.size == 0:
        return {
            "n_links": 0,
            "mean_abs": np.nan,
            "rms": np.nan,
            "std": np.nan,
            "max_abs": np.nan,
            "kurtosis": np.nan,
        }
    return {
        "n_links": int(flat.size),
        "mean_abs": float(np.mean(np.abs(flat))),
        "rms": float(np.sqrt(np.mean(flat**2))),
        "std": float(np.std(flat)),
        "max_abs": float(np.max(np.abs(flat))),
        "kurtosis": float(stats.kurtosis(flat)) if flat.size >= 4 else np.nan,
    }


def order_parameters(
    outputs: Any,
    labels: Any,
    acc_dense: float | None = None,
    masks: Sequence[Any] | None = None,
    weights: Sequence[Any] | None = None,
) -> dict[str, float]:
    """All order parameters of one network as one flat record (a row of a results table).

    Parameters
    ----------
    outputs : array (n, C)
        Test-set logits.
    labels : int array (n,)
    acc_dense : float, optional
        Dense accuracy; adds ``m``.
    masks : sequence of masks, optional
        Layer masks (n_k, n_{k+1}); adds the structural measures of
        :func:`prunelab.graph.structure.structure_summary`.
    weights : sequence of arrays, optional
        Per-layer link values; adds ``w_``-prefixed :func:`weight_statistics`.

    Returns
    -------
    dict
        ``accuracy``, ``prediction_entropy``, ``outcome_entropy`` and the optional keys above.
    """
    logits = _logits(outputs)
    n_classes = logits.shape[1]
    acc = accuracy(logits, labels)
    row: dict[str, float] = {
        "accuracy": acc,
        "prediction_entropy": prediction_entropy(logits),
        "outcome_entropy": outcome_entropy(logits),
    }
    if acc_dense is not None:
        row["m"] = normalized_accuracy(acc, acc_dense, n_classes)
    if masks is not None:
        row.update(structure_summary(masks))
    if weights is not None:
        row.update({f"w_{k}": v for k, v in weight_statistics(weights).items()})
    return row
