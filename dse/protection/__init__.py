"""Fault tolerance at zero space cost (Li et al. 2024) and its baselines; see docs/tolerance.md.

What a :class:`dse.config.Protection` (``--protect NAME`` or its fields as flags) is made of; the
mapping puts the pieces together (:mod:`dse.mapping.protected`), pruning is :mod:`dse.pruning`, and
the measured tolerated fault rates are :mod:`dse.experiments.tolerance`.

- :data:`PRESETS` (``presets``): named protections for ``--protect NAME``;
- ``importance``: which output columns matter (loss-gradient sensitivity);
- ``msb``: MSB embedding (quantisation that frees the least significant slice, encode, decode);
- ``duplication``: copies in free columns, their groups and layout, spare columns;
- ``chip``: the per-chip repair from the tested fault map (remap, test-aware pick, compensation).
"""
from dse.protection.presets import PRESETS

__all__ = ["PRESETS"]
