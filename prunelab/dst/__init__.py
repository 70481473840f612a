"""Dynamic sparse training: removal, chain removal, regrowth and initialisation of links.

- :class:`DSTConfig` (``config.py``): every option, validated; presets ``set``, ``rigl``,
  ``cht``, ``chts``, ``sulyok-rlr``, ``sulyok-ch3l3``.
- :func:`update_topology` (``update.py``): one update of all sparse layers of a model.
- :class:`DSTHook` (``hook.py``): the update on a schedule inside the training engine.
- Pure functions on link lists: :func:`removal_keep` (``removal.py``), :func:`chain_removal`
  (``chain.py``), :func:`regrow` (``regrowth.py``).
"""

from prunelab.dst.chain import chain_removal, on_path_units
from prunelab.dst.config import PRESETS, DSTConfig
from prunelab.dst.gradients import batch_grad_provider, layer_gradients
from prunelab.dst.regrowth import REGROWTH_RULES, Regrowth, regrow
from prunelab.dst.removal import REMOVAL_RULES, removal_keep
from prunelab.dst.update import update_topology

__all__ = [
    "DSTConfig",
    "PRESETS",
    "update_topology",
    "DSTHook",
    "removal_keep",
    "chain_removal",
    "on_path_units",
    "regrow",
    "Regrowth",
    "layer_gradients",
    "batch_grad_provider",
    "REGROWTH_RULES",
    "REMOVAL_RULES",
]


def __getattr__(name: str):
    # the hook imports the training engine; load it only when asked, so the pure functions and
    # the config (imported by the experiment config) do not depend on prunelab.training
    if name == "DSTHook":
        from prunelab.dst.hook import DSTHook

        return DSTHook
    raise AttributeError(name)
