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


# How a quantity is shown, the same on every plot: (what it is, factor from the column's unit, unit).
DISPLAY = {
    "accuracy_mean": ("test accuracy, mean over chips", 100.0, "%"),
    "accuracy_min": ("worst chip's test accuracy", 100.0, "%"),
    "energy_pj": ("energy per inference", 1e-3, "nJ"),
    "area_mm2": ("area", 1.0, "mm$^2$"),
    "area_um2": ("area", 1e-6, "mm$^2$"),
    "latency_ns": ("latency per inference", 1e-3, "us"),
    "pipeline_interval_ns": ("pipeline interval", 1e-3, "us"),
    "crossbars": ("crossbars", 1.0, "count"),
}
# Half-width of the 95 % confidence interval drawn as error bars, by the column it belongs to.
ERROR_BARS = {"accuracy_mean": "accuracy_ci95"}
MAX_TRIAL_LABELS = 30  # trial numbers written beside front points, up to this many per panel


def display(metric: str) -> tuple[str, float, str]:
    """(what, factor, unit): ``DISPLAY``'s, else the column's own unit from the results schema (none for a
    dimensionless or unknown one)."""
    if metric in DISPLAY:
        return DISPLAY[metric]
    from dse.study.schema import column

    unit = column(metric).unit
    return metric.replace("_", " "), 1.0, "" if unit in ("1", "-", "unknown") else unit


def axis_label(metric: str, direction: str) -> str:
    what, _, unit = display(metric)
    return f"{what} ({unit}, {'higher' if direction == 'maximize' else 'lower'} is better)" if unit else \
        f"{what} ({'higher' if direction == 'maximize' else 'lower'} is better)"


def _bounds(constraints: list[str] | None) -> dict[str, list[float]]:
    """{metric: [bound, ...]} from the stored constraint texts (``"accuracy_mean >= 0.9"``)."""
    out: dict[str, list[float]] = {}
    for text in constraints or []:
        parts = str(text).split()
        if len(parts) == 3:
            try:
                out.setdefault(parts[0], []).append(float(parts[2]))
            except ValueError:
                continue
    return out


def plot_front(ax, frame: pd.DataFrame, x: str, y: str, x_dir: str, y_dir: str, *,
               highlight: np.ndarray | None = None, colour: str = "tab:blue", label: str = "non-dominated",
               legend_all: bool = True, constraints: list[str] | None = None) -> None:
    """One trade-off panel on ``ax``.

    ``highlight`` marks the rows to draw strongly (by default the rows non-dominated in x and y),
    labelled ``label``; every other row is faded; rows with ``feasible == False`` are drawn as faded
    crosses (``legend_all`` labels those two kinds as well). The step line joins the panel's own 2D front.
    Axes are in the units of ``DISPLAY`` (nJ, mm2, %, us); accuracy carries its 95 % CI as error bars on
    the highlighted points, which are labelled with their trial numbers; ``constraints`` (the stored
    texts) on either axis are dashed lines.
    """
    feasible = frame["feasible"].to_numpy(bool) if "feasible" in frame else np.ones(len(frame), bool)
    scale = np.array([display(x)[1], display(y)[1]])
    xy = frame[[x, y]].to_numpy(float) * scale
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
    errors = [frame[ERROR_BARS[c]].to_numpy(float)[strong] * s if ERROR_BARS.get(c) in frame else None
              for c, s in ((x, scale[0]), (y, scale[1]))]
    if strong.any() and any(e is not None for e in errors):
        ax.errorbar(xy[strong, 0], xy[strong, 1], xerr=errors[0], yerr=errors[1], fmt="none", ecolor=colour,
                    elinewidth=0.8, capsize=2, alpha=0.8, zorder=2.5,
                    label="95 % CI over chips" if legend_all else None)
    if "trial_number" in frame and 0 < strong.sum() <= MAX_TRIAL_LABELS:
        for (px, py), number in zip(xy[strong], frame["trial_number"].to_numpy()[strong]):
            ax.annotate(str(int(number)), (px, py), xytext=(3, 3), textcoords="offset points", fontsize=6.5,
                        color="0.25")
    bounds = _bounds(constraints)
    for metric, draw, factor in ((x, ax.axvline, scale[0]), (y, ax.axhline, scale[1])):
        for i, bound in enumerate(bounds.get(metric, [])):
            draw(bound * factor, color="0.4", linestyle="--", linewidth=0.9,
                 label=f"constraint on {display(metric)[0]}" if legend_all and i == 0 else None)
    if front2d.any():
        line = xy[front2d][np.argsort(xy[front2d, 0])]
        # what is attainable between two front points: the cheaper one's y when x is minimised
        ax.step(line[:, 0], line[:, 1], where="post" if x_dir == "minimize" else "pre",
                color=colour, alpha=0.7, linewidth=1.2, zorder=2,
                label="front of this pair alone" if legend_all else None)
    ax.set_xlabel(axis_label(x, x_dir))
    ax.set_ylabel(axis_label(y, y_dir))
    for axis, column in (("x", xy[feasible, 0]), ("y", xy[feasible, 1])):
        if column.size and column.min() > 0 and column.max() / column.min() > 100:
            (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
        else:  # plain numbers in the axis unit: no offset ("+1e5") and no exponent above the axis
            ax.ticklabel_format(axis=axis, style="plain", useOffset=False)
    ax.grid(True, alpha=0.3)


def plot_pareto(frame: pd.DataFrame, objectives: list[tuple[str, str]], out: str | Path, *,
                title: str = "", x: str | None = None, y: str | None = None,
                hypervolume_box: dict | None = None, constraints: list[str] | None = None) -> Path:
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
                       label=(f"{scenario}: non-dominated" if len(scenarios) > 1 else
                              "non-dominated over all objectives (trial numbers)" if not x else "non-dominated"),
                       legend_all=len(scenarios) == 1, constraints=constraints)
    for ax in axes[len(pairs):]:
        ax.set_visible(False)
    axes[0].legend(loc="best", fontsize="small")
    heading = "; ".join(notes)
    fig.suptitle(f"{title}\n{heading}" if title else heading, fontsize="medium")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    return out


def pareto_html(frame: pd.DataFrame, objectives: list[tuple[str, str]], out: str | Path, *, title: str = "",
                searched: list[str] | None = None, constraints: list[str] | None = None) -> Path:
    """An interactive Pareto plot (plotly, the optional extra ``reram-dse[plots]``): one panel per pair of
    objectives in the units of ``DISPLAY``, points non-dominated over all objectives highlighted, and a
    hover over any point showing its trial number, the searched parameters and the objectives. One
    self-contained HTML file (plotly.js inside: it opens offline), written atomically."""
    try:
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots
    except ImportError:
        raise ValueError("an interactive plot needs plotly; pip install 'reram-dse[plots]'") from None
    from dse.atomic import write_atomic

    out = Path(out)
    if out.suffix.lower() != ".html":
        raise ValueError(f"{out}: an interactive plot is written as .html")
    directions = dict(objectives)
    pairs = [(b, a) if directions[a] == "maximize" and directions[b] == "minimize" else (a, b)
             for a, b in itertools.combinations(directions, 2)]
    if not pairs:
        raise ValueError("a Pareto plot needs at least two objectives")
    shown = [c for c in dict.fromkeys(["trial_number", "scenario", *(searched or []), *directions]) if c in frame]
    hover = "<br>".join(f"{c}: %{{customdata[{i}]}}" for i, c in enumerate(shown)) + "<extra></extra>"
    fig = make_subplots(rows=1, cols=len(pairs), horizontal_spacing=0.08)
    bounds = _bounds(constraints)
    on_front = frame["is_pareto"].to_numpy(bool) if "is_pareto" in frame else np.zeros(len(frame), bool)
    feasible = frame["feasible"].to_numpy(bool) if "feasible" in frame else np.ones(len(frame), bool)
    kinds = (("non-dominated over all objectives", on_front, 9, 1.0), ("dominated", feasible & ~on_front, 6, 0.35),
             ("infeasible", ~feasible, 6, 0.35))
    for col, (x, y) in enumerate(pairs, start=1):
        for name, mask, size, opacity in kinds:
            if not mask.any():
                continue
            part = frame[mask]
            fig.add_trace(go.Scatter(
                x=part[x] * display(x)[1], y=part[y] * display(y)[1], mode="markers", name=name,
                legendgroup=name, showlegend=col == 1, opacity=opacity,
                marker={"size": size, "symbol": "x" if name == "infeasible" else "circle",
                        "line": {"width": 1 if name.startswith("non") else 0}},
                customdata=part[shown].astype(str).to_numpy(), hovertemplate=hover), row=1, col=col)
        fig.update_xaxes(title_text=axis_label(x, directions[x]).replace("$^2$", "²"), row=1, col=col)
        fig.update_yaxes(title_text=axis_label(y, directions[y]).replace("$^2$", "²"), row=1, col=col)
        for metric, vertical in ((x, True), (y, False)):
            for bound in bounds.get(metric, []):
                value = bound * display(metric)[1]
                (fig.add_vline if vertical else fig.add_hline)(value, line_dash="dash", line_color="grey",
                                                               row=1, col=col)
    fig.update_layout(title=title, height=480, width=460 * len(pairs) + 120)
    html = fig.to_html(include_plotlyjs=True, full_html=True).encode()
    write_atomic(out, lambda handle: handle.write(html))
    return out
