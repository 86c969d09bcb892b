"""Built-in workloads: a name -> loader registry, and seeded training cached on disk.

A loader takes the cache directory and returns a :class:`Workload`. The digits workloads train a
small network (a few seconds) and cache the weights; a later pretrained workload (e.g. a MiniLM
transformer) registers a loader that fetches and converts weights instead::

    @register("minilm-l6", info=WorkloadInfo(layers=..., col_layers=..., metrics=...))
    def _minilm(cache_dir: Path) -> Workload: ...

``info`` (a :class:`WorkloadInfo`, or a function returning one) declares the layer and metric names
so that a study file can be checked without loading the workload (:func:`workload_info`).

Cache files are model files (``model_file.py``) named ``<workload>-<key>.npz``, where the key is a
SHA-256 over everything that decides the trained weights: the architecture, the training recipe
(seed included), a fingerprint of the data splits, the source of the layers and the training loop,
and :data:`FORMAT_VERSION`. Changing any of them trains afresh; stale files are left in place.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import warnings
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np

from dse.workloads import data, layers as layers_module, training
from dse.workloads.data import Splits
from dse.workloads.layers import Conv2d, Flatten, Layer, Linear, MaxPool2d, ReLU
from dse.workloads.model_file import build_layers, read_arrays, write_layers
from dse.workloads.training import TrainingRecipe, train
from dse.workloads.workload import Workload, WorkloadInfo, sequential_info

FORMAT_VERSION = 1  # bump when the cache file layout or the meaning of its contents changes
CACHE_ENV = "RERAM_DSE_CACHE"

Loader = Callable[[Path], Workload]
_REGISTRY: dict[str, Loader] = {}
_INFO: dict[str, WorkloadInfo | Callable[[], WorkloadInfo]] = {}
# Built-ins that take your own test data: (workload, path) -> the workload with that data as its test split
DataReader = Callable[[Workload, str], Workload]
_DATA: dict[str, DataReader] = {}


def register(name: str, info: WorkloadInfo | Callable[[], WorkloadInfo] | None = None,
             data: DataReader | None = None) -> Callable[[Loader], Loader]:
    """Decorator adding ``loader(cache_dir) -> Workload`` to the built-ins under ``name``.

    ``info`` declares the workload's layer and metric names (:class:`WorkloadInfo`, or a cheap function
    returning one) so studies are checked without loading it; without it they load the workload.
    ``data`` reads a file of your own examples into the workload's test split (``open_workload``).
    """
    def add(loader: Loader) -> Loader:
        if name in _REGISTRY:
            raise ValueError(f"workload {name!r} is already registered")
        _REGISTRY[name] = loader
        if info is not None:
            _INFO[name] = info
        if data is not None:
            _DATA[name] = data
        return loader
    return add


def takes_data(name: str) -> bool:
    """Whether the built-in ``name`` takes your own test data (``open_workload(name, data)``)."""
    return name in _DATA


def workload_info(name: str) -> WorkloadInfo:
    """The declared :class:`WorkloadInfo` of the built-in ``name`` (its layers and its own metrics),
    without loading it when it was registered with ``info``."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown workload {name!r}; allowed: {', '.join(_REGISTRY)}")
    info = _INFO.get(name)
    if info is None:
        return load_workload(name).info()
    return info() if callable(info) else info


def list_workloads() -> list[str]:
    """Names of the built-in workloads, in registration order."""
    return list(_REGISTRY)


def load_workload(name: str, cache_dir: str | os.PathLike | None = None) -> Workload:
    """The built-in workload ``name``, trained on first use and cached under ``cache_dir``.

    ``cache_dir`` defaults to ``$RERAM_DSE_CACHE/workloads``, or ``~/.cache/reram-dse/workloads``
    when that variable is unset. An unreadable cache file is retrained (with a warning), not an error.
    """
    if name not in _REGISTRY:
        raise ValueError(f"unknown workload {name!r}; allowed: {', '.join(_REGISTRY)}")
    return _REGISTRY[name](Path(cache_dir) if cache_dir is not None else default_cache_dir())


def default_cache_dir() -> Path:
    root = os.environ.get(CACHE_ENV)
    return (Path(root).expanduser() if root else Path.home() / ".cache" / "reram-dse") / "workloads"


def cache_key(name: str, layers: list[Layer], input_shape: tuple[int, ...], splits: Splits,
              recipe: TrainingRecipe) -> str:
    """Hex SHA-256 of everything that decides the weights training ``layers`` produces."""
    code = hashlib.sha256()
    for module in (layers_module, training):
        code.update(Path(module.__file__).read_bytes())
    architecture = [
        {**layer.config(), "params": {key: list(value.shape) for key, value in layer.params.items()}}
        for layer in layers
    ]
    described = {
        "format": FORMAT_VERSION,
        "name": name,
        "input_shape": list(input_shape),
        "layers": architecture,
        "recipe": dataclasses.asdict(recipe),
        "data": data.fingerprint(splits),
        "code": code.hexdigest(),
    }
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()


def trained_workload(name: str, build: Callable[[np.random.Generator], list[Layer]], splits: Splits,
                     recipe: TrainingRecipe, cache_dir: Path) -> Workload:
    """Build the network (initial weights from ``recipe.seed``), train it on the training split, cache it.

    A cache hit returns the stored weights, bit-identical to what training would produce here.
    """
    layers = build(np.random.default_rng(recipe.seed))
    input_shape = tuple(splits.x_train.shape[1:])
    key = cache_key(name, layers, input_shape, splits, recipe)
    path = cache_dir / f"{name}-{key[:16]}.npz"
    cached = read_cached_layers(path, key, input_shape)
    if cached is not None:
        layers = cached[0]
    else:
        train(layers, splits.x_train, splits.y_train, recipe)
        try:
            write_layers(path, layers, input_shape, {"cache_key": key})
        except OSError as error:  # a read-only cache only costs the retraining next time
            warnings.warn(f"could not cache workload {name!r} at {path}: {error}", stacklevel=3)
    return Workload.from_splits(name, layers, input_shape, splits)


def read_keyed_cache(path: Path, key: str, parse: Callable[[object], object], redo: str):
    """``parse(data)`` of the ``.npz`` cache file ``path`` whose ``cache_key`` entry is ``key``, or None
    when there is no such file or it is unusable (damaged, another key, or entries ``parse`` cannot
    read): reported as a warning that starts with ``redo`` (what the caller does instead), never an
    error, as a cache can always be rebuilt."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            if str(data["cache_key"]) != key:
                raise ValueError("its cache key does not match")
            return parse(data)
    except (OSError, ValueError, KeyError) as error:
        warnings.warn(f"{redo}: cache file {path} is unusable ({error})", stacklevel=4)
        return None


def read_cached_layers(path: Path, key: str, input_shape: tuple[int, ...], redo: str = "retraining",
                       parse: Callable[[dict], object] = lambda metadata: None):
    """``(layers, parse(metadata))`` from a cache model file, or None when there is no usable one.

    A damaged file, a key mismatch or metadata ``parse`` rejects is reported as a warning that starts with
    ``redo`` (what the caller does instead), never an error: a cache can always be rebuilt.
    """
    if not path.exists():
        return None
    try:
        arrays, metadata = read_arrays(path)
        if metadata.get("cache_key") != key:
            raise ValueError("its cache key does not match")
        layers = build_layers(json.loads(metadata["layers"]), arrays, input_shape, source=path.name)
        return layers, parse(metadata)
    except (OSError, ValueError, KeyError) as error:
        warnings.warn(f"{redo}: cache file {path} is unusable ({error})", stacklevel=4)
        return None


# --- the digits workloads ------------------------------------------------------------------------

DIGITS_RECIPE = TrainingRecipe(epochs=30, batch_size=32, learning_rate=1e-3, seed=0)


def mlp_digits_layers(rng: np.random.Generator) -> list[Layer]:
    """MLP 64-256-128-10 with ReLU, on flattened 8x8 digits."""
    return [
        Linear.initialised(64, 256, rng, "fc1"), ReLU("relu1"),
        Linear.initialised(256, 128, rng, "fc2"), ReLU("relu2"),
        Linear.initialised(128, 10, rng, "fc3"),
    ]


def cnn_digits_layers(rng: np.random.Generator) -> list[Layer]:
    """LeNet-style CNN on (1, 8, 8) digits: two 3x3 conv (16, 32 channels) + 2x2 max-pool stages, linear 128-10.

    Crossbar matrices: conv1 9x16 (64 MVMs per inference), conv2 144x32 (16 MVMs), fc 128x10 (1 MVM).
    Half these channel counts stays just under 97 % test accuracy.
    """
    return [
        Conv2d.initialised(1, 16, 3, rng, padding=1, name="conv1"), ReLU("relu1"), MaxPool2d(2, name="pool1"),
        Conv2d.initialised(16, 32, 3, rng, padding=1, name="conv2"), ReLU("relu2"), MaxPool2d(2, name="pool2"),
        Flatten("flatten"),
        Linear.initialised(32 * 2 * 2, 10, rng, "fc"),
    ]


@register("mlp-digits", info=lambda: sequential_info(mlp_digits_layers(np.random.default_rng(0))))
def _mlp_digits(cache_dir: Path) -> Workload:
    return trained_workload("mlp-digits", mlp_digits_layers, data.digits(image=False), DIGITS_RECIPE, cache_dir)


@register("cnn-digits", info=lambda: sequential_info(cnn_digits_layers(np.random.default_rng(0))))
def _cnn_digits(cache_dir: Path) -> Workload:
    return trained_workload("cnn-digits", cnn_digits_layers, data.digits(image=True), DIGITS_RECIPE, cache_dir)


MODEL_SUFFIXES = (".npz", ".safetensors")


def open_workload(spec: str, data: str | os.PathLike | None = None) -> Workload:
    """A built-in workload by name, or your own model file with your data, without new code.

    spec  a built-in name (``list_workloads()``) or the path of a model file (``.npz`` or
          ``.safetensors``, format in ``dse.workloads.model_file``)
    data  with a model file: an ``.npz`` holding ``x`` (N, *input_shape) and ``y`` (N,) class indices;
          with a built-in that takes data (the text tasks: JSON Lines, ``text_data.read_jsonl``), its
          examples replace the test split (calibration stays the workload's own)
    """
    if spec in _REGISTRY:
        if data is None:
            return load_workload(spec)
        if spec not in _DATA:
            takers = ", ".join(_DATA) or "none"
            raise ValueError(f"data is only for model files and the built-ins that take it ({takers}); "
                             f"workload {spec!r} is a built-in with its own data")
        if not Path(data).is_file():
            raise ValueError(f"data file {str(data)!r} does not exist")
        return _DATA[spec](load_workload(spec), data)
    if not str(spec).endswith(MODEL_SUFFIXES):
        raise ValueError(f"workload must be one of {', '.join(list_workloads())} or a model file "
                         f"({' or '.join(MODEL_SUFFIXES)}); got {spec!r}")
    if not Path(spec).is_file():
        raise ValueError(f"workload model file {spec!r} does not exist")
    if data is None:
        raise ValueError(f"workload {spec!r} is a model file: pass data, an .npz holding arrays x and y")
    from dse.workloads.model_file import load_model_file

    try:
        with np.load(data, allow_pickle=False) as arrays:
            found = set(arrays.files)
            x, y = (arrays[key] if key in found else None for key in ("x", "y"))
    except (OSError, EOFError, ValueError, zipfile.BadZipFile) as exc:  # truncated, not npz, pickled objects
        raise ValueError(f"data {str(data)!r} is not a readable .npz file: {exc}") from None
    missing = [key for key, array in (("x", x), ("y", y)) if array is None]
    if missing:
        raise ValueError(f"data {str(data)!r} lacks array(s) {', '.join(missing)}; it must hold x and y")
    return load_model_file(spec, x, y, data_source=str(data))
