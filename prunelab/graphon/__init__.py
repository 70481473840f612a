"""Graphon limits of pruning masks and the Graphon NTK (Pham et al. 2025, arXiv:2510.17515).

Public contract:

- :func:`estimate` ``(mask, k=64) -> (k, k)``: step-graphon estimate of one layer's mask;
- :func:`distance` ``(h1, h2)``: L2 distance of two step graphons (Frobenius norm / k);
- :func:`graphon_ntk` ``(X, graphons, variant="masked") -> (n, n)``: infinite-width NTK of a ReLU
  MLP whose layers follow step graphons;
- :func:`empirical_ntk` ``(model, X)``: the NTK Gram of a finite prunelab MLP, layer by layer;
- :func:`spectral_metrics` ``(theta)``: eigenvalues, power-law exponent, effective rank, gap,
  top-5 energy.

prunelab's definitions of what the paper leaves open are in ``docs/definitions.md``
("Pruning at initialisation and graphon limits").
"""

from prunelab.graphon.blocks import (
    as_mask,
    block_means,
    degree_blocks,
    distance,
    estimate,
    sample_mask,
)
from prunelab.graphon.chain import chain_graphons, sample_network_masks
from prunelab.graphon.empirical import PARAMETRIZATIONS, empirical_ntk
from prunelab.graphon.ntk import NTK_VARIANTS, arccos_relu, graphon_ntk
from prunelab.graphon.spectral import spectral_metrics

__all__ = [
    "NTK_VARIANTS",
    "PARAMETRIZATIONS",
    "arccos_relu",
    "as_mask",
    "block_means",
    "chain_graphons",
    "degree_blocks",
    "distance",
    "empirical_ntk",
    "estimate",
    "graphon_ntk",
    "sample_mask",
    "sample_network_masks",
    "spectral_metrics",
]
