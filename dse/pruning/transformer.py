"""Structured pruning of the transformer's linear layers: the hard-concrete gates of
``dse.pruning.gates``, through the transformer's own structure.

:func:`prune_transformer` returns the same :class:`~dse.pruning.sequential.PrunedNetwork` as
``dse.pruning.prune`` (pruned, fine-tuned workload plus kept rows and columns per layer index), so the
protected mapping (copies in the freed columns, MSB embedding, votes) takes it unchanged; ``dse.pruning.prune``
calls it for a transformer.

Which rows and columns, per block (``q k v o i f`` = query, key, value, attention output, feed-forward
in and out; rows are word lines = input features, columns are outputs):

- rows of ``q k v i`` read LayerNorm outputs (the hidden features): each layer has its own row gates;
- columns of ``q`` and ``k`` share one gate per feature: score ``q . k`` loses the same term either way,
  so both are pruned together;
- a pruned column of ``v`` (with its bias) makes its context feature exactly 0: the same row of ``o`` is
  dead; likewise a pruned column of ``i`` gives GELU(0) = 0 and kills that row of ``f``. Dead rows count
  toward the row target of ``o`` / ``f``; extra rows are pruned only when the dead ones fall short;
- columns of ``o`` and ``f`` feed the residual stream: a pruned column drops that layer's contribution
  (and its bias) to one hidden feature.

Gates and weights train together on the transformer's loss (``TransformerWorkload.loss``: the topic
head's cross-entropy plus the cosine distance to the float model's embeddings, i.e. distillation) with
the L0 penalty of ``dse.pruning.gates`` per layer and kind; then the ``keep`` gates of largest
``log_alpha`` stay open and the kept weights are fine-tuned with the masks fixed. ``magnitude`` keeps the
rows and columns of largest L2 norm instead (q and k columns by their summed norms). Fine-tuning a
pretrained encoder wants a small step: :data:`TRANSFORMER_RECIPE`.

Results are cached as ``<workload>-pruned-<key>.npz`` in the workloads' cache directory, written
atomically; the key covers the weights, the training data, the targets, the method, the recipe and the
source of this module, the transformer, the gate loop and the sequential pruner it shares helpers with.
"""
from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import warnings
from pathlib import Path
from typing import Mapping

import numpy as np
from threadpoolctl import threadpool_limits

from dse.atomic import write_atomic
from dse.pruning import gates as gates_module, sequential as sequential_module
from dse.pruning.gates import PruneRecipe, finetune, train_gates
from dse.pruning.sequential import METHODS, PrunedNetwork, fractions_by_layer, kept_count
from dse.workloads import transformer as transformer_module
from dse.workloads.builtin import default_cache_dir, read_keyed_cache
from dse.workloads.minilm_hparams import PRUNE_LEARNING_RATE

FORMAT_VERSION = 1
# Fine-tuning on 170 sentences: few epochs. The step (with the workload's distillation weight) is chosen on the
# validation split carved from the training sentences (dse.workloads.minilm_hparams).
TRANSFORMER_RECIPE = PruneRecipe(gate_epochs=6, finetune_epochs=4, batch_size=16, learning_rate=PRUNE_LEARNING_RATE,
                                 gate_lr=0.1, gate_init=2.0, penalty=10.0, seed=0)
# A text task (an encoder with a head, dse.workloads.text_tasks) has thousands of training examples; gates and
# fine-tuning run numpy forward and backward passes of the encoder, about three float passes per example
# and epoch, which on the shared 2-core machine bounds the examples used to the first TASK_TRAIN_EXAMPLES.
TASK_RECIPE = PruneRecipe(gate_epochs=1, finetune_epochs=1, batch_size=16, learning_rate=1e-4,
                          gate_lr=0.1, gate_init=2.0, penalty=10.0, seed=0)
TASK_TRAIN_EXAMPLES = 1024
Q, K, V, O, I, F = range(6)  # positions within a block (transformer.LINEAR_KINDS)


@dataclasses.dataclass(frozen=True)
class _Structure:
    """Index bookkeeping of the blocks: which gates exist, which columns feed which rows."""

    blocks: int
    head: bool = False  # a task head after the encoder (text_tasks): its own row gates, its columns kept

    def order(self) -> list[int]:
        return list(range(6 * self.blocks + self.head))

    def kind(self, index: int) -> int | None:
        """Position within a block (``Q`` .. ``F``), None for the head."""
        return index % 6 if index < 6 * self.blocks else None

    def col_gate(self, index: int) -> int:
        """The layer whose column gates layer ``index`` uses (keys share the queries')."""
        return index - 1 if self.kind(index) == K else index

    def feeder(self, index: int) -> int | None:
        """The layer whose columns feed the rows of layer ``index`` one to one (v -> o, i -> f)."""
        return {O: index - 1, F: index - 1}.get(self.kind(index))


def _select(scores_rows, scores_cols, st: _Structure, row_frac, col_frac):
    keep_rows, keep_cols = {}, {}
    for i in st.order():  # columns first: a feeder precedes the layer it feeds
        source = st.col_gate(i)
        if source != i:
            keep_cols[i] = keep_cols[source]
        else:
            k = kept_count(len(scores_cols[i]), col_frac[i])
            keep_cols[i] = np.sort(np.argsort(-scores_cols[i], kind="stable")[:k]).astype(np.int64)
    for i in st.order():
        n_in = len(scores_rows[i])
        feeder = st.feeder(i)
        alive = keep_cols[feeder] if feeder is not None else np.arange(n_in)
        k = kept_count(n_in, row_frac[i])
        if len(alive) > k:
            alive = alive[np.argsort(-scores_rows[i][alive], kind="stable")[:k]]
        keep_rows[i] = np.sort(alive).astype(np.int64)
    return keep_rows, keep_cols


def _prune(workload, st, row_frac, col_frac, method, recipe):
    layers = copy.deepcopy(list(workload.layers))
    work = dataclasses.replace(workload, layers=tuple(layers))  # shares the layer objects being trained
    rng = np.random.default_rng(recipe.seed)
    x, y = workload.x_train, workload.y_train

    def train_step(xb, yb):  # the transformer's own loss
        work.backward(work.loss(work.forward_train(xb), yb)[1])

    if method == "magnitude":
        mats = {i: layers[i].matrix() for i in st.order()}
        scores_rows = {i: np.linalg.norm(m, axis=1) for i, m in mats.items()}
        norms = {i: np.linalg.norm(m, axis=0) for i, m in mats.items()}
        scores_cols = {i: norms[i] + (norms[i + 1] if st.kind(i) == Q else norms[i - 1] if st.kind(i) == K else 0.0)
                       for i in st.order()}
    else:
        row_keep = {i: 1.0 - row_frac[i] for i in st.order()}
        col_keep = {i: 1.0 - col_frac[i] for i in st.order()}

        def upstream(i, p_col):  # v -> o and i -> f: one column feeds one row
            feeder = st.feeder(i)
            return p_col(feeder) if feeder is not None else None

        scores_rows, scores_cols = train_gates(layers, st.order(), x, y, row_keep, col_keep, recipe, rng,
                                               train_step=train_step,
                                               col_gate={i: st.col_gate(i) for i in st.order()},
                                               upstream=upstream)
    keep_rows, keep_cols = _select(scores_rows, scores_cols, st, row_frac, col_frac)
    finetune(layers, st.order(), keep_rows, keep_cols, x, y, recipe, rng, train_step)
    return layers, keep_rows, keep_cols


def _cache_key(workload, row_frac, col_frac, method, recipe) -> str:
    digest = hashlib.sha256()
    for module in (gates_module, sequential_module, transformer_module):
        digest.update(Path(module.__file__).read_bytes())
    digest.update(Path(__file__).read_bytes())
    arrays = [layer.params[k] for layer in workload.layers for k in sorted(layer.params)]
    arrays += [workload.smoothing[i] for i in sorted(workload.smoothing)]
    arrays += [a for a in (workload.x_train, workload.y_train, workload.head_weight, workload.head_bias) if a is not None]
    if workload.teacher is not None:
        arrays.append(workload.teacher[1])
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.shape}{array.dtype.str}".encode())
        digest.update(array.tobytes())
    described = {"format": FORMAT_VERSION, "name": workload.name, "row_prune": row_frac, "col_prune": col_frac,
                 "method": method, "recipe": dataclasses.asdict(recipe), "distill_weight": workload.distill_weight,
                 "content": digest.hexdigest()}
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()


def prune_transformer(workload, row_prune: float | Mapping[str, float], col_prune: float | Mapping[str, float],
                      method: str = "gates", *, recipe: PruneRecipe | None = None,
                      cache_dir: str | Path | None = None, use_cache: bool = True) -> PrunedNetwork:
    """Prune a :class:`~dse.workloads.transformer.TransformerWorkload` (module docstring); cached on disk.

    row_prune, col_prune  fractions in [0, 0.9] of every layer's rows / columns, or ``{layer name:
                          fraction}`` (missing layers: 0); key columns follow the query columns
    method                ``gates`` (hard-concrete, distillation loss) or ``magnitude``
    recipe                default :data:`TRANSFORMER_RECIPE`; with a task head :data:`TASK_RECIPE` on the first
                          :data:`TASK_TRAIN_EXAMPLES` training examples
    """
    if method not in METHODS:
        raise ValueError(f"prune method must be one of {', '.join(METHODS)}; got {method!r}")
    full = workload
    st = _Structure(workload.blocks, head=len(workload.layers) > 6 * workload.blocks)
    recipe = recipe or (TASK_RECIPE if st.head else TRANSFORMER_RECIPE)
    if st.head:
        workload = dataclasses.replace(workload, x_train=workload.x_train[:TASK_TRAIN_EXAMPLES],
                                       y_train=workload.y_train[:TASK_TRAIN_EXAMPLES])
    names = [layer.name for layer in workload.layers]
    row_by_name = fractions_by_layer(row_prune, names, "row_prune")
    col_by_name = fractions_by_layer(col_prune, names, "col_prune")
    row_frac = {i: row_by_name[n] for i, n in enumerate(names)}
    # a task head keeps its columns: they are the classes
    col_frac = {i: 0.0 if st.kind(i) is None else col_by_name[names[st.col_gate(i)]] for i, n in enumerate(names)}
    key = _cache_key(workload, row_by_name, col_by_name, method, recipe)
    path = (Path(cache_dir) if cache_dir is not None else default_cache_dir()) / f"{workload.name}-pruned-{key[:16]}.npz"
    cached = _read(path, key, len(names)) if use_cache else None
    if cached is not None:
        weights, keep_rows, keep_cols = cached
        layers = [copy.copy(layer) for layer in workload.layers]
        for i, layer in enumerate(layers):
            layer.params = {"weight": weights[f"{i}.weight"], "bias": weights[f"{i}.bias"]}
    else:
        with threadpool_limits(1, user_api="blas"):  # deterministic sums, as the other training code
            layers, keep_rows, keep_cols = _prune(workload, st, row_frac, col_frac, method, recipe)
        if use_cache:
            try:
                _write(path, key, layers, keep_rows, keep_cols)
            except OSError as error:  # a read-only cache only costs the pruning next time
                warnings.warn(f"could not cache pruned {workload.name!r} at {path}: {error}", stacklevel=2)
    pruned = dataclasses.replace(full, layers=tuple(layers), float_accuracy=float("nan"))
    pruned = dataclasses.replace(pruned, float_accuracy=pruned.accuracy())
    return PrunedNetwork(pruned, keep_rows, keep_cols)


def _write(path: Path, key: str, layers, keep_rows, keep_cols) -> None:
    arrays = {f"{i}.{k}": layer.params[k] for i, layer in enumerate(layers) for k in ("weight", "bias")}
    arrays.update({f"rows.{i}": v for i, v in keep_rows.items()})
    arrays.update({f"cols.{i}": v for i, v in keep_cols.items()})
    write_atomic(path, lambda f: np.savez(f, cache_key=np.array(key), **arrays))


def _read(path: Path, key: str, n_layers: int):
    def parse(data):
        weights = {f"{i}.{k}": data[f"{i}.{k}"].astype(np.float64) for i in range(n_layers) for k in ("weight", "bias")}
        keep_rows = {i: data[f"rows.{i}"].astype(np.int64) for i in range(n_layers)}
        keep_cols = {i: data[f"cols.{i}"].astype(np.int64) for i in range(n_layers)}
        return weights, keep_rows, keep_cols

    return read_keyed_cache(path, key, parse, "re-pruning")
