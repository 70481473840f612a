"""The result of evaluating a classifier on a data set, with named fields."""

from __future__ import annotations

from typing import NamedTuple


class Evaluation(NamedTuple):
    """Loss and accuracy of a model on a data set.

    Attributes
    ----------
    loss : float
        Mean cross-entropy per sample (nats).
    accuracy : float
        Fraction of samples classified correctly, in [0, 1].

    Examples
    --------
    >>> Evaluation(loss=0.3, accuracy=0.9).accuracy
    0.9
    """

    loss: float
    accuracy: float
