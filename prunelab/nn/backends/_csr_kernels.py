"""Numba kernels of the ``"csr"`` backend: sparse x dense products in a batch-contiguous layout.

Every dense operand here is *transposed*: a batch of activations is stored as ``xT`` of shape
(units, batch), C-contiguous, float32, so the ``batch`` values of one unit are adjacent in memory.
A link ``(i, j)`` with weight ``w`` then costs one length-``batch`` AXPY (``yT[j] += w * xT[i]``)
or one length-``batch`` dot product (the weight gradient), and these inner loops are what LLVM
vectorises (AVX2: 8 floats per instruction). With the usual sample-major layout ``x[b, i]``
each link would instead touch ``batch`` scattered scalars; measured on the 2-core AMD EPYC
(Zen 3) development machine for a 1000x1000 layer at 1% density and batch 128, the
batch-contiguous AXPY loop runs at 10-14 GFLOP/s per core against 2-4 GFLOP/s for scalar
scatter kernels, and ``torch.sparse.mm`` with autograd was slower than the dense masked product.

Why numba and not a C++ extension: numba is already a dependency and compiles the kernels
once (``cache=True`` keeps the machine code next to this file). Its ``omp`` threading layer
links the system ``libgomp`` by file name, so next to the copy bundled with the torch wheel a
second OpenMP runtime (and pool) is loaded; both use ``torch.get_num_threads()`` threads. Forcing
a single runtime (loading the system copy before torch) measured no faster step on the 2-core
development machine, and numba's ``workqueue`` layer was 2-3x slower per step at 0.1% density.
``scipy.sparse`` has the same AXPY loop (``csr_matvecs``) but is single-threaded and has no
sampled product.

Why no input-sparsity shortcut: half of the Fashion-MNIST pixels (and of the ReLU outputs) are
zero, but per sample; only ~1.5% of input units are zero for a whole batch of 128. Skipping
zeros sample by sample breaks the vector loop and is slower than doing the SIMD arithmetic.

Epilogues: the forward kernel adds the bias and applies ReLU while an output row is in L1, and
the backward kernel applies the previous layer's ReLU backward and sums its bias gradient while
an input-gradient row is in L1, so training needs no separate element-wise passes (see
:mod:`prunelab.nn.backends._csr_stack`).

Kernels parallelise over *units* (output units in the forward pass, input units in the
backward pass), so each thread owns whole rows of the result: no atomics, no reductions, and
the floating-point result does not depend on the number of threads.

Index conventions: ``indptr_*`` int64 (n_units + 1,), unit indices int32, link positions int64,
values float32. Link order is row-major (sorted by input unit, then output unit); ``perm_out``
lists link positions in output-major order.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

# The dot product of the weight gradient is a reduction: LLVM may vectorise it only if it is
# allowed to reassociate the sum (the AXPY loops need no flag). Only these two flags are
# enabled: NaN/inf semantics stay IEEE ("nnan"/"ninf" are off), so a diverging run still
# shows a non-finite loss instead of garbage.
_REDUCTION_MATH = {"reassoc", "contract"}


@njit(parallel=True, cache=True, nogil=True)
def transpose_into(src, dst):  # pragma: no cover - compiled
    """``dst[:] = src.T`` for float32 ``src`` (n, m) and ``dst`` (m, n), both C-contiguous.

    Each destination row is written contiguously while the source is read with stride ``m``;
    with ``n`` = batch (about 128) the ``n`` source cache lines being read stay in L1 across
    consecutive destination rows. Measured 2.5x faster than ``tensor.t().contiguous()`` (whose
    generic strided copy takes ~190 us for 128 x 1000 floats on the development machine).
    """
    n, m = src.shape
    for j in prange(m):
        d = dst[j]
        for i in range(n):
            d[i] = src[i, j]


@njit(parallel=True, cache=True, nogil=True)
def spmm_forward(
    indptr_out, rows_out, perm_out, values, bias, xT, yT, y, relu
):  # pragma: no cover - compiled
    """``yT[j, :] = act(bias[j] + sum_{links (i, j)} values[l] * xT[i, :])`` for every output ``j``.

    The one forward kernel of the backend, shared by training (:mod:`._csr_stack`) and the
    inference plan (:mod:`prunelab.nn.inference`). Bias and ReLU are applied while the
    accumulator row is in L1 instead of in two extra passes over a (batch, n_out) tensor, and
    the output ``yT`` is already the next layer's batch-contiguous input.

    Parameters
    ----------
    indptr_out : int64 (n_out + 1,)
        Links of output ``j`` are ``perm_out[indptr_out[j]:indptr_out[j + 1]]``.
    rows_out : int32 (n_kernel_links,)
        Input unit of each link, output-major order (``rows[perm_out]``).
    perm_out : int64 (n_kernel_links,)
        Position in ``values`` of each link, output-major order. The inference plan passes a
        compacted permutation that skips links of weight 0.
    values : float32 (n_links,)
        Link weights in link (row-major) order.
    bias : float32 (n_out,) or (0,)
        Added to every output; empty for no bias.
    xT : float32 (n_in, batch), C-contiguous
    yT : float32 (n_out, batch), C-contiguous, overwritten.
    y : float32 (batch, n_out) or (0, 0), C-contiguous
        When not empty, also overwritten with ``yT.T`` (written while ``yT[j]`` is in L1, which
        replaces a separate transpose pass for callers that need sample-major output).
    relu : bool
        Apply ``max(., 0)``.

    Notes
    -----
    The permutation costs one scalar load per link next to a length-``batch`` AXPY; it saves
    gathering ``values[perm_out]`` into a fresh array after every optimizer step.
    """
    n_out = indptr_out.size - 1
    batch = xT.shape[1]
    has_bias = bias.size > 0
    write_y = y.shape[0] > 0
    for j in prange(n_out):
        acc = yT[j]
        b0 = bias[j] if has_bias else np.float32(0.0)
        for b in range(batch):
            acc[b] = b0
        k = indptr_out[j]
        end = indptr_out[j + 1]
        # Two links per pass halve the loads/stores of the accumulator row ``acc``, which
        # (not the arithmetic) bounds this loop.
        while k + 1 < end:
            w0 = values[perm_out[k]]
            w1 = values[perm_out[k + 1]]
            x0 = xT[rows_out[k]]
            x1 = xT[rows_out[k + 1]]
            for b in range(batch):
                acc[b] += w0 * x0[b] + w1 * x1[b]
            k += 2
        if k < end:
            w0 = values[perm_out[k]]
            x0 = xT[rows_out[k]]
            for b in range(batch):
                acc[b] += w0 * x0[b]
        if relu:
            # Branch-free ReLU: ``max(v, 0)`` or an in-place ``v if v > 0 else 0`` compile to a
            # data-dependent branch or a conditional store, which LLVM does not vectorise; on
            # ReLU inputs (about half negative, at random) that loop alone took 60-110 us per
            # 1000 x 128 layer, more than the link arithmetic at 1% density. ``v * (v > 0)``
            # is exact for v > 0 and gives -0.0 for v < 0; adding 0.0 turns that into +0.0,
            # as torch.relu gives.
            for b in range(batch):
                v = acc[b]
                acc[b] = v * (v > np.float32(0.0)) + np.float32(0.0)
        if write_y:
            for b in range(batch):
                y[b, j] = acc[b]


@njit(parallel=True, cache=True, nogil=True, fastmath=_REDUCTION_MATH)
def spmm_backward(
    indptr_in, cols, values, xT, gyT, gxT, gx_out, gw, gb_in, want_gx, want_gw, relu_in
):  # pragma: no cover
    """Input gradient ``gxT = W gyT`` and weight gradient ``gw[l] = xT[i] . gyT[j]`` in one pass.

    Parameters
    ----------
    indptr_in : int64 (n_in + 1,)
        Links of input ``i`` are positions ``indptr_in[i]:indptr_in[i + 1]`` (row-major order).
    cols : int32 (n_links,)
        Output unit of each link, link order.
    values : float32 (n_links,)
    xT : float32 (n_in, batch)
        The layer's input saved from the forward pass.
    gyT : float32 (n_out, batch)
        Gradient of the loss with respect to the layer's pre-activation output.
    gxT : float32 (n_in, batch)
        Overwritten with the input gradient when ``want_gx``; with ``relu_in`` it is the
        gradient with respect to the *previous* layer's pre-activation output.
    gx_out : float32 (batch, n_in) or (0, 0)
        When not empty (and ``want_gx``), also overwritten with ``gxT.T``.
    gw : float32 (n_links,)
        Overwritten with the weight gradient (a sampled dense-dense product at the existing
        links) when ``want_gw``.
    gb_in : float32 (n_in,) or (0,)
        When not empty (and ``want_gx``), overwritten with ``gxT.sum(1)``: the gradient of the
        previous layer's bias.
    want_gx, want_gw : bool
    relu_in : bool
        The input ``xT`` is a ReLU output: zero the input gradient where ``xT <= 0`` (ReLU's
        backward, which torch's ``threshold_backward`` computes from the output the same way).

    Notes
    -----
    Fusing both gradients means each ``gyT[j]`` row is read once per link instead of twice;
    rows of the same input unit are adjacent, so ``xT[i]`` and the accumulator ``gxT[i]``
    stay in L1 while the links of ``i`` are processed, and so does the epilogue (the previous
    layer's ReLU backward and bias gradient), which saves two passes over (batch, n_in).
    """
    n_in = indptr_in.size - 1
    batch = xT.shape[1]
    want_gb = gb_in.size > 0
    write_gx = gx_out.shape[0] > 0
    for i in prange(n_in):
        x = xT[i]
        gx = gxT[i]
        start = indptr_in[i]
        end = indptr_in[i + 1]
        if want_gx:
            gx[:] = 0.0
        # The mode test sits outside the link loop so each variant is one tight vector loop.
        if want_gx and want_gw:
            for l in range(start, end):
                g = gyT[cols[l]]
                w = values[l]
                s = np.float32(0.0)
                for b in range(batch):
                    s += x[b] * g[b]
                    gx[b] += w * g[b]
                gw[l] = s
        elif want_gw:
            for l in range(start, end):
                g = gyT[cols[l]]
                s = np.float32(0.0)
                for b in range(batch):
                    s += x[b] * g[b]
                gw[l] = s
        elif want_gx:
            for l in range(start, end):
                g = gyT[cols[l]]
                w = values[l]
                for b in range(batch):
                    gx[b] += w * g[b]
        if want_gx:
            if relu_in:
                for b in range(batch):
                    gx[b] = gx[b] if x[b] > 0.0 else np.float32(0.0)
            if want_gb:
                s = np.float32(0.0)
                for b in range(batch):
                    s += gx[b]
                gb_in[i] = s
            if write_gx:
                for b in range(batch):
                    gx_out[b, i] = gx[b]


@njit(parallel=True, cache=True, nogil=True, fastmath=_REDUCTION_MATH)
def bias_act_backward(g, hT, gT, gb, relu):  # pragma: no cover - compiled
    """Backward of ``h = act(z + bias)`` at the top of a stack: ``gT = dL/dz``, ``gb = gT.sum(1)``.

    Parameters
    ----------
    g : float32 (n, batch)
        Gradient with respect to the output ``h``: C-contiguous, or the transposed view of a
        sample-major (batch, n) gradient (then this pass is also the transpose, reading with
        stride ``n`` as :func:`transpose_into` does).
    hT : float32 (n, batch)
        The output of the forward pass (read only when ``relu``).
    gT : float32 (n, batch), C-contiguous
        Overwritten with the gradient with respect to the pre-activation ``z``.
    gb : float32 (n,) or (0,)
        When not empty, overwritten with the bias gradient.
    relu : bool
    """
    n, batch = gT.shape
    want_gb = gb.size > 0
    for j in prange(n):
        src = g[j]
        dst = gT[j]
        if relu:
            h = hT[j]
            for b in range(batch):
                dst[b] = src[b] if h[b] > 0.0 else np.float32(0.0)
        else:
            for b in range(batch):
                dst[b] = src[b]
        if want_gb:
            s = np.float32(0.0)
            for b in range(batch):
                s += dst[b]
            gb[j] = s
