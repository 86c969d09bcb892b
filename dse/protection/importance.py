"""How much each output column and each input row matters: what copies, remapping and picks optimise.

Column importance is the gradient sensitivity of the task loss to the column's pre-activation output,
``sens[j] = sqrt(mean_n sum_p (dL_n / dy[n, p, j])**2)`` over calibration samples ``n`` and output
positions ``p`` (one per matrix-vector product; a convolution has several), with ``L_n`` the sample's
cross-entropy. A stuck cell adds an error ``e`` to every output position of its column, and to first order
the loss moves by ``dL/dy * e``; the root-mean-square gradient ranks columns by that effect (a Fisher-
information proxy).

Workloads that are not a plain sequence of layers with a cross-entropy head (the transformer, whose
``forward_with`` is its own) have no backward pass here: :func:`column_sensitivity` then gives every column
the same sensitivity, so the priority falls back to the output error itself, ``w_scale[j] * 2**(s*cb)``
(the absolute error one level of fault on that bit line adds per unit of integer input).

Converted to the crossbar's integer domain, one level of error on slice ``s`` of column ``j`` is worth
``sens[j] * w_scale[j] * 2**(s*cell_bits)`` per unit of integer input: the weight of a cell in
:func:`column_weights` and the priority of duplication in ``duplication.py``.
"""
from __future__ import annotations

import copy

import numpy as np

from dse.workloads.layers import Conv2d, WeightLayer, softmax_cross_entropy
from dse.workloads.workload import Workload


def is_sequential(workload: Workload) -> bool:
    """Whether the network is ``workload.layers`` applied in order (so backward_all is its gradient)."""
    return type(workload).forward_with is Workload.forward_with


def column_sensitivity(workload: Workload) -> dict[int, np.ndarray]:
    """Layer index -> (out_features,) sensitivity of each column: :func:`output_sensitivity` on the
    calibration split for sequential classifiers, ones otherwise (module docstring)."""
    if is_sequential(workload):
        return output_sensitivity(workload, workload.x_calib, workload.y_calib)
    return {c.index: np.ones(c.out_features) for c in workload.crossbar_layers()}


def output_sensitivity(workload: Workload, x: np.ndarray, y: np.ndarray) -> dict[int, np.ndarray]:
    """Layer index -> (out_features,) float64 root-mean-square loss gradient of each output column.

    x (N, *input_shape), y (N,) labels, usually the calibration split. The workload is not changed
    (the backward pass runs on a copy of its layers).
    """
    layers = copy.deepcopy(list(workload.layers))
    a = np.asarray(x, dtype=np.float64)
    for layer in layers:
        a = layer.forward(a, train=True)
    _, grad = softmax_cross_entropy(a, y)
    grad = grad * len(x)  # per-sample gradients (the loss is a mean over the batch)
    result = {}
    for index in range(len(layers) - 1, -1, -1):
        layer = layers[index]
        if isinstance(layer, WeightLayer):
            g = np.moveaxis(grad, 1, -1) if isinstance(layer, Conv2d) else grad  # channels last
            per_sample = (g**2).reshape(len(x), -1, g.shape[-1]).sum(axis=1)
            result[index] = np.sqrt(per_sample.mean(axis=0))
        grad = layer.backward(grad)
    return dict(sorted(result.items()))


def column_weights(sensitivity: np.ndarray, w_scale: np.ndarray) -> np.ndarray:
    """(out,) loss sensitivity to one unit of the integer weight of each column: ``sens * w_scale``."""
    return np.asarray(sensitivity, dtype=np.float64) * np.asarray(w_scale, dtype=np.float64)
