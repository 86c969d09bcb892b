"""Pareto pictures of a study's trials table, and a reusable helper for any two-column trade-off.

:func:`plot_front` draws one 2D panel (dominated points faded, non-dominated points highlighted, the
panel's own trade-off as a step line) and is meant for reuse; :func:`plot_pareto` lays out one
panel per pair of objectives and titles the figure with the hypervolume. Figures are built with
``matplotlib.figure.Figure`` (no pyplot, no global backend change) and saved as PNG, SVG or PDF.
"""
from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from dse.hypervolume import hypervolume
from dse.study.results import pareto_mask

FORMATS = (".png", ".svg", ".pdf")
COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown")


def axis_label(metric: str, direction: str) -> str:
    return f"{metric} ({'higher' if direction == 'maximize' else 'lower'} is better)"


def plot_front(ax, frame: pd.DataFrame, x: str, y: str, x_dir: str, y_dir: str, *,
               highlight: np.ndarray | None = None, colour: str = "tab:blue", label: str = "non-dominated",
               legend_all: bool = True) -> None:
    """One trade-off panel on ``ax``.

    ``highlight`` marks the rows to draw strongly (by default the rows non-dominated in x and y),
    labelled ``label``; every other row is faded; rows with ``feasible == False`` are drawn as faded
    crosses (``legend_all`` labels those two kinds as well). The step line joins the panel's own 2D front.
    """
    feasible = frame["feasible"].to_numpy(bool) if "feasible" in frame else np.ones(len(frame), bool)
    xy = frame[[x, y]].to_numpy(float)
    front2d = np.zeros(len(frame), bool)
    if feasible.any():
        front2d[feasible] = pareto_mask(xy[feasible], [x_dir, y_dir])
    strong = front2d if highlight is None else np.asarray(highlight, bool) & feasible
    faded = feasible & ~strong
    ax.scatter(xy[faded, 0], xy[faded, 1], s=14, color=colour, alpha=0.2, linewidths=0,
               label="dominated" if legend_all else None)
    if (~feasible).any():
        ax.scatter(xy[~feasible, 0], xy[~feasible, 1], s=14, color="grey", alpha=0.35, marker="x",
                   linewidths=0.8, label="infeasible" if legend_all else None)
    ax.scatter(xy[strong, 0], xy[strong, 1], s=34, color=colour, edgecolors="black", linewidths=0.6,
               label=label or None, zorder=3)
    if front2d.any():
        line = xy[front2d][np.argsort(xy[front2d, 0])]
        # what is attainable between two front points: the cheaper one's y when x is minimised
        ax.step(line[:, 0], line[:, 1], where="post" if x_dir == "minimize" else "pre",
                color=colour, alpha=0.7, linewidth=1.2, zorder=2)
    ax.set_xlabel(axis_label(x, x_dir))
    ax.set_ylabel(axis_label(y, y_dir))
    for axis, column in (("x", xy[feasible, 0]), ("y", xy[feasible, 1])):
        if column.size and column.min() > 0 and column.max() / column.min() > 100:
            (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
        else:
            ax.ticklabel_format(axis=axis, style="sci", scilimits=(-3, 4))  # 1e5, not 100000
    ax.grid(True, alpha=0.3)


def plot_pareto(frame: pd.DataFrame, objectives: list[tuple[str, str]], out: str | Path, *,
                title: str = "", x: str | None = None, y: str | None = None,
                hypervolume_box: dict | None = None) -> Path:
    """Save the Pareto front(s) of a trials table: one panel per pair of objectives, one colour per
    scenario, highlighted points non-dominated over all objectives, hypervolume in the title.

    ``x`` and ``y`` (both or neither) draw one panel of those two columns instead; their directions
    come from ``objectives`` (columns that are not objectives count as minimised). ``hypervolume_box``
    is the study's fixed box (``ideal``, ``reference``: the results metadata's ``hypervolume``).
    """
    out = Path(out)
    if out.suffix.lower() not in FORMATS:
        raise ValueError(f"{out}: output must end in one of {', '.join(FORMATS)}")
    directions = dict(objectives)
    if (x is None) != (y is None):
        raise ValueError("give both --x and --y, or neither")
    pairs = [(x, y)] if x else [
        (b, a) if directions[a] == "maximize" and directions[b] == "minimize" else (a, b)  # cost on x
        for a, b in itertools.combinations(directions, 2)
    ]
    if not pairs:
        raise ValueError("a Pareto plot needs at least two objectives (or --x and --y)")
    for column in {c for pair in pairs for c in pair}:
        if column not in frame:
            raise ValueError(f"no column {column!r} in the trials table; columns: {', '.join(frame.columns)}")

    columns = min(3, len(pairs))
    rows = -(-len(pairs) // columns)
    fig = Figure(figsize=(4.4 * columns, 3.8 * rows + 0.6), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    metrics, dirs = [m for m, _ in objectives], [d for _, d in objectives]
    scenarios = list(dict.fromkeys(frame["scenario"])) if "scenario" in frame else [None]
    notes = []
    for colour, scenario in zip(itertools.cycle(COLOURS), scenarios):
        part = frame if scenario is None else frame[frame["scenario"] == scenario]
        feasible = part[part["feasible"]] if "feasible" in part else part
        if "is_pareto" in part:  # a trials table: its own marks (repeated designs counted once)
            on_front = part["is_pareto"].to_numpy(bool)
        else:
            on_front = np.zeros(len(part), bool)
            if len(feasible):
                on_front[part.index.get_indexer(feasible.index)] = pareto_mask(feasible[metrics].to_numpy(float), dirs)
        name = "" if len(scenarios) == 1 else f"{scenario}: "
        note = f"{name}{len(part)} designs, {int(on_front.sum())} non-dominated"
        if hypervolume_box:
            hv = hypervolume(feasible[metrics].to_numpy(float), dirs, hypervolume_box["ideal"],
                             hypervolume_box["reference"])
            note += f", hypervolume {hv:.3f}"
        notes.append(note)
        for ax, (a, b) in zip(axes, pairs):
            plot_front(ax, part, a, b, directions.get(a, "minimize"), directions.get(b, "minimize"),
                       highlight=None if x else on_front, colour=colour,
                       label=scenario if len(scenarios) > 1 else "non-dominated", legend_all=len(scenarios) == 1)
    for ax in axes[len(pairs):]:
        ax.set_visible(False)
    axes[0].legend(loc="best", fontsize="small")
    heading = "; ".join(notes)
    fig.suptitle(f"{title}\n{heading}" if title else heading, fontsize="medium")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    return out
