"""Structured pruning that frees whole crossbar rows (word lines) and columns (bit-line groups).

Every crossbar-mapped layer computes ``y = x @ W + b`` with ``W`` (in, out) in matrix orientation
(``layer.matrix()``): a *row* is one word line (an input feature, or one kernel tap of one input
channel for a convolution), a *column* is one output feature whose ``S * A`` bit lines hold it.

What is pruned, and why it stays consistent across layers
---------------------------------------------------------
- A pruned **column** j of layer L is removed together with its bias: the output is exactly 0, so after
  ReLU / pooling / flatten every row of layer L+1 fed only by that output reads 0 and is *dead*; those
  rows are removed from layer L+1 too. Which rows a column feeds is found by probing the layers in
  between (:func:`feeder_matrix`), so convolutions (9 taps per channel) and flatten (4 positions per
  channel in ``cnn-digits``) need no special cases.
- A pruned **row** i of layer L is a word line that is not driven. Rows of the first layer are input
  features (pixels, or kernel taps of the input image).
- The last layer's columns are the classes: never pruned.
- Targets are fractions of each layer's rows and columns: ``row_prune`` counts every row that is not
  mapped, dead rows included; extra rows are pruned only when the dead ones fall short of the target.
  A scalar applies to every layer, a ``{layer name: fraction}`` mapping sets layers one by one.

Methods
-------
``magnitude``  (group-norm baseline) keep the columns, then the rows, of largest L2 norm in ``W``.
``gates``      differentiable L0 gates (hard-concrete, Louizos, Welling & Kingma, ICLR 2018): one gate
               ``z`` per row and per column of every layer multiplies ``W`` as ``z_row[i] * W[i, j] *
               z_col[j]`` (and the bias as ``b[j] * z_col[j]``); gates and weights train together on the
               task loss plus a penalty on the expected fraction of open gates above the target,
               ``mu * max(0, E[open] - keep)**2`` per layer and kind (the expected L0 norm of the hard-
               concrete distribution is differentiable). Then the ``keep`` gates of largest ``log_alpha``
               stay open (exact targets, deterministic), and the network is fine-tuned with the masks fixed.
Both methods fine-tune the kept weights for the same number of epochs, so they differ only in what they
choose to remove.

Determinism and cache
---------------------
The only randomness (mini-batch order, hard-concrete noise) comes from ``default_rng(recipe.seed)``; BLAS
runs single-threaded as in the workloads' training. Results are cached in the workloads' cache directory
as model files ``<workload>-pruned-<key>.npz`` written atomically; the key is a SHA-256 over everything
that decides the result: the dense weights, the training data, the targets, the method, the recipe and
the source of this module, the layers, the training loop and the gate loop (:mod:`dse.pruning.gates`).
"""
from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np
from threadpoolctl import threadpool_limits

from dse.allowed import per_layer
from dse.config import MAX_PRUNE, PRUNE_METHODS
from dse.pruning import gates as gates_module
from dse.pruning.gates import PruneRecipe, finetune, train_gates
from dse.workloads import layers as layers_module, training as training_module
from dse.workloads.builtin import default_cache_dir, read_cached_layers
from dse.workloads.layers import WeightLayer, backward_all, forward_all, softmax_cross_entropy
from dse.workloads.model_file import write_layers
from dse.workloads.workload import Workload

FORMAT_VERSION = 1
METHODS = PRUNE_METHODS  # the vocabulary the configs check (dse.config)

@dataclass(frozen=True, eq=False)
class PrunedNetwork:
    """A pruned, fine-tuned workload and which rows and columns of each weight layer remain.

    workload   the workload with fine-tuned weights; pruned rows and columns (and the biases of pruned
               columns) are exactly 0, and ``workload.float_accuracy`` is the pruned model's test accuracy
    keep_rows  layer index -> sorted int64 indices of the kept rows of ``layer.matrix()``
    keep_cols  layer index -> sorted int64 indices of the kept columns
    """

    workload: Workload
    keep_rows: dict[int, np.ndarray]
    keep_cols: dict[int, np.ndarray]

    def sparsity(self) -> dict[str, tuple[float, float]]:
        """Layer name -> (fraction of rows removed, fraction of columns removed)."""
        result = {}
        for index, layer in enumerate(self.workload.layers):
            if index in self.keep_rows:
                n_in, n_out = layer.matrix().shape
                result[layer.name] = (1 - len(self.keep_rows[index]) / n_in, 1 - len(self.keep_cols[index]) / n_out)
        return result


# --- structure ------------------------------------------------------------------------------------

def weight_layer_indices(workload: Workload) -> list[int]:
    return [i for i, layer in enumerate(workload.layers) if isinstance(layer, WeightLayer)]


def feeder_matrix(workload: Workload, index: int, next_index: int) -> np.ndarray:
    """(out_L, in_{L+1}) bool: whether output feature c of weight layer ``index`` reaches row r of the
    next weight layer ``next_index``.

    Probes the layers in between (ReLU, pooling, flatten, ...) with one positive unit input per output
    channel, then reads the next layer's im2col rows: a row is fed by c when it is ever non-zero.
    """
    shape = workload.input_shape
    for layer in workload.layers[: index + 1]:
        shape = layer.output_shape(shape)
    n_channels = shape[0]
    probe = np.zeros((n_channels, *shape))
    probe[np.arange(n_channels), np.arange(n_channels)] = 1.0  # channel c all ones in sample c
    x = probe
    for layer in workload.layers[index + 1 : next_index]:
        x = layer.forward(x)
    cols = workload.layers[next_index].im2col(x)  # (n_channels * mvms, in)
    return (cols.reshape(n_channels, -1, cols.shape[-1]) != 0).any(axis=1)


def fractions_by_layer(value: float | Mapping[str, float], names: list[str], what: str) -> dict[str, float]:
    """Every layer's prune fraction from one number or ``{layer: fraction}`` (the layers left out: 0)."""
    return per_layer(value, names, 0.0, what, MAX_PRUNE)


def kept_count(n: int, fraction: float) -> int:
    """How many of ``n`` rows or columns stay at prune ``fraction`` (at least one)."""
    return max(1, n - int(round(fraction * n)))


# --- selection ------------------------------------------------------------------------------------

def _select(scores_rows: dict[int, np.ndarray], scores_cols: dict[int, np.ndarray], order: list[int],
            feeders: dict[int, np.ndarray], row_frac: dict[int, float], col_frac: dict[int, float]):
    """Keep sets from per-row and per-column scores (higher = keep), front to back through the network."""
    keep_rows, keep_cols = {}, {}
    last = order[-1]
    for pos, index in enumerate(order):
        n_in, n_out = len(scores_rows[index]), len(scores_cols[index])
        if pos == 0:
            alive = np.arange(n_in)
        else:
            alive = np.flatnonzero(feeders[index][keep_cols[order[pos - 1]]].any(axis=0))
        k_rows = kept_count(n_in, row_frac[index])
        if len(alive) > k_rows:  # dead rows fall short of the target: prune the weakest live rows too
            best = np.argsort(-scores_rows[index][alive], kind="stable")[:k_rows]
            alive = alive[best]
        keep_rows[index] = np.sort(alive).astype(np.int64)
        if index == last:
            keep_cols[index] = np.arange(n_out, dtype=np.int64)  # classes are never pruned
        else:
            k_cols = kept_count(n_out, col_frac[index])
            keep_cols[index] = np.sort(np.argsort(-scores_cols[index], kind="stable")[:k_cols]).astype(np.int64)
    return keep_rows, keep_cols


# --- training ------------------------------------------------------------------------------------

def _prune_layers(workload, order, row_frac, col_frac, method, recipe):
    layers = copy.deepcopy(list(workload.layers))
    feeders = {order[p]: feeder_matrix(workload, order[p - 1], order[p]) for p in range(1, len(order))}
    rng = np.random.default_rng(recipe.seed)
    x, y = workload.x_train, workload.y_train

    def train_step(xb, yb):  # the classifier's cross-entropy
        _, grad = softmax_cross_entropy(forward_all(layers, xb, train=True), yb)
        backward_all(layers, grad)

    if method == "magnitude":
        mats = {i: layers[i].matrix() for i in order}
        scores_rows = {i: np.linalg.norm(mats[i], axis=1) for i in order}
        scores_cols = {i: np.linalg.norm(mats[i], axis=0) for i in order}
    else:
        row_keep = {i: 1.0 - row_frac[i] for i in order}
        col_keep = {i: 1.0 - col_frac[i] for i in order}
        # Each layer's rows are fed by the previous layer's columns through the feeder matrix; the last
        # layer's columns are the classes, never gated.
        previous = {order[p]: order[p - 1] for p in range(1, len(order))}

        def upstream(i, p_col):
            return (feeders[i] * p_col(previous[i])[:, None]).max(axis=0) if i in previous else None

        col_gate = {i: None if i == order[-1] else i for i in order}
        scores_rows, scores_cols = train_gates(layers, order, x, y, row_keep, col_keep, recipe, rng,
                                               train_step=train_step, col_gate=col_gate, upstream=upstream)
        scores_cols[order[-1]] = np.zeros(layers[order[-1]].matrix().shape[1])
    keep_rows, keep_cols = _select(scores_rows, scores_cols, order, feeders, row_frac, col_frac)
    finetune(layers, order, keep_rows, keep_cols, x, y, recipe, rng, train_step)
    return layers, keep_rows, keep_cols


# --- cache and entry point ------------------------------------------------------------------------

def _cache_key(workload: Workload, row_frac, col_frac, method: str, recipe: PruneRecipe) -> str:
    digest = hashlib.sha256()
    for module in (layers_module, training_module, gates_module):
        digest.update(Path(module.__file__).read_bytes())
    digest.update(Path(__file__).read_bytes())
    for layer in workload.layers:
        digest.update(json.dumps(layer.config(), sort_keys=True).encode())
        for key in sorted(layer.params):
            value = np.ascontiguousarray(layer.params[key])
            digest.update(f"{key}{value.shape}{value.dtype.str}".encode())
            digest.update(value.tobytes())
    for array in (workload.x_train, workload.y_train):
        array = np.ascontiguousarray(array)
        digest.update(f"{array.shape}{array.dtype.str}".encode())
        digest.update(array.tobytes())
    described = {"format": FORMAT_VERSION, "name": workload.name, "input_shape": list(workload.input_shape),
                 "row_prune": row_frac, "col_prune": col_frac, "method": method,
                 "recipe": dataclasses.asdict(recipe), "content": digest.hexdigest()}
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()


def prune_sequential(workload: Workload, row_prune: float | Mapping[str, float], col_prune: float | Mapping[str, float],
          method: str = "gates", *, recipe: PruneRecipe = PruneRecipe(),
          cache_dir: str | Path | None = None, use_cache: bool = True) -> PrunedNetwork:
    """Prune a sequential ``workload`` structurally and fine-tune it (module docstring); cached on disk.

    row_prune, col_prune  fractions in [0, 0.9] of every weight layer's rows / columns, or
                          ``{layer name: fraction}`` (missing layers: 0). The last layer keeps its columns.
    method                ``magnitude`` or ``gates``
    cache_dir             default: the workloads' cache directory (``$RERAM_DSE_CACHE/workloads``)
    """
    if type(workload).forward_with is not Workload.forward_with:
        raise ValueError(f"structured pruning needs a network that is its layers applied in order; "
                         f"{workload.name!r} is not (prune its matrices through its own structure instead)")
    order = weight_layer_indices(workload)
    if not order:
        raise ValueError(f"workload {workload.name!r} has no crossbar-mapped layer to prune")
    names = [workload.layers[i].name for i in order]
    row_by_name = fractions_by_layer(row_prune, names, "row_prune")
    col_by_name = fractions_by_layer(col_prune, names, "col_prune")
    row_frac = {i: row_by_name[workload.layers[i].name] for i in order}
    col_frac = {i: col_by_name[workload.layers[i].name] for i in order}

    key = _cache_key(workload, row_by_name, col_by_name, method, recipe)
    path = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = path / f"{workload.name}-pruned-{key[:16]}.npz"
    cached = _read(path, key, workload) if use_cache else None
    if cached is not None:
        layers, keep_rows, keep_cols = cached
    else:
        with threadpool_limits(1, user_api="blas"):  # deterministic sums, as in the workloads' training
            layers, keep_rows, keep_cols = _prune_layers(workload, order, row_frac, col_frac, method, recipe)
        if use_cache:
            metadata = {"cache_key": key,
                        "keep_rows": json.dumps({str(i): v.tolist() for i, v in keep_rows.items()}),
                        "keep_cols": json.dumps({str(i): v.tolist() for i, v in keep_cols.items()})}
            try:
                write_layers(path, layers, workload.input_shape, metadata)
            except OSError as error:  # a read-only cache only costs the retraining next time
                warnings.warn(f"could not cache pruned {workload.name!r} at {path}: {error}", stacklevel=2)
    pruned = dataclasses.replace(workload, layers=tuple(layers), float_accuracy=float("nan"))
    pruned = dataclasses.replace(pruned, float_accuracy=pruned.accuracy())
    return PrunedNetwork(pruned, keep_rows, keep_cols)


def _read(path: Path, key: str, workload: Workload):
    def kept(metadata: dict) -> tuple[dict, dict]:
        return tuple({int(k): np.asarray(v, dtype=np.int64) for k, v in json.loads(metadata[name]).items()}
                     for name in ("keep_rows", "keep_cols"))

    cached = read_cached_layers(path, key, workload.input_shape, "re-pruning", kept)
    return None if cached is None else (cached[0], *cached[1])
