"""Simulating mapped networks on faulty chips: :func:`evaluate` maps a workload once and runs the test
split on every simulated chip.

- ``chips``: one chip's stuck cells, split into what its post-fabrication test found and what it did not;
- ``analog``: one chip's analog non-idealities (conductance variation, read noise, stuck-cell spread);
- ``network``: a chip's layers (fault maps applied, per-chip repair), the network run through the
  crossbar kernels and the digital layers, accuracy over chips.
"""
from dse.simulate.network import (ChipLayer, EvalResult, LayerStats, accuracy, check_backend_runs, chip_layers, evaluate,
                                  run_network)

__all__ = ["ChipLayer", "EvalResult", "LayerStats", "accuracy", "check_backend_runs", "chip_layers", "evaluate",
           "run_network"]
