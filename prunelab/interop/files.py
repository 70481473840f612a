"""Networks from files: a ``.pt`` state dict, a sparselab state dict with its CSR, or an ``.npz``.

A state dict says nothing about activations, so the readers take the activation as a parameter
(one for all layers, as in :func:`~prunelab.interop.from_torch`). Layers are the state-dict
prefixes that hold a 2-D weight, in the order the file lists them (an ``nn.Sequential``'s
state dict is in module order).

Formats (:data:`IMPORT_FORMATS`):

- ``torch``: ``torch.save(module.state_dict(), path)`` of an ``nn.Sequential`` of ``nn.Linear``
  layers, dense (``<p>.weight``) or pruned by :mod:`torch.nn.utils.prune` (``<p>.weight_orig`` and
  ``<p>.weight_mask``), with optional ``<p>.bias`` (or ``<p>.bias_orig``/``<p>.bias_mask``). A
  dict wrapping it under ``state_dict`` or ``model`` is unwrapped.
- ``sparselab``: the same for sparselab ``SparseLinear`` layers, which keep their topology
  outside the state dict: :func:`sparselab_state_dict` adds it (``<p>.row_start``,
  ``<p>.row_nnz``, ``<p>.col_indices``, ``<p>.shape``) next to ``<p>._values`` and ``<p>.bias``.
- ``npz``: ``numpy.savez(path, **arrays)`` with the key names of the ``torch`` format.

Files are read with ``torch.load(..., weights_only=True)``: no code in a file is ever run.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from prunelab.core.registry import Registry
from prunelab.errors import ConfigError
from prunelab.interop.modules import _is_sparselab, csr_spec
from prunelab.interop.spec import LayerSpec, apply_zeros_as_missing, assemble
from prunelab.nn import SparseMLP

Reader = Callable[[Mapping[str, Any], str], list[LayerSpec]]

#: file formats by name: ``reader(arrays, source) -> layer specs``
IMPORT_FORMATS: Registry[Reader] = Registry("import format")

_CSR_KEYS = ("row_start", "row_nnz", "col_indices", "_values")


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


def read_state(path: str | Path) -> dict[str, Any]:
    """The flat ``name -> array`` mapping of a ``.pt`` or ``.npz`` file.

    Raises
    ------
    ConfigError
        Missing file; a file that torch (``weights_only=True``) or numpy cannot read; or one
        whose content is not a mapping of names to tensors.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"file {str(path)!r} not found; pass the path of a .pt state dict or an .npz file"
        )
    if zipfile.is_zipfile(path) and path.suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except (OSError, ValueError) as err:
            raise ConfigError(
                f"{str(path)!r} is not a readable .npz file ({_first_line(err)})"
            ) from None
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except (
        Exception
    ) as err:  # torch raises UnpicklingError, RuntimeError, EOFError, ... for foreign files
        raise ConfigError(
            f"{str(path)!r} is not a state dict torch can load with weights_only=True "
            f"({_first_line(err)}); save one with torch.save(module.state_dict(), path)"
        ) from None
    for wrapper in ("state_dict", "model"):
        if isinstance(obj, Mapping) and isinstance(obj.get(wrapper), Mapping):
            obj = obj[wrapper]
    if not isinstance(obj, Mapping) or not any(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ConfigError(
            f"{str(path)!r} holds a {type(obj).__name__}, not a state dict (a mapping of names to "
            "tensors); save one with torch.save(module.state_dict(), path)"
        )
    return {str(k): v for k, v in obj.items()}


def _prefixes(arrays: Mapping[str, Any], suffixes: tuple[str, ...]) -> list[str]:
    """Prefixes ``p`` with a key ``p.<suffix>``, in first-appearance order."""
    seen: dict[str, None] = {}
    for key in arrays:
        prefix, _, last = key.rpartition(".")
        if last in suffixes:
            seen.setdefault(prefix, None)
    return list(seen)


def _key(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _bias(arrays: Mapping[str, Any], prefix: str) -> Any:
    if _key(prefix, "bias_orig") in arrays:  # a pruned bias: the effective bias is orig * mask
        return np.asarray(arrays[_key(prefix, "bias_orig")], np.float32) * np.asarray(
            arrays[_key(prefix, "bias_mask")], np.float32
        )
    return arrays.get(_key(prefix, "bias"))


def _check_unused(arrays: Mapping[str, Any], used: set[str], source: str, what: str) -> None:
    extra = [k for k in arrays if k not in used]
    if extra:
        raise ConfigError(
            f"{source}: unsupported entry {extra[0]!r}; a {what} file holds only Linear layers "
            "(weight, weight_orig/weight_mask, bias)"
        )


@IMPORT_FORMATS.register("torch")
def read_torch(arrays: Mapping[str, Any], source: str) -> list[LayerSpec]:
    """Layers of an ``nn.Linear`` state dict (dense or with ``torch.nn.utils.prune`` masks)."""
    specs, used = [], set()
    for prefix in _prefixes(arrays, ("weight", "weight_orig")):
        if _key(prefix, "weight_orig") in arrays:
            mask_key = _key(prefix, "weight_mask")
            if mask_key not in arrays:
                raise ConfigError(
                    f"{source}: {_key(prefix, 'weight_orig')!r} has no {mask_key!r}; a pruned layer "
                    "needs both (torch.nn.utils.prune saves both)"
                )
            weight, mask = arrays[_key(prefix, "weight_orig")], np.asarray(arrays[mask_key])
            used |= {_key(prefix, "weight_orig"), mask_key}
        else:
            weight, mask = arrays[_key(prefix, "weight")], None
            used.add(_key(prefix, "weight"))
        used |= {
            _key(prefix, k) for k in ("bias", "bias_orig", "bias_mask") if _key(prefix, k) in arrays
        }
        specs.append(LayerSpec(prefix or "weight", weight, mask, _bias(arrays, prefix)))
    _check_unused(arrays, used, source, "torch")
    return specs


@IMPORT_FORMATS.register("sparselab")
def read_sparselab(arrays: Mapping[str, Any], source: str) -> list[LayerSpec]:
    """Layers of a :func:`sparselab_state_dict` (sparselab layers with their CSR; nn.Linear too)."""
    csr_prefixes = set(_prefixes(arrays, ("col_indices",)))
    if not csr_prefixes:
        raise ConfigError(
            f"{source}: no sparselab layer (no '<layer>.col_indices'); save a sparselab model with "
            "prunelab.interop.sparselab_state_dict(model), or use --format torch"
        )
    specs, used = [], set()
    for prefix in _prefixes(
        arrays, ("weight", "weight_orig", "_values", "col_indices")
    ):  # state-dict order
        if prefix not in csr_prefixes:
            dense = read_torch(
                {k: v for k, v in arrays.items() if k.rpartition(".")[0] == prefix}, source
            )
            specs += dense
            used |= {k for k in arrays if k.rpartition(".")[0] == prefix}
            continue
        keys = {k: _key(prefix, k) for k in (*_CSR_KEYS, "shape")}
        missing = [v for v in keys.values() if v not in arrays]
        if missing:
            raise ConfigError(f"{source}: sparselab layer {prefix!r} lacks {missing[0]!r}")
        n_out, n_in = (int(s) for s in np.asarray(arrays[keys["shape"]]).ravel()[:2])
        specs.append(
            csr_spec(
                prefix,
                n_out,
                n_in,
                arrays[keys["row_start"]],
                arrays[keys["row_nnz"]],
                arrays[keys["col_indices"]],
                arrays[keys["_values"]],
                arrays.get(_key(prefix, "bias")),
            )
        )
        used |= set(keys.values()) | ({_key(prefix, "bias")} & set(arrays))
    _check_unused(arrays, used, source, "sparselab")
    return specs


@IMPORT_FORMATS.register("npz")
def read_npz(arrays: Mapping[str, Any], source: str) -> list[LayerSpec]:
    """Layers of an ``.npz`` with the key names of the torch format (``<p>.weight``, ``<p>.weight_mask``, ...)."""
    return read_torch(arrays, source)


def guess_format(path: str | Path, arrays: Mapping[str, Any]) -> str:
    """``npz`` for ``.npz`` files, ``sparselab`` when the arrays hold a CSR topology, else ``torch``."""
    if Path(path).suffix == ".npz":
        return "npz"
    return "sparselab" if any(k.rpartition(".")[2] == "col_indices" for k in arrays) else "torch"


def read_specs(
    path: str | Path, format: str | None = None, zeros_as_missing: bool = False
) -> tuple[list[LayerSpec], str]:
    """Layer specs of a file and the format they were read as (``format`` None: guessed)."""
    arrays = read_state(path)
    chosen = IMPORT_FORMATS.check(format) if format is not None else guess_format(path, arrays)
    specs = IMPORT_FORMATS.get(chosen)(arrays, str(path))
    if not specs:
        raise ConfigError(
            f"{str(path)!r} holds no Linear layer (no '<layer>.weight' entry); nothing to import"
        )
    return (apply_zeros_as_missing(specs) if zeros_as_missing else specs), chosen


def load_file(
    path: str | Path,
    format: str | None = None,
    *,
    activation: str = "relu",
    zeros_as_missing: bool = False,
    backend: str | None = None,
) -> SparseMLP:
    """The prunelab model stored in a file.

    Parameters
    ----------
    path : str or Path
        A ``.pt``/``.pth`` state dict or an ``.npz`` file (see the module docstring).
    format : {"torch", "sparselab", "npz"} or None
        None: from the suffix and content (:func:`guess_format`).
    activation : {"relu", "tanh", "gelu", "silu"}
        Between consecutive layers (a state dict does not record it).
    zeros_as_missing : bool
        Exact zeros of unmasked layers are missing links.
    backend : {"csr", "masked"} or None

    Returns
    -------
    SparseMLP
        As :func:`~prunelab.interop.from_torch` builds it.

    Raises
    ------
    ConfigError
        One line: missing or unreadable file, not a state dict, an unsupported entry, a mask
        whose shape does not match its weight, sizes that do not chain.
    """
    specs, _ = read_specs(path, format, zeros_as_missing)
    return assemble(specs, activation, backend)


def sparselab_state_dict(module: nn.Module) -> dict[str, torch.Tensor]:
    """``module.state_dict()`` plus the CSR topology of each sparselab layer, for ``--format sparselab``.

    sparselab's own state dict holds only the (padded) values and biases; this adds
    ``<p>.row_start``, ``<p>.row_nnz``, ``<p>.col_indices`` and ``<p>.shape`` (out, in) per
    sparselab ``SparseLinear`` so the file alone describes the network. Save it with
    ``torch.save(sparselab_state_dict(model), "net.pt")``.
    """
    state = dict(module.state_dict())
    for name, child in module.named_modules():
        if _is_sparselab(child):
            csr = child._csr
            for key, value in (
                ("row_start", csr.row_start),
                ("row_nnz", csr.row_nnz),
                ("col_indices", csr.col_indices),
            ):
                state[_key(name, key)] = torch.as_tensor(np.asarray(value, dtype=np.int64))
            state[_key(name, "shape")] = torch.tensor(
                [int(s) for s in csr.shape], dtype=torch.int64
            )
            state[_key(name, "_values")] = child._values.detach().clone()
    return state
