"""Networks trained elsewhere, in and out of prunelab.

    from prunelab.interop import from_torch, to_torch
    model = from_torch(module)     # a prunelab sparse model with the same function
    module = to_torch(model)       # back to nn.Sequential, masks as torch.nn.utils.prune masks

:func:`load_file` reads a ``.pt`` state dict (dense or ``torch.nn.utils.prune``-pruned), a
sparselab state dict with its topology (:func:`sparselab_state_dict`) or an ``.npz`` file.
Registering an imported network as a run of the results store is
:func:`prunelab.studies.imported.import_network` (``prunelab import FILE``).
"""

from prunelab.interop.files import (
    IMPORT_FORMATS,
    guess_format,
    load_file,
    read_specs,
    sparselab_state_dict,
)
from prunelab.interop.modules import SUPPORTED, from_torch, to_torch
from prunelab.interop.spec import LayerSpec, assemble

__all__ = [
    "IMPORT_FORMATS",
    "SUPPORTED",
    "LayerSpec",
    "assemble",
    "from_torch",
    "guess_format",
    "load_file",
    "read_specs",
    "sparselab_state_dict",
    "to_torch",
]
