"""Fault tolerance at zero space cost (Li et al. 2024) and its baselines; see docs/tolerance.md.

- :func:`map_protected_network` ``(workload, hw, protection)``: what ``dse.mapping.map_network`` calls
  for a non-empty :class:`dse.config.Protection` (pruning, copies, votes, MSB embedding, spares, remap,
  compensation).
- :data:`PRESETS`: named protections for ``--protect NAME``.
- :func:`prune` ``(workload, row_prune, col_prune, method)``: structured pruning, cached on disk.
- :func:`tolerance_rates` ``(workload, hw, protection)``: fault rates at which accuracy drops 1 / 5 points.

Modules: ``pruning`` (gates and magnitude), ``importance`` (which columns matter), ``msb`` (MSB
embedding), ``duplication`` (copies, groups, layout), ``chip`` (per-chip remap, test-aware pick,
compensation), ``network`` (putting it together), ``rates`` (fault-rate tolerance), ``presets``.
"""
from dse.tolerance.network import map_protected_network
from dse.tolerance.presets import PRESETS
from dse.tolerance.pruning import PrunedNetwork, prune
from dse.tolerance.rates import ToleranceCurve, tolerance_rates

__all__ = ["PRESETS", "PrunedNetwork", "ToleranceCurve", "map_protected_network", "prune", "tolerance_rates"]
