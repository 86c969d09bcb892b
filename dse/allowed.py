"""Allowed values as data: one constraint per config field, one validator, one phrasing.

In the spirit of scikit-learn's ``_param_validation``: each config dataclass declares ``ALLOWED``
(field name -> constraint) once; its ``__post_init__`` checks fields with :func:`check_field` (plus the
rules that tie fields together), and the study parser checks a searched or fixed value against the same
constraint (:func:`allowed`) without building a config. A failed check is a ``ValueError`` whose message
starts with the field name and says what is allowed.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class Interval:
    """An int or float in [low, high] (``low_open``: (low, high]; ``high`` None: no upper bound)."""

    kind: type
    low: float
    high: float | None = None
    low_open: bool = False

    def check(self, name: str, value: Any) -> Any:
        if self.kind is int:
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{name} must be an integer, got {value!r}")
            if value < self.low or (self.high is not None and value > self.high):
                allowed = f"{self.low}..{self.high}" if self.high is not None else f">= {self.low}"
                raise ValueError(f"{name} must be in {allowed}, got {value}")
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"{name} must be a finite number, got {value!r}")
        if value < self.low or value > self.high or (self.low_open and value == self.low):
            raise ValueError(f"{name} must be in {'(' if self.low_open else '['}{self.low}, {self.high}], got {value}")
        return float(value)


@dataclass(frozen=True)
class OneOf:
    """One of a fixed vocabulary (defined where it is implemented: the kernels, the pruners)."""

    choices: tuple[str, ...]

    def check(self, name: str, value: Any) -> Any:
        if value not in self.choices:
            raise ValueError(f"{name} must be one of {', '.join(self.choices)}; got {value!r}")
        return value


@dataclass(frozen=True)
class Boolean:
    def check(self, name: str, value: Any) -> Any:
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be true or false, got {value!r}")
        return value


@dataclass(frozen=True)
class Checked:
    """A rule that lives elsewhere (``check(value)`` raises the ValueError itself, returns the value)."""

    check_value: Callable[[Any], Any]

    def check(self, name: str, value: Any) -> Any:
        return self.check_value(value)


@dataclass(frozen=True)
class PresetName:
    """Non-empty text naming a preset (loaded, and so checked further, where it is used)."""

    what: str

    def check(self, name: str, value: Any) -> Any:
        if not isinstance(value, str) or not value:
            raise ValueError(f"{name} must be a {self.what}, got {value!r}")
        return value


@dataclass(frozen=True)
class LevelTable:
    """A per-level table: a sequence of finite numbers in [low, high], stored as a tuple of floats."""

    low: float
    high: float

    def check(self, name: str, value: Any) -> Any:
        if isinstance(value, str) or not hasattr(value, "__iter__"):
            raise ValueError(f"{name} must be a list of numbers (one per cell level, level 0 first), got {value!r}")
        items = tuple(value)
        for item in items:
            if isinstance(item, bool) or not isinstance(item, (int, float)) or not math.isfinite(item) \
                    or not self.low <= item <= self.high:
                raise ValueError(f"{name} entries must be numbers in [{self.low}, {self.high}], got {item!r}")
        return tuple(float(item) for item in items)


@dataclass(frozen=True)
class LayerFractions:
    """A ``{layer name: fraction}`` mapping (or (name, fraction) pairs) with fractions in [0, high],
    stored as pairs sorted by name."""

    high: float

    def check(self, name: str, value: Any) -> Any:
        example = "{'fc1': 0.3} or (('fc1', 0.3),)"
        if isinstance(value, Mapping):
            items = list(value.items())
        elif isinstance(value, (str, bytes)) or not isinstance(value, (Sequence, set, frozenset)):
            raise ValueError(f"{name} must map layer names to fractions ({example}), got {value!r}")
        else:
            items = list(value)
            for item in items:
                if isinstance(item, (str, bytes)) or not isinstance(item, Sequence) or len(item) != 2:
                    raise ValueError(f"{name} must map layer names to fractions ({example}), got the item {item!r}")
        pairs = {}
        for layer, fraction in items:
            if not isinstance(layer, str) or not layer:
                raise ValueError(f"{name}: layer names must be non-empty text, got {layer!r}")
            if layer in pairs:
                raise ValueError(f"{name}: layer {layer!r} is given twice")
            if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not math.isfinite(fraction) \
                    or not 0.0 <= fraction <= self.high:
                raise ValueError(f"{name}: layer {layer!r} must be in [0.0, {self.high}], got {fraction!r}")
            pairs[layer] = float(fraction)
        return tuple(sorted(pairs.items()))


def per_layer(value: Any, names: Sequence[str], default: float, what: str, high: float) -> dict[str, float]:
    """A number in [0, high] for every layer of ``names``: from one number (every layer), a ``{layer:
    number}`` mapping (the layers it leaves out get ``default``) or None (``default`` everywhere).

    The one resolver of per-layer values (prune fractions, input activity, cell levels); a name that is
    not a layer, or a value out of range, is a ValueError naming ``what`` and the layer.
    """
    names = list(names)
    if value is None:
        values = {name: default for name in names}
    elif isinstance(value, Mapping):
        unknown = sorted(set(value) - set(names))
        if unknown:
            raise ValueError(f"{what} names unknown layer(s) {', '.join(map(str, unknown))}; "
                             f"layers: {', '.join(names)}")
        values = {name: value.get(name, default) for name in names}
    else:
        values = {name: value for name in names}
    for name, v in values.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= v <= high:
            raise ValueError(f"{what} must be a fraction in [0, {high:g}], got {v!r} for layer {name!r}")
    return {name: float(v) for name, v in values.items()}


def allowed(cls: type, name: str):
    """The constraint ``cls`` declares for field ``name`` (None for a field without one)."""
    return getattr(cls, "ALLOWED", {}).get(name)


def check_field(obj: Any, name: str) -> None:
    """Check ``obj.name`` against its class's constraint and store the normalised value (floats as
    float, tables as tuples) on the frozen dataclass."""
    value = getattr(obj, name)
    checked = type(obj).ALLOWED[name].check(name, value)
    if checked is not value:
        object.__setattr__(obj, name, checked)
