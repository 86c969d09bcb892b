"""Mapping a trained network onto crossbars: :func:`map_network` is the one entry.

Without protection each weight layer is mapped by :func:`dse.mapping.layer.map_layer` (quantise,
calibrate, slice into bit lines, count crossbars); with a non-empty :class:`dse.config.Protection`,
:func:`dse.mapping.protected.map_protected_network` prunes, embeds MSB copies, lays out copies and
spares, and attaches the per-chip repair, on top of the same pieces.
"""
from __future__ import annotations

from dse.config import HardwareConfig, Protection
from dse.mapping.layer import MappedLayer, MappedNetwork, map_layer
from dse.mapping.protected import map_protected_network, pruned_workload
from dse.workloads.workload import Workload

__all__ = ["MappedLayer", "MappedNetwork", "map_layer", "map_network", "map_protected_network", "pruned_workload"]


def map_network(workload: Workload, hw: HardwareConfig, protection: Protection | None = None) -> MappedNetwork:
    """Map every weight layer of ``workload`` onto ``hw``, with ``protection`` applied when given and
    not empty."""
    if protection is not None and not protection.is_none:
        return map_protected_network(workload, hw, protection)
    calib = workload.layer_inputs(workload.x_calib)
    info = {c.index: c for c in workload.crossbar_layers()}
    layers = {
        index: map_layer(index, workload.layers[index], cols, hw, mvms_per_inference=info[index].mvms_per_inference)
        for index, cols in calib.items()
    }
    return MappedNetwork(workload, hw, layers)
