"""The cost breakdown figure: energy and area per layer, stacked by component."""
from __future__ import annotations

from pathlib import Path

from dse.cost.model import COMPONENTS, CostReport


def plot_breakdown(report: CostReport, path: str | Path, title: str | None = None) -> Path:
    """Save a two-panel stacked bar chart (energy per inference in nJ, area in mm2) to ``path`` (PNG).

    One bar per layer plus one for the whole network; components that cost nothing anywhere are left
    out of the legend.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = report.breakdown
    energy = table.pivot_table(index="layer", columns="component", values="energy_pj", sort=False) * 1e-3
    area = table.pivot_table(index="layer", columns="component", values="area_um2", sort=False) * 1e-6
    energy.loc["all layers"] = energy.sum()
    area.loc["all layers"] = area.sum()
    shown = [c for c in COMPONENTS if energy[c].abs().sum() > 0 or area[c].abs().sum() > 0]
    colours = plt.get_cmap("tab20").colors

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
    for ax, frame, label in ((axes[0], energy, "energy per inference (nJ)"), (axes[1], area, "area (mm$^2$)")):
        bottom = [0.0] * len(frame)
        for i, component in enumerate(shown):
            values = frame[component].to_list()
            ax.bar(frame.index.astype(str), values, bottom=bottom, color=colours[i % len(colours)],
                   label=component.replace("_", " "))
            bottom = [b + v for b, v in zip(bottom, values)]
        ax.set_ylabel(label)
        ax.set_xlabel("layer")
        ax.grid(axis="y", alpha=0.3)
        ax.tick_params(axis="x", rotation=30)
    axes[1].legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=8, frameon=False)
    fig.suptitle(title or f"cost breakdown ({report.tech} preset, {report.node_nm} nm, ADC model {report.adc_model})",
                 fontsize=10)
    path = Path(path)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
