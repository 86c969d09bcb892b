"""Adam and a seeded mini-batch training loop for the numpy layers.

Determinism: the only randomness is the mini-batch order, drawn from ``numpy.random.default_rng(seed)``,
and the arithmetic is single-path numpy, so the same seed, data and initial weights give bit-identical
weights on the same machine and BLAS build.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits  # a scikit-learn dependency

from dse.workloads.layers import Layer, backward_all, forward_all, softmax_cross_entropy


@dataclass(frozen=True)
class TrainingRecipe:
    """Hyper-parameters of one training run (all of them enter the built-in workloads' cache key).

    epochs        full passes over the training data
    batch_size    samples per Adam step (the last, smaller batch of an epoch is kept)
    learning_rate Adam step size
    lr_decay      learning rate multiplied by this after every epoch (1.0 = constant)
    weight_decay  L2 penalty coefficient added to every weight gradient (not to biases)
    seed          seeds weight initialisation (by the caller) and mini-batch order
    """

    epochs: int = 30
    batch_size: int = 32
    learning_rate: float = 1e-3
    lr_decay: float = 1.0
    weight_decay: float = 0.0
    seed: int = 0


class Adam:
    """Adam (Kingma & Ba, 2015) over every parameter of a list of layers, with bias correction."""

    def __init__(self, layers: list[Layer], learning_rate: float = 1e-3,
                 beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8) -> None:
        self.layers = layers
        self.learning_rate = learning_rate
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        self.steps = 0
        self._m = [{k: np.zeros_like(v) for k, v in layer.params.items()} for layer in layers]
        self._v = [{k: np.zeros_like(v) for k, v in layer.params.items()} for layer in layers]

    def step(self) -> None:
        """Update every parameter in place from the gradients the last backward pass stored."""
        self.steps += 1
        correction1 = 1.0 - self.beta1 ** self.steps
        correction2 = 1.0 - self.beta2 ** self.steps
        for layer, m_layer, v_layer in zip(self.layers, self._m, self._v):
            for key, param in layer.params.items():
                grad = layer.grads[key]
                m, v = m_layer[key], v_layer[key]
                m *= self.beta1
                m += (1.0 - self.beta1) * grad
                v *= self.beta2
                v += (1.0 - self.beta2) * grad * grad
                param -= self.learning_rate * (m / correction1) / (np.sqrt(v / correction2) + self.eps)


def train(layers: list[Layer], x: np.ndarray, y: np.ndarray, recipe: TrainingRecipe) -> list[float]:
    """Train ``layers`` in place on (x, y) with Adam and softmax cross-entropy.

    x (N, *input_shape) float, y (N,) integer class labels. Returns the mean training loss of each epoch.
    """
    # The matrices are small: one BLAS thread is as fast unloaded and several times faster when other
    # work shares the cores (threads then wait on each other); it also fixes how sums are blocked.
    with threadpool_limits(1, user_api="blas"):
        return _train(layers, x, y, recipe)


def _train(layers: list[Layer], x: np.ndarray, y: np.ndarray, recipe: TrainingRecipe) -> list[float]:
    rng = np.random.default_rng(recipe.seed)
    optimiser = Adam(layers, recipe.learning_rate)
    epoch_losses = []
    for _ in range(recipe.epochs):
        order = rng.permutation(len(x))
        total = 0.0
        for start in range(0, len(x), recipe.batch_size):
            batch = order[start : start + recipe.batch_size]
            logits = forward_all(layers, x[batch], train=True)
            loss, grad = softmax_cross_entropy(logits, y[batch])
            backward_all(layers, grad)
            if recipe.weight_decay:
                for layer in layers:
                    if "weight" in layer.grads:
                        layer.grads["weight"] = layer.grads["weight"] + recipe.weight_decay * layer.params["weight"]
            optimiser.step()
            total += loss * len(batch)
        epoch_losses.append(total / len(x))
        optimiser.learning_rate *= recipe.lr_decay
    return epoch_losses
