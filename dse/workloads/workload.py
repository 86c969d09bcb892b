"""A workload: a trained float model plus the data it is evaluated on."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar, Sequence

import numpy as np

from dse.workloads.data import Splits
from dse.workloads.layers import Layer, MaxPool2d, ReLU, Shape, WeightLayer, forward_all

# Inference runs in chunks so a large test split never materialises one huge im2col matrix.
_PREDICT_BATCH = 1024


@dataclass(frozen=True)
class CrossbarLayer:
    """Shape of one crossbar-mapped layer, as the mapping and cost models need it.

    index              position of the layer in ``Workload.layers``
    name               the layer's name (unique within a workload)
    in_features        word lines per matrix-vector product (rows of ``layer.matrix()``)
    out_features       logical outputs per matrix-vector product (columns of ``layer.matrix()``)
    mvms_per_inference matrix-vector products per input sample (1 for a linear layer on a vector,
                       H_out * W_out for a convolution run through im2col)
    """

    index: int
    name: str
    in_features: int
    out_features: int
    mvms_per_inference: int


@dataclass(frozen=True)
class WorkloadInfo:
    """What a study checks before any trial runs, known without loading (training) the workload.

    layers      names of the crossbar-mapped layers in network order: the layers that
                ``Protection.row_prune_layers`` may name
    col_layers  those whose columns can be pruned (``Protection.col_prune_layers``): a classifier's
                last layer keeps its columns (the classes)
    metrics     the workload's own numbers beside accuracy (the keys of :meth:`Workload.metrics`); a
                trial reports each as ``<name>_mean`` (over chips) and ``ideal_<name>``
    """

    layers: tuple[str, ...]
    col_layers: tuple[str, ...]
    metrics: tuple[str, ...] = ()


def sequential_info(layers: Sequence[Layer], metrics: tuple[str, ...] = ()) -> WorkloadInfo:
    """The :class:`WorkloadInfo` of a network that is its layers in order (the last weight layer
    gives the classes)."""
    names = tuple(layer.name for layer in layers if isinstance(layer, WeightLayer))
    return WorkloadInfo(names, names[:-1], tuple(metrics))


@dataclass(frozen=True, eq=False, repr=False)  # arrays: no element-wise __eq__, no giant repr
class Workload:
    """A trained classifier and its data splits.

    name           workload name (``list_workloads()`` for the built-ins)
    layers         the network, applied in order (``dse.workloads.layers``); the simulator reads
                   the weights from them and must not change them
    input_shape    per-sample input shape, e.g. (64,) or (1, 8, 8)
    x_train, y_train  data the model was trained on (also for fine-tuning, e.g. pruning gates)
    x_calib, y_calib  held-out slice of the training data for calibration (ADC ranges, scales);
                   never part of the test split
    x_test, y_test    test split; every reported accuracy is measured on it
    float_accuracy test accuracy of the float model, a fraction in [0, 1]

    Inputs are float64 (built-ins scaled to [0, 1]), labels int64 class indices.

    ``metric_names`` (a class attribute) declares the keys :meth:`metrics` returns, so that a study
    can check its objectives and constraints before anything is loaded.
    """

    metric_names: ClassVar[tuple[str, ...]] = ()

    name: str
    layers: tuple[Layer, ...]
    input_shape: Shape
    x_train: np.ndarray
    y_train: np.ndarray
    x_calib: np.ndarray
    y_calib: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    float_accuracy: float

    @classmethod
    def from_splits(cls, name: str, layers, input_shape: Shape, splits: Splits) -> "Workload":
        """A workload over ``splits``; measures ``float_accuracy`` on the test split."""
        unmeasured = cls(name, tuple(layers), tuple(input_shape), **splits.arrays(), float_accuracy=float("nan"))
        return dataclasses.replace(unmeasured, float_accuracy=unmeasured.accuracy())

    def __repr__(self) -> str:
        return (
            f"Workload({self.name!r}, {len(self.layers)} layers, input {self.input_shape}, "
            f"{len(self.x_train)}/{len(self.x_calib)}/{len(self.x_test)} train/calib/test samples, "
            f"float accuracy {self.float_accuracy:.2%})"
        )

    @property
    def n_classes(self) -> int:
        return self.output_shape()[-1]

    def output_shape(self) -> Shape:
        shape = self.input_shape
        for layer in self.layers:
            shape = layer.output_shape(shape)
        return shape

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Float inference: logits (N, n_classes) for inputs (N, *input_shape)."""
        x = np.asarray(x, dtype=np.float64)
        if len(x) <= _PREDICT_BATCH:
            return forward_all(self.layers, x)
        return np.concatenate(
            [forward_all(self.layers, x[i : i + _PREDICT_BATCH]) for i in range(0, len(x), _PREDICT_BATCH)]
        )

    def forward_with(self, x: np.ndarray, linear, fuse: bool = False) -> np.ndarray:
        """The network's output for inputs ``x`` with every crossbar layer computed by ``linear``.

        ``linear(index, layer, a) -> b`` gets a :class:`WeightLayer` (``index`` its position in
        ``layers``) and its input ``a`` in the layer's own layout, and returns the layer's output (bias
        included), like ``layer.forward(a)``. The float model passes ``layer.forward``; the simulator
        passes the crossbars. Here the layers run in order; a workload whose network is not a plain
        sequence (the transformer) overrides this, calling ``linear`` for the same ``layers`` objects.

        With ``fuse``, a ReLU and then a max pooling directly after a crossbar layer are left to
        ``linear``, called as ``linear(index, layer, a, relu, pool)`` (``relu`` a bool, ``pool`` a
        :class:`MaxPool2d` or None), which returns the output after them: the simulator does them in
        the layer's compiled output pass.
        """
        x = np.asarray(x, dtype=np.float64)
        layers = self.layers
        index = 0
        while index < len(layers):
            layer = layers[index]
            if not isinstance(layer, WeightLayer):
                x = layer.forward(x)
                index += 1
            elif not fuse:
                x = linear(index, layer, x)
                index += 1
            else:
                relu = index + 1 < len(layers) and type(layers[index + 1]) is ReLU
                after = index + 1 + relu
                pool = layers[after] if after < len(layers) and type(layers[after]) is MaxPool2d else None
                x = linear(index, layer, x, relu, pool)
                index = after + (pool is not None)
        return x

    def layer_inputs(self, x: np.ndarray) -> dict[int, np.ndarray]:
        """Float crossbar input vectors of every weight layer, (mvms, in_features), for samples ``x``."""
        inputs: dict[int, list[np.ndarray]] = {}

        def record(index: int, layer: WeightLayer, a: np.ndarray) -> np.ndarray:
            inputs.setdefault(index, []).append(layer.im2col(a))
            return layer.forward(a)

        self.forward_with(x, record)
        return {index: rows[0] if len(rows) == 1 else np.concatenate(rows) for index, rows in sorted(inputs.items())}

    def score(self, outputs: np.ndarray, y: np.ndarray) -> float:
        """The accuracy reported for network outputs (what ``EvalResult.accuracy_*`` means): here the
        fraction of samples whose largest logit is their label."""
        return float(np.mean(np.asarray(outputs).argmax(axis=-1) == y))

    def metrics(self, outputs: np.ndarray, x: np.ndarray, y: np.ndarray) -> dict[str, float]:
        """Further quality numbers of outputs ``outputs`` of inputs ``x`` beside :meth:`score`
        (a classifier has none; the transformer reports its embeddings' fidelity)."""
        return {}

    def info(self) -> WorkloadInfo:
        """Its layers (which can be pruned how) and its own metric names (:class:`WorkloadInfo`)."""
        return sequential_info(self.layers, type(self).metric_names)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Predicted class per sample, (N,) int64."""
        return self.forward(x).argmax(axis=-1)

    def accuracy(self, x: np.ndarray | None = None, y: np.ndarray | None = None) -> float:
        """Fraction of ``x`` classified as ``y`` (default: the test split)."""
        if x is None:
            x, y = self.x_test, self.y_test
        return float(np.mean(self.predict(x) == y))

    def crossbar_layers(self) -> list[CrossbarLayer]:
        """Every crossbar-mapped layer in network order, with its matrix shape and MVMs per inference."""
        result = []
        shape = self.input_shape
        for index, layer in enumerate(self.layers):
            if isinstance(layer, WeightLayer):
                result.append(
                    CrossbarLayer(index, layer.name, layer.in_features, layer.out_features,
                                  layer.mvms_per_inference(shape))
                )
            shape = layer.output_shape(shape)
        return result

    def weights(self) -> dict[str, np.ndarray]:
        """Every parameter as ``"<layer name>.<param>"`` -> array (the model-file array names)."""
        return {f"{layer.name}.{key}": value for layer in self.layers for key, value in layer.params.items()}
