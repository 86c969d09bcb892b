"""Bring-your-own model files: a trained network as named arrays plus a JSON layer list.

File format (``.npz``, or ``.safetensors`` when the ``safetensors`` package is installed)
---------------------------------------------------------------------------------------------
Arrays, any names, float or integer dtype, finite values:

- ``.npz``: the weight arrays, plus an entry ``layers`` holding the layer list as a JSON string
  (a 0-d string array, what ``np.savez(path, layers=json.dumps([...]), ...)`` writes) and,
  optionally, ``input_shape`` holding the per-sample input shape as a JSON list, e.g. ``"[1, 8, 8]"``.
- ``.safetensors``: the weight arrays as tensors; ``layers`` (and optionally ``input_shape``) as
  JSON strings in the file's ``__metadata__``.

``layers`` is a JSON list applied in order. Every entry has a ``type`` and an optional ``name``
(default ``<type><index>``; crossbar-mapped layers need unique names). Keys per type:

=========== ===================================================================================
type        keys
=========== ===================================================================================
linear      ``weight`` (array name, shape (in, out): ``y = x @ W + b``), ``bias`` (array name,
            shape (out,), optional), ``weight_layout`` (optional: ``"in_out"``, the default, or
            ``"out_in"`` for PyTorch's ``nn.Linear.weight``, which is transposed on load)
conv2d      ``weight`` (array name, shape (out_ch, in_ch, kh, kw), as PyTorch), ``bias``
            (optional, (out_ch,)), ``stride`` (int, default 1), ``padding`` (int, default 0)
relu        none
maxpool2d   ``kernel`` (int), ``stride`` (int, default ``kernel``); no padding, floor mode
avgpool2d   as maxpool2d
flatten     none (C-order, like ``torch.flatten(x, 1)``)
=========== ===================================================================================

Example::

    [{"type": "conv2d", "name": "conv1", "weight": "conv1.weight", "bias": "conv1.bias",
      "stride": 1, "padding": 1},
     {"type": "relu"}, {"type": "maxpool2d", "kernel": 2}, {"type": "flatten"},
     {"type": "linear", "name": "fc", "weight": "fc.weight", "bias": "fc.bias"}]

Images are NCHW. The network must end in a vector of class scores (logits); labels are the class
indices 0 .. classes - 1. Unknown keys are rejected (they are usually typos).
"""
from __future__ import annotations

import json
import math
import os
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np

from dse.atomic import write_atomic

from dse.workloads.data import split
from dse.workloads.layers import (
    LAYER_TYPES, AvgPool2d, Conv2d, Flatten, Layer, Linear, MaxPool2d, ReLU, Shape, WeightLayer,
)
from dse.workloads.workload import Workload

SUFFIXES = (".npz", ".safetensors")
MIN_SAMPLES = 10  # enough for a train, a calibration and a test slice

# Keys each layer type accepts besides "type" and "name"; the first set is required.
_ENTRY_KEYS: dict[str, tuple[set[str], set[str]]] = {
    "linear": ({"weight"}, {"bias", "weight_layout"}),
    "conv2d": ({"weight"}, {"bias", "stride", "padding"}),
    "relu": (set(), set()),
    "flatten": (set(), set()),
    "maxpool2d": ({"kernel"}, {"stride"}),
    "avgpool2d": ({"kernel"}, {"stride"}),
}
assert set(_ENTRY_KEYS) == set(LAYER_TYPES)


def load_model_file(path: str | os.PathLike, x: np.ndarray, y: np.ndarray, name: str | None = None, *,
                    test_fraction: float = 0.2, calib_fraction: float = 0.1, seed: int = 0,
                    data_source: str | None = None) -> Workload:
    """A :class:`Workload` from a model file (format in this module's docstring) and labelled data.

    x (N, *input_shape) inputs as the model expects them (the built-ins use [0, 1]); y (N,) class
    indices. (x, y) is split with :func:`dse.workloads.data.split`: ``test_fraction`` for test, then
    ``calib_fraction`` of the rest for calibration, the remainder as the training split (used only
    for fine-tuning). Pass data the model was not trained on, so that the test accuracy is honest.

    Everything (file, layer list, every array, the data) is checked before any computation; the
    first problem raises ``ValueError`` naming the layer (index and name) or array at fault, and
    ``data_source`` (the data file, if x and y were read from one) for a problem with x or y.
    """
    path = Path(path)
    arrays, metadata = read_arrays(path)
    data_at = f"{data_source}: " if data_source else ""
    x, y = _check_data(x, y, data_at)
    input_shape = tuple(x.shape[1:])
    if "input_shape" in metadata:
        stored = _parse_json(metadata["input_shape"], "input_shape", path.name)
        if not isinstance(stored, list) or not all(type(d) is int and d > 0 for d in stored):
            raise ValueError(f"{path.name}: 'input_shape' must be a JSON list of positive integers such as "
                             f"[1, 8, 8], got {str(metadata['input_shape'])[:80]!r}")
        stored = tuple(stored)
        if stored != input_shape:
            raise ValueError(f"{path.name}: the model expects inputs of shape {stored}, but {data_at}x has per-sample "
                             f"shape {input_shape}")
    if "layers" not in metadata:
        raise ValueError(f"{path.name}: no 'layers' entry (a JSON layer list); see dse.workloads.model_file for the format")
    entries = _parse_json(metadata["layers"], "layers", path.name)
    layers = build_layers(entries, arrays, input_shape, source=path.name)
    _check_sizes(layers, input_shape, path.name)
    n_classes = _output_classes(layers, input_shape, path.name)
    if y.min() < 0 or y.max() >= n_classes:
        bad = y[(y < 0) | (y >= n_classes)][0]
        raise ValueError(f"{data_at}y: label {bad} is out of range; the model {path.name} has {n_classes} outputs, "
                         f"so labels must be 0..{n_classes - 1}")
    splits = split(x, y, test_fraction=test_fraction, calib_fraction=calib_fraction, seed=seed)
    return Workload.from_splits(name or path.stem, layers, input_shape, splits)


def save_model_file(workload: Workload, path: str | os.PathLike) -> Path:
    """Write ``workload``'s network (not its data) in the model-file format; the suffix picks .npz or .safetensors.

    The file is written to a temporary name and renamed, so a crash never leaves a half-written file.
    """
    path = Path(path)
    write_layers(path, list(workload.layers), workload.input_shape)
    return path


def write_layers(path: Path, layers: list[Layer], input_shape: Shape, metadata: dict[str, str] | None = None) -> None:
    """Write ``layers`` (weights named ``<layer name>.<param>``) and ``metadata`` strings atomically."""
    entries, arrays = [], {}
    for layer in layers:
        entry = layer.config()
        for key, value in layer.params.items():
            arrays[f"{layer.name}.{key}"] = np.ascontiguousarray(value)
            entry[key] = f"{layer.name}.{key}"
        entries.append(entry)
    metadata = {**(metadata or {}), "layers": json.dumps(entries), "input_shape": json.dumps(list(input_shape))}
    if path.suffix == ".npz":
        strings = {key: np.array(value) for key, value in metadata.items()}
        write_atomic(path, lambda f: np.savez(f, **arrays, **strings))
    elif path.suffix == ".safetensors":
        safetensors_numpy = _import_safetensors()
        write_atomic(path, lambda f: f.write(safetensors_numpy.save(arrays, metadata=metadata)))
    else:
        raise ValueError(f"{path}: model files end in {' or '.join(SUFFIXES)}")


def read_arrays(path: Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """(numeric arrays by name, string entries by name) of a model file; ValueError if unreadable."""
    if path.suffix not in SUFFIXES:
        raise ValueError(f"{path}: model files end in {' or '.join(SUFFIXES)}")
    if not path.is_file():
        raise FileNotFoundError(f"model file {path} does not exist")
    if path.suffix == ".safetensors":
        _import_safetensors()
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="numpy") as f:
                return {key: f.get_tensor(key) for key in f.keys()}, dict(f.metadata() or {})
        except Exception as error:  # the package raises its own error types for damaged files
            raise ValueError(f"{path.name}: not a readable safetensors file ({error})") from None
    try:
        with np.load(path, allow_pickle=False) as data:
            everything = {key: data[key] for key in data.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as error:
        raise ValueError(f"{path.name}: not a readable .npz file ({error})") from None
    strings = {k: str(v[()]) if v.dtype.kind == "U" else v[()].decode() for k, v in everything.items()
               if v.dtype.kind in "US" and v.ndim == 0}
    return {k: v for k, v in everything.items() if k not in strings}, strings


def build_layers(entries, arrays: dict[str, np.ndarray], input_shape: Shape, source: str = "model") -> list[Layer]:
    """Layers from a parsed layer list and its arrays, checked against the running activation shape.

    Raises ValueError naming ``source`` and the first layer (index, name, type) that does not fit.
    """
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"{source}: 'layers' must be a non-empty JSON list of layer objects")
    layers: list[Layer] = []
    seen_names: dict[str, int] = {}
    shape = tuple(input_shape)
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("type"), str):
            raise ValueError(f"{source}: layer {index}: must be a JSON object with a string 'type', got {entry!r}")
        kind = entry["type"]
        layer_name = entry.get("name") or f"{kind}{index}"
        where = f"{source}: layer {index} ({layer_name!r}, {kind})"
        if kind not in _ENTRY_KEYS:
            raise ValueError(f"{where}: unknown layer type; allowed: {', '.join(_ENTRY_KEYS)}")
        required, optional = _ENTRY_KEYS[kind]
        unknown = sorted(set(entry) - required - optional - {"type", "name"})
        missing = sorted(required - set(entry))
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(required | optional | {'name'}))}")
        if missing:
            raise ValueError(f"{where}: missing key(s) {', '.join(missing)}")
        if not isinstance(layer_name, str):
            raise ValueError(f"{where}: name must be a string")
        try:
            layer = _BUILDERS[kind](entry, arrays, layer_name)
            if isinstance(layer, WeightLayer):
                if layer_name in seen_names:
                    raise ValueError(f"name already used by layer {seen_names[layer_name]}; crossbar layers need unique names")
                seen_names[layer_name] = index
            shape = layer.output_shape(shape)
        except ValueError as error:
            raise ValueError(f"{where}: {error}") from None
        layers.append(layer)
    return layers


def _array(entry: dict, key: str, arrays: dict[str, np.ndarray], ndim: int) -> np.ndarray:
    """The float64 array an entry's ``key`` names, checked for presence, dtype, rank and finiteness."""
    array_name = entry[key]
    if not isinstance(array_name, str):
        raise ValueError(f"{key} must name an array in the file, got {array_name!r}")
    if array_name not in arrays:
        held = ", ".join(sorted(arrays)) or "none"
        raise ValueError(f"{key} array {array_name!r} is missing from the file (arrays held: {held})")
    array = arrays[array_name]
    if array.dtype.kind not in "fiu":
        raise ValueError(f"{key} array {array_name!r} has non-numeric dtype {array.dtype}")
    if array.ndim != ndim:
        raise ValueError(f"{key} array {array_name!r} must be {ndim}-D, got shape {array.shape}")
    array = array.astype(np.float64)
    bad = int(np.count_nonzero(~np.isfinite(array)))
    if bad:
        raise ValueError(f"{key} array {array_name!r} holds {bad} NaN/inf value(s)")
    return array


def _int(entry: dict, key: str, default: int | None, minimum: int) -> int:
    value = entry.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{key} must be an integer >= {minimum}, got {value!r}")
    return value


def _linear(entry: dict, arrays: dict, name: str) -> Linear:
    weight = _array(entry, "weight", arrays, ndim=2)
    layout = entry.get("weight_layout", "in_out")
    if layout not in ("in_out", "out_in"):
        raise ValueError(f"weight_layout must be 'in_out' or 'out_in', got {layout!r}")
    if layout == "out_in":
        weight = weight.T
    bias = _array(entry, "bias", arrays, ndim=1) if "bias" in entry else None
    if bias is not None and bias.shape != (weight.shape[1],):
        raise ValueError(f"bias array {entry['bias']!r} has shape {bias.shape}, the weight has {weight.shape[1]} outputs")
    return Linear(weight, bias, name)


def _conv2d(entry: dict, arrays: dict, name: str) -> Conv2d:
    weight = _array(entry, "weight", arrays, ndim=4)
    bias = _array(entry, "bias", arrays, ndim=1) if "bias" in entry else None
    if bias is not None and bias.shape != (weight.shape[0],):
        raise ValueError(f"bias array {entry['bias']!r} has shape {bias.shape}, the weight has {weight.shape[0]} output channels")
    return Conv2d(weight, bias, _int(entry, "stride", 1, 1), _int(entry, "padding", 0, 0), name)


def _pool(cls):
    def build(entry: dict, arrays: dict, name: str):
        kernel = _int(entry, "kernel", None, 1)
        return cls(kernel, _int(entry, "stride", kernel, 1), name)
    return build


_BUILDERS: dict[str, Callable[[dict, dict, str], Layer]] = {
    "linear": _linear,
    "conv2d": _conv2d,
    "relu": lambda entry, arrays, name: ReLU(name),
    "flatten": lambda entry, arrays, name: Flatten(name),
    "maxpool2d": _pool(MaxPool2d),
    "avgpool2d": _pool(AvgPool2d),
}


MAX_ACTIVATION = 1 << 22  # values per sample in any layer's input, output or im2col matrix


def _check_sizes(layers: list[Layer], input_shape: Shape, source: str) -> None:
    """Refuse a model whose layers would need absurd memory (a padding of a million, say) before
    anything runs it over the data."""
    shape = input_shape
    for index, layer in enumerate(layers):
        sizes = [math.prod(shape)]
        if isinstance(layer, Conv2d):
            channels, height, width = shape
            kh, kw = layer.kernel_hw
            sizes.append(channels * (height + 2 * layer.padding) * (width + 2 * layer.padding))
            out_h, out_w = layer.output_shape(shape)[1:]
            sizes.append(out_h * out_w * channels * kh * kw)
        shape = layer.output_shape(shape)
        sizes.append(math.prod(shape))
        if max(sizes) > MAX_ACTIVATION:
            raise ValueError(f"{source}: layer {index} ({layer.name!r}, {layer.kind}) needs {max(sizes)} "
                             f"values per sample, more than {MAX_ACTIVATION}; too large to simulate")


def _output_classes(layers: list[Layer], input_shape: Shape, source: str) -> int:
    shape = tuple(input_shape)
    for layer in layers:
        shape = layer.output_shape(shape)
    if len(shape) != 1 or shape[0] < 2:
        raise ValueError(
            f"{source}: layer {len(layers) - 1} ({layers[-1].name!r}, {layers[-1].kind}) gives per-sample shape "
            f"{shape}; a classifier must end in a vector of at least 2 class scores"
        )
    return shape[0]


def _check_data(x, y, at: str) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(x), np.asarray(y)
    if x.dtype.kind not in "fiub" or x.ndim < 2:
        raise ValueError(f"{at}x: must be a numeric array (N, *input_shape), got dtype {x.dtype} and shape {x.shape}")
    if y.ndim != 1:
        raise ValueError(f"{at}y: must be a 1-D array of class indices, got shape {y.shape}")
    if len(x) != len(y):
        raise ValueError(f"{at}x and y lengths differ: x has {len(x)} samples, y has {len(y)} labels")
    if len(x) < MIN_SAMPLES:
        raise ValueError(f"{at}x: {len(x)} samples; need at least {MIN_SAMPLES} for train, calibration and test splits")
    x = x.astype(np.float64)
    if not np.isfinite(x).all():
        raise ValueError(f"{at}x: holds {int(np.count_nonzero(~np.isfinite(x)))} NaN/inf value(s)")
    if y.dtype.kind == "f" and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
        y = y.astype(np.int64)
    if y.dtype.kind not in "iu":
        raise ValueError(f"{at}y: labels must be integer class indices, got dtype {y.dtype}")
    return x, y.astype(np.int64)


def _parse_json(text: str, what: str, source: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{source}: '{what}' is not valid JSON ({error})") from None


def _import_safetensors():
    try:
        import safetensors.numpy
    except ImportError:
        raise ImportError(
            ".safetensors model files need the safetensors package: pip install safetensors "
            "(or save the model as .npz)"
        ) from None
    return safetensors.numpy
