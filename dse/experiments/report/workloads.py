"""docs/workloads.md: every built-in workload's test split and float test accuracy (its cached model)."""
from __future__ import annotations

from dse.experiments.report.common import Setting, cached_workload


def docs_workloads(setting: Setting) -> str:
    """One row per built-in workload: test examples and the float model's test accuracy (the head's for the
    transformer workloads)."""
    from dse.workloads import list_workloads
    rows = ["| workload | test examples | float test accuracy |", "|---|---|---|"]
    for name in list_workloads():
        w = cached_workload(name)
        rows.append(f"| `{name}` | {len(w.y_test):,} | {100 * w.float_accuracy:.1f} % |")
    return "\n".join(rows)
