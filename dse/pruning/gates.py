"""The one gate-training loop of structured pruning, and the masked fine-tuning after it.

Both pruners (:mod:`dse.pruning.sequential`, :mod:`dse.pruning.transformer`) train hard-concrete gates
(Louizos, Welling & Kingma, ICLR 2018) with :func:`train_gates` and fine-tune the kept weights with
:func:`finetune`; what differs between them is passed in, not copied:

- ``train_step(x_batch, y_batch)``: one forward and backward pass of the network's own loss, filling the
  layers' gradients (a classifier's cross-entropy, or the transformer's distillation loss);
- ``col_gate``: for each layer, the layer whose column gates it uses: itself, another one (tied gates:
  a transformer's keys share the queries'), or None (its columns always pass: the classes);
- ``upstream(i, p_col)``: per row of layer ``i``, the probability that what feeds the row is alive, from
  ``p_col(j)``, the open probability of layer ``j``'s column gates (None when nothing gated feeds it).

One gate ``z`` per row and per column multiplies ``W`` as ``z_row[i] * W[i, j] * z_col[j]`` (the bias as
``b[j] * z_col[j]``); gates and weights train together on the task loss plus
``mu * max(0, E[open] - keep)**2`` per layer and kind, where a row's expected openness is its own gate's
times its upstream probability (held constant in that term).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable

import numpy as np

from dse.workloads.layers import Layer, WeightLayer
from dse.workloads.training import Adam

# Hard-concrete constants (Louizos et al. 2018): temperature and the stretch interval (gamma, zeta).
BETA, GAMMA, ZETA = 2.0 / 3.0, -0.1, 1.1

TrainStep = Callable[[np.ndarray, np.ndarray], None]


@dataclass(frozen=True)
class PruneRecipe:
    """Hyper-parameters of pruning (all enter the cache key).

    gate_epochs      epochs training gates and weights together (``gates`` method only)
    finetune_epochs  epochs fine-tuning the kept weights with the masks fixed (both methods)
    batch_size       samples per Adam step
    learning_rate    Adam step size for the weights
    gate_lr          Adam step size for the gates' ``log_alpha``
    gate_init        initial ``log_alpha`` (2.0: a gate starts open with probability ~0.97)
    penalty          ``mu``, weight of the L0 penalty
    seed             seeds mini-batch order and hard-concrete noise
    """

    gate_epochs: int = 10
    finetune_epochs: int = 10
    batch_size: int = 32
    learning_rate: float = 1e-3
    gate_lr: float = 0.05
    gate_init: float = 2.0
    penalty: float = 10.0
    seed: int = 0


def _matrix_index(layer: WeightLayer) -> np.ndarray:
    """(in, out) int64: flat index into ``layer.params['weight']`` of every matrix entry.

    Works for any layer whose ``matrix()`` rearranges its weight (Linear: identity, Conv2d: reshape + T).
    """
    probe = copy.copy(layer)
    probe.params = {**layer.params, "weight": np.arange(layer.weight.size, dtype=np.float64).reshape(layer.weight.shape)}
    return probe.matrix().astype(np.int64)


class Params(Layer):
    """Holder of trainable arrays for :class:`Adam` (which reads ``params`` and ``grads``)."""

    def __init__(self, params: dict[str, np.ndarray]) -> None:
        super().__init__("params")
        self.params = params
        self.grads = {k: np.zeros_like(v) for k, v in params.items()}


class MaskedNet:
    """The network's weight layers with raw (unmasked) weights and per-row / per-column multipliers.

    Before each forward pass the layers' effective weights are set to ``z_row[:, None] * W * z_col``
    (matrix orientation) and biases to ``b * z_col``; after the backward pass the gradients of the raw
    weights and of the multipliers follow by the chain rule.
    """

    def __init__(self, layers: list[Layer], order: list[int]) -> None:
        self.layers = layers
        self.order = order
        self.index = {i: _matrix_index(layers[i]) for i in order}
        self.raw = Params({f"{i}.{k}": layers[i].params[k].copy() for i in order for k in ("weight", "bias")})

    def apply(self, z_rows: dict[int, np.ndarray], z_cols: dict[int, np.ndarray]) -> None:
        for i in self.order:
            layer, idx = self.layers[i], self.index[i]
            w = self.raw.params[f"{i}.weight"]
            effective = np.empty_like(w)
            effective.flat[idx] = w.flat[idx] * (z_rows[i][:, None] * z_cols[i][None, :])
            layer.params["weight"] = effective
            layer.params["bias"] = self.raw.params[f"{i}.bias"] * z_cols[i]

    def backward(self, z_rows, z_cols, want_gates: bool):
        """Raw-weight gradients into ``self.raw.grads``; returns (d z_rows, d z_cols) when asked."""
        g_rows, g_cols = {}, {}
        for i in self.order:
            layer, idx = self.layers[i], self.index[i]
            w_raw = self.raw.params[f"{i}.weight"].flat[idx]          # (in, out)
            b_raw = self.raw.params[f"{i}.bias"]
            g_eff = layer.grads["weight"].flat[idx]                     # d loss / d effective W
            gb_eff = layer.grads["bias"]
            mask = z_rows[i][:, None] * z_cols[i][None, :]
            grad_w = np.empty_like(self.raw.params[f"{i}.weight"])
            grad_w.flat[idx] = g_eff * mask
            self.raw.grads[f"{i}.weight"] = grad_w
            self.raw.grads[f"{i}.bias"] = gb_eff * z_cols[i]
            if want_gates:
                prod = g_eff * w_raw
                g_rows[i] = prod @ z_cols[i]
                g_cols[i] = z_rows[i] @ prod + gb_eff * b_raw
        return g_rows, g_cols


def hard_concrete(log_alpha: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A sample ``z`` in [0, 1] of the hard-concrete gates and ``dz / d log_alpha``."""
    u = rng.uniform(1e-6, 1.0 - 1e-6, size=log_alpha.shape)
    s = 1.0 / (1.0 + np.exp(-(np.log(u) - np.log1p(-u) + log_alpha) / BETA))
    stretched = s * (ZETA - GAMMA) + GAMMA
    z = np.clip(stretched, 0.0, 1.0)
    dz = np.where((stretched > 0) & (stretched < 1), (ZETA - GAMMA) * s * (1 - s) / BETA, 0.0)
    return z, dz


def p_open(log_alpha: np.ndarray) -> np.ndarray:
    """Probability that a hard-concrete gate is non-zero (its expected L0 norm)."""
    return 1.0 / (1.0 + np.exp(-(log_alpha - BETA * np.log(-GAMMA / ZETA))))


def batches(n: int, batch_size: int, rng: np.random.Generator):
    order = rng.permutation(n)
    for start in range(0, n, batch_size):
        yield order[start : start + batch_size]


def train_gates(layers, order, x, y, row_keep, col_keep, recipe, rng, *, train_step: TrainStep,
                col_gate: dict[int, int | None],
                upstream: Callable[[int, Callable[[int], np.ndarray]], np.ndarray | None]):
    """Jointly train weights and hard-concrete gates (module docstring); the layers end with the trained
    raw weights. Returns the gates' ``log_alpha``: rows of every layer, columns of every layer that has
    column gates (a tied layer gets its source's)."""
    net = MaskedNet(layers, order)
    shapes = {i: layers[i].matrix().shape for i in order}
    own = [i for i in order if col_gate[i] == i]
    tied = {i: [j for j in order if j != i and col_gate[j] == i] for i in own}
    gates = Params({
        **{f"r{i}": np.full(shapes[i][0], recipe.gate_init) for i in order},
        **{f"c{i}": np.full(shapes[i][1], recipe.gate_init) for i in own},
    })
    weights_opt = Adam([net.raw], recipe.learning_rate)
    gates_opt = Adam([gates], recipe.gate_lr)
    ones = {i: np.ones(shapes[i][1]) for i in order if col_gate[i] is None}
    mu = recipe.penalty

    def p_col(j: int) -> np.ndarray:
        return p_open(gates.params[f"c{j}"])

    for _ in range(recipe.gate_epochs):
        for batch in batches(len(x), recipe.batch_size, rng):
            z_rows, dz_rows, z_cols, dz_cols = {}, {}, {}, {}
            for i in order:  # the noise is drawn in this order: rows, then the layer's own columns
                z_rows[i], dz_rows[i] = hard_concrete(gates.params[f"r{i}"], rng)
                if col_gate[i] == i:
                    z_cols[i], dz_cols[i] = hard_concrete(gates.params[f"c{i}"], rng)
            for i in order:
                if col_gate[i] is None:
                    z_cols[i] = ones[i]
                elif col_gate[i] != i:
                    z_cols[i] = z_cols[col_gate[i]]
            net.apply(z_rows, z_cols)
            train_step(x[batch], y[batch])
            g_rows, g_cols = net.backward(z_rows, z_cols, want_gates=True)
            for i in order:
                # Task-loss gradient through the sampled gates, plus the L0 penalty on the expected
                # fraction of live rows above the target. A row also dies when everything feeding it is
                # pruned: its live probability is its own gate's times its upstream one.
                p_r = p_open(gates.params[f"r{i}"])
                feeds = upstream(i, p_col)
                feeds = np.ones_like(p_r) if feeds is None else feeds
                excess = max(0.0, float(np.mean(p_r * feeds)) - row_keep[i])
                gates.grads[f"r{i}"] = g_rows[i] * dz_rows[i] + 2 * mu * excess * feeds * p_r * (1 - p_r) / len(p_r)
                if col_gate[i] == i:
                    g = g_cols[i]
                    for j in tied[i]:  # the tied layers' share of the gate
                        g = g + g_cols[j]
                    p_c = p_col(i)
                    excess = max(0.0, float(np.mean(p_c)) - col_keep[i])
                    gates.grads[f"c{i}"] = g * dz_cols[i] + 2 * mu * excess * p_c * (1 - p_c) / len(p_c)
            weights_opt.step()
            gates_opt.step()
    # Gate training leaves the weights adapted to the gates: carry them into fine-tuning.
    for i in order:
        layers[i].params["weight"] = net.raw.params[f"{i}.weight"].copy()
        layers[i].params["bias"] = net.raw.params[f"{i}.bias"].copy()
    return ({i: gates.params[f"r{i}"].copy() for i in order},
            {i: gates.params[f"c{col_gate[i]}"].copy() for i in order if col_gate[i] is not None})


def finetune(layers, order, keep_rows, keep_cols, x, y, recipe, rng, train_step: TrainStep) -> None:
    """Train the kept weights with the masks fixed; leaves exact zeros in pruned rows and columns."""
    net = MaskedNet(layers, order)
    z_rows, z_cols = {}, {}
    for i in order:
        n_in, n_out = layers[i].matrix().shape
        z_rows[i] = np.zeros(n_in)
        z_rows[i][keep_rows[i]] = 1.0
        z_cols[i] = np.zeros(n_out)
        z_cols[i][keep_cols[i]] = 1.0
    optimiser = Adam([net.raw], recipe.learning_rate)
    for _ in range(recipe.finetune_epochs):
        for batch in batches(len(x), recipe.batch_size, rng):
            net.apply(z_rows, z_cols)
            train_step(x[batch], y[batch])
            net.backward(z_rows, z_cols, want_gates=False)
            optimiser.step()
    net.apply(z_rows, z_cols)  # the final weights are the masked ones


