"""Neural-network layers in plain numpy, with hand-written gradients (inference max pooling is compiled:
``kernels.pooling``, the same values as the numpy argmax it replaces).

Every layer has
- ``forward(x, train=False) -> y`` and ``backward(grad_out) -> grad_in``. ``forward`` with
  ``train=True`` caches what ``backward`` needs; ``backward`` stores parameter gradients in
  ``layer.grads`` (same keys and shapes as ``layer.params``).
- ``output_shape(input_shape) -> shape``: per-sample shapes (no batch axis), used to walk a network
  and to validate bring-your-own model files before running anything.
- ``config() -> dict``: the layer's architecture without its weights, the JSON layer entry of the
  model-file format (``model_file.py``).

Arrays are float64 with the batch on axis 0; images are NCHW.

Crossbar-mapped layers (:class:`Linear`, :class:`Conv2d`, subclasses of :class:`WeightLayer`) expose
the view the simulator needs to run them on crossbars, where word lines carry inputs and bit lines
carry outputs (``y = x @ W``, ``W`` of shape (in, out), see the crossbar spec):

    rows = layer.im2col(x)                 # (mvms, in_features): one crossbar input vector per row
    y_rows = rows @ layer.matrix()         # (mvms, out_features): what the crossbars compute
    y = layer.fold(y_rows + layer.bias, n) # back to the layer's output layout; equals layer.forward(x)
"""
from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from kernels.pooling import max_pool

Shape = tuple[int, ...]


class Layer:
    """Base class: a layer without parameters."""

    kind = "layer"  # the "type" of the layer's entry in the model-file format

    def __init__(self, name: str = "") -> None:
        self.name = name or self.kind
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        raise NotImplementedError

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def output_shape(self, input_shape: Shape) -> Shape:
        """Per-sample output shape for a per-sample input shape; ValueError if the input does not fit."""
        return tuple(input_shape)

    def config(self) -> dict:
        return {"type": self.kind, "name": self.name}

    def _cached(self, attribute: str):
        value = getattr(self, attribute, None)
        if value is None:
            raise RuntimeError(f"{self.name}: backward() needs a forward(x, train=True) first")
        return value

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k != "type")
        return f"{type(self).__name__}({args})"


def _bias(bias: np.ndarray | None, out_features: int, name: str) -> np.ndarray:
    """A float64 (out_features,) bias; zeros when the layer has none."""
    if bias is None:
        return np.zeros(out_features)
    bias = np.asarray(bias, dtype=np.float64)
    if bias.shape != (out_features,):
        raise ValueError(f"{name}: bias must have shape ({out_features},) to match the weight, got {bias.shape}")
    return bias


class WeightLayer(Layer):
    """A layer whose weights are a matrix (in_features, out_features) mapped onto crossbars."""

    @property
    def weight(self) -> np.ndarray:
        return self.params["weight"]

    def __repr__(self) -> str:
        return f"{super().__repr__()[:-1]}, weight={self.weight.shape})"

    @property
    def bias(self) -> np.ndarray:
        """(out_features,) bias, added digitally after the crossbars (zeros when the layer has none)."""
        return self.params["bias"]

    @property
    def in_features(self) -> int:
        """Word lines driven per matrix-vector product."""
        return self.matrix().shape[0]

    @property
    def out_features(self) -> int:
        """Logical outputs (bit-line groups) per matrix-vector product."""
        return self.matrix().shape[1]

    def matrix(self) -> np.ndarray:
        """The weight matrix (in_features, out_features) as it sits on the crossbars."""
        raise NotImplementedError

    def im2col(self, x: np.ndarray) -> np.ndarray:
        """Crossbar input vectors, (mvms, in_features), for a batch ``x``."""
        raise NotImplementedError

    def fold(self, y_rows: np.ndarray, n: int, out_hw: tuple[int, int] | None = None) -> np.ndarray:
        """Crossbar outputs (mvms, out_features) back to the layer's output layout for batch size ``n``."""
        raise NotImplementedError

    def mvms_per_inference(self, input_shape: Shape) -> int:
        """Matrix-vector products one sample of per-sample shape ``input_shape`` needs."""
        raise NotImplementedError


class Linear(WeightLayer):
    """Fully connected layer ``y = x @ W + b``, ``W`` of shape (in_features, out_features).

    The weight is stored in the crossbar orientation (inputs on rows), the transpose of PyTorch's.
    Input (N, ..., in_features): leading axes after the batch (e.g. a token sequence) each need one
    matrix-vector product.
    """

    kind = "linear"

    def __init__(self, weight: np.ndarray, bias: np.ndarray | None = None, name: str = "") -> None:
        super().__init__(name)
        weight = np.asarray(weight, dtype=np.float64)
        if weight.ndim != 2:
            raise ValueError(f"{self.name}: linear weight must be 2-D (in, out), got shape {weight.shape}")
        self.params = {"weight": weight, "bias": _bias(bias, weight.shape[1], self.name)}
        self._x = None

    @classmethod
    def initialised(cls, in_features: int, out_features: int, rng: np.random.Generator, name: str = "") -> "Linear":
        """He-normal weights (suited to a following ReLU), zero bias."""
        weight = rng.normal(0.0, math.sqrt(2.0 / in_features), size=(in_features, out_features))
        return cls(weight, np.zeros(out_features), name)

    def matrix(self) -> np.ndarray:
        return self.params["weight"]

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        if train:
            self._x = x
        return x @ self.params["weight"] + self.params["bias"]

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        x = self._cached("_x")
        x_rows = x.reshape(-1, x.shape[-1])
        g_rows = grad_out.reshape(-1, grad_out.shape[-1])
        self.grads = {"weight": x_rows.T @ g_rows, "bias": g_rows.sum(axis=0)}
        return grad_out @ self.params["weight"].T

    def im2col(self, x: np.ndarray) -> np.ndarray:
        return x.reshape(-1, x.shape[-1])

    def fold(self, y_rows: np.ndarray, n: int, out_hw: tuple[int, int] | None = None) -> np.ndarray:
        """(N, out) stays (N, out); (N * positions, out) becomes (N, positions, out). ``out_hw`` is unused."""
        if y_rows.shape[0] == n:
            return y_rows
        return y_rows.reshape(n, -1, y_rows.shape[-1])

    def output_shape(self, input_shape: Shape) -> Shape:
        if len(input_shape) < 1 or input_shape[-1] != self.in_features:
            raise ValueError(
                f"expects {self.in_features} input features (weight {self.weight.shape}), "
                f"but the incoming activation has shape {tuple(input_shape)}"
            )
        return tuple(input_shape[:-1]) + (self.out_features,)

    def mvms_per_inference(self, input_shape: Shape) -> int:
        return math.prod(self.output_shape(input_shape)[:-1])


def _windows(x: np.ndarray, kh: int, kw: int, stride: int) -> np.ndarray:
    """All (kh, kw) windows of NCHW ``x`` at the given stride: a view (N, C, H_out, W_out, kh, kw)."""
    return sliding_window_view(x, (kh, kw), axis=(2, 3))[:, :, ::stride, ::stride]


def _scatter_windows(grad_windows: np.ndarray, x_shape: Shape, stride: int) -> np.ndarray:
    """Adjoint of :func:`_windows`: add (N, C, H_out, W_out, kh, kw) back onto an array of ``x_shape``.

    One vectorised add per kernel offset (kh * kw of them), because overlapping windows share pixels.
    """
    grad_x = np.zeros(x_shape)
    _, _, h_out, w_out, kh, kw = grad_windows.shape
    for i in range(kh):
        for j in range(kw):
            grad_x[:, :, i : i + stride * (h_out - 1) + 1 : stride, j : j + stride * (w_out - 1) + 1 : stride] += (
                grad_windows[:, :, :, :, i, j]
            )
    return grad_x


def _pooled_size(size: int, kernel: int, stride: int, padding: int = 0) -> int:
    return (size + 2 * padding - kernel) // stride + 1


def _check_image(layer: Layer, input_shape: Shape, channels: int | None = None) -> None:
    if len(input_shape) != 3:
        raise ValueError(f"expects a (channels, height, width) image, but the incoming activation has shape {tuple(input_shape)}")
    if channels is not None and input_shape[0] != channels:
        raise ValueError(
            f"expects {channels} input channels (weight {layer.weight.shape}), "
            f"but the incoming activation has shape {tuple(input_shape)}"
        )


class Conv2d(WeightLayer):
    """2-D convolution over NCHW images; weight (out_ch, in_ch, kh, kw) as in PyTorch, bias (out_ch,).

    On crossbars it runs through im2col with the kernel on the word lines: every output pixel is one
    matrix-vector product of its (in_ch * kh * kw) receptive field with :meth:`matrix`. Training uses
    the same im2col path, so what the simulator maps is exactly what was trained.
    """

    kind = "conv2d"

    def __init__(
        self, weight: np.ndarray, bias: np.ndarray | None = None, stride: int = 1, padding: int = 0, name: str = ""
    ) -> None:
        super().__init__(name)
        weight = np.asarray(weight, dtype=np.float64)
        if weight.ndim != 4:
            raise ValueError(f"{self.name}: conv2d weight must be 4-D (out_ch, in_ch, kh, kw), got shape {weight.shape}")
        if not (isinstance(stride, int) and stride >= 1 and isinstance(padding, int) and padding >= 0):
            raise ValueError(f"{self.name}: stride must be an integer >= 1 and padding >= 0, got {stride}, {padding}")
        self.params = {"weight": weight, "bias": _bias(bias, weight.shape[0], self.name)}
        self.stride = stride
        self.padding = padding
        self._cols = None
        self._x_shape = None

    @classmethod
    def initialised(
        cls, in_channels: int, out_channels: int, kernel: int, rng: np.random.Generator,
        stride: int = 1, padding: int = 0, name: str = "",
    ) -> "Conv2d":
        """He-normal weights over the receptive field (fan-in in_ch * k * k), zero bias."""
        fan_in = in_channels * kernel * kernel
        weight = rng.normal(0.0, math.sqrt(2.0 / fan_in), size=(out_channels, in_channels, kernel, kernel))
        return cls(weight, np.zeros(out_channels), stride, padding, name)

    @property
    def kernel_hw(self) -> tuple[int, int]:
        return self.weight.shape[2], self.weight.shape[3]

    def config(self) -> dict:
        return {**super().config(), "stride": self.stride, "padding": self.padding}

    def output_hw(self, height: int, width: int) -> tuple[int, int]:
        kh, kw = self.kernel_hw
        return _pooled_size(height, kh, self.stride, self.padding), _pooled_size(width, kw, self.stride, self.padding)

    def matrix(self) -> np.ndarray:
        """(in_ch * kh * kw, out_ch): row index ``c * kh * kw + i * kw + j`` is input channel c, kernel tap (i, j)."""
        return self.weight.reshape(self.weight.shape[0], -1).T

    def im2col(self, x: np.ndarray) -> np.ndarray:
        """Receptive fields of NCHW ``x`` as rows: (N * H_out * W_out, in_ch * kh * kw).

        Rows are ordered (sample, output row, output column); columns match :meth:`matrix`.
        """
        p = self.padding
        x_padded = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p))) if p else x
        windows = _windows(x_padded, *self.kernel_hw, self.stride)  # (N, C, Ho, Wo, kh, kw)
        n, c, h_out, w_out, kh, kw = windows.shape
        return windows.transpose(0, 2, 3, 1, 4, 5).reshape(n * h_out * w_out, c * kh * kw)

    def fold(self, y_rows: np.ndarray, n: int, out_hw: tuple[int, int] | None = None) -> np.ndarray:
        """(N * H_out * W_out, out_ch) -> (N, out_ch, H_out, W_out). Adds no bias.

        ``out_hw`` = (H_out, W_out), from :meth:`output_hw`; when omitted the output is taken to be square.
        """
        if out_hw is None:
            side = math.isqrt(y_rows.shape[0] // n)
            if side * side * n != y_rows.shape[0]:
                raise ValueError(f"{self.name}: {y_rows.shape[0]} rows for {n} samples is not a square output; pass out_hw")
            out_hw = (side, side)
        return y_rows.reshape(n, out_hw[0], out_hw[1], y_rows.shape[-1]).transpose(0, 3, 1, 2)

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        cols = self.im2col(x)
        if train:
            self._cols, self._x_shape = cols, x.shape
        out_hw = self.output_hw(x.shape[2], x.shape[3])
        return self.fold(cols @ self.matrix() + self.bias, x.shape[0], out_hw)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        cols = self._cached("_cols")
        n, c, h, w = self._x_shape
        out_ch, _, kh, kw = self.weight.shape
        g_rows = grad_out.transpose(0, 2, 3, 1).reshape(-1, out_ch)  # same row order as im2col
        self.grads = {
            "weight": (cols.T @ g_rows).T.reshape(self.weight.shape),
            "bias": g_rows.sum(axis=0),
        }
        h_out, w_out = grad_out.shape[2], grad_out.shape[3]
        grad_windows = (g_rows @ self.matrix().T).reshape(n, h_out, w_out, c, kh, kw).transpose(0, 3, 1, 2, 4, 5)
        p = self.padding
        grad_padded = _scatter_windows(grad_windows, (n, c, h + 2 * p, w + 2 * p), self.stride)
        return grad_padded[:, :, p : p + h, p : p + w]

    def output_shape(self, input_shape: Shape) -> Shape:
        _check_image(self, input_shape, self.weight.shape[1])
        h_out, w_out = self.output_hw(input_shape[1], input_shape[2])
        if h_out < 1 or w_out < 1:
            raise ValueError(f"kernel {self.kernel_hw} does not fit the padded input {tuple(input_shape)}")
        return (self.weight.shape[0], h_out, w_out)

    def mvms_per_inference(self, input_shape: Shape) -> int:
        _, h_out, w_out = self.output_shape(input_shape)
        return h_out * w_out


class ReLU(Layer):
    kind = "relu"

    def __init__(self, name: str = "") -> None:
        super().__init__(name)
        self._positive = None

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        if train:
            self._positive = x > 0
        return np.maximum(x, 0.0)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        return grad_out * self._cached("_positive")


class _Pool2d(Layer):
    """Shared shape logic of the pooling layers: square ``kernel``, ``stride`` (default kernel), no padding."""

    def __init__(self, kernel: int = 2, stride: int | None = None, name: str = "") -> None:
        super().__init__(name)
        stride = kernel if stride is None else stride
        if not (isinstance(kernel, int) and kernel >= 1 and isinstance(stride, int) and stride >= 1):
            raise ValueError(f"{self.name}: kernel and stride must be integers >= 1, got {kernel}, {stride}")
        self.kernel = kernel
        self.stride = stride
        self._x_shape = None

    def config(self) -> dict:
        return {**super().config(), "kernel": self.kernel, "stride": self.stride}

    def output_shape(self, input_shape: Shape) -> Shape:
        _check_image(self, input_shape)
        c, h, w = input_shape
        h_out, w_out = _pooled_size(h, self.kernel, self.stride), _pooled_size(w, self.kernel, self.stride)
        if h_out < 1 or w_out < 1:
            raise ValueError(f"pooling kernel {self.kernel} does not fit the incoming activation {tuple(input_shape)}")
        return (c, h_out, w_out)

    def _window_rows(self, x: np.ndarray) -> np.ndarray:
        """(N, C, H_out, W_out, kernel * kernel) copy of every pooling window."""
        windows = _windows(x, self.kernel, self.kernel, self.stride)
        return windows.reshape(*windows.shape[:4], -1)


class MaxPool2d(_Pool2d):
    """Max over each window; the gradient goes to the (first) maximum of the window."""

    kind = "maxpool2d"

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        if not train:  # the same element argmax picks, without copying the windows (compiled)
            return max_pool(x, self.kernel, self.stride)
        rows = self._window_rows(x)
        winner = rows.argmax(axis=-1)
        self._x_shape, self._winner = x.shape, winner
        return np.take_along_axis(rows, winner[..., None], axis=-1)[..., 0]

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        x_shape = self._cached("_x_shape")
        k = self.kernel
        one_hot = self._winner[..., None] == np.arange(k * k)
        grad_windows = (one_hot * grad_out[..., None]).reshape(*grad_out.shape, k, k)
        return _scatter_windows(grad_windows, x_shape, self.stride)


class AvgPool2d(_Pool2d):
    kind = "avgpool2d"

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        if train:
            self._x_shape = x.shape
        return self._window_rows(x).mean(axis=-1)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        x_shape = self._cached("_x_shape")
        k = self.kernel
        grad_windows = np.broadcast_to((grad_out / (k * k))[..., None, None], (*grad_out.shape, k, k))
        return _scatter_windows(grad_windows, x_shape, self.stride)


class Flatten(Layer):
    """(N, ...) -> (N, prod(...)), C-order (channel-major for NCHW, like PyTorch's flatten)."""

    kind = "flatten"

    def __init__(self, name: str = "") -> None:
        super().__init__(name)
        self._x_shape = None

    def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        if train:
            self._x_shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        return grad_out.reshape(self._cached("_x_shape"))

    def output_shape(self, input_shape: Shape) -> Shape:
        return (math.prod(input_shape),)


LAYER_TYPES: dict[str, type[Layer]] = {
    cls.kind: cls for cls in (Linear, Conv2d, ReLU, MaxPool2d, AvgPool2d, Flatten)
}


def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean softmax cross-entropy over the batch and its gradient.

    logits (N, classes), labels (N,) integers in [0, classes). Returns (loss in nats, d loss / d logits).
    """
    shifted = logits - logits.max(axis=1, keepdims=True)  # keeps exp() finite for large logits
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    n = logits.shape[0]
    loss = -log_probs[np.arange(n), labels].mean()
    grad = np.exp(log_probs)
    grad[np.arange(n), labels] -= 1.0
    return float(loss), grad / n


def forward_all(layers, x: np.ndarray, train: bool = False) -> np.ndarray:
    """Run ``x`` through ``layers`` in order."""
    for layer in layers:
        x = layer.forward(x, train)
    return x


def backward_all(layers, grad_out: np.ndarray) -> np.ndarray:
    """Back-propagate through ``layers`` (after a ``forward_all(..., train=True)``); returns d loss / d input."""
    for layer in reversed(layers):
        grad_out = layer.backward(grad_out)
    return grad_out
