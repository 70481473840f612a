"""Graph measures and degree-preserving nulls on layer masks (bool (n_in, n_out) arrays)."""

from prunelab.graph.masks import as_network, to_csr_bool, to_dense_bool
from prunelab.graph.rewire import has_unique_realization, rewire, rewire_network
from prunelab.graph.structure import (
    PathConnectivity,
    backward_reachable,
    forward_reachable,
    largest_component,
    layered_adjacency,
    log_path_count,
    path_connectivity,
    structure_summary,
    units_on_paths,
)

__all__ = [
    "PathConnectivity",
    "as_network",
    "backward_reachable",
    "forward_reachable",
    "has_unique_realization",
    "largest_component",
    "layered_adjacency",
    "log_path_count",
    "path_connectivity",
    "rewire",
    "rewire_network",
    "structure_summary",
    "to_csr_bool",
    "to_dense_bool",
    "units_on_paths",
]
