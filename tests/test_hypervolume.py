"""Hypervolume against a fixed box: bounded, monotone, blind to dominated points (hypothesis)."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings, strategies as st

from dse.hypervolume import default_ideal, default_reference, hypervolume

DIRS = ["maximize", "minimize", "minimize"]        # accuracy_mean, energy_pj, area_mm2
IDEAL = default_ideal(DIRS)
REF = [0.0, 2e5, 0.4]

point = st.tuples(st.floats(0.0, 1.0), st.floats(1e3, 3e5), st.floats(0.01, 0.6))
points = st.lists(point, min_size=1, max_size=12)


def hv(rows) -> float:
    return hypervolume(np.array(rows, dtype=float), DIRS, IDEAL, REF)


def test_known_volumes():
    assert hv([[1.0, 0.0, 0.0]]) == 1.0                       # the ideal dominates the whole box
    assert hv([[0.5, 1e5, 0.2]]) == 0.125                      # half of each axis
    assert hv([[0.5, 1e5, 0.2], [0.5, 1e5, 0.2]]) == 0.125     # a repeated design adds nothing
    assert hv([[0.9, 3e5, 0.1]]) == 0.0                        # worse than the reference in energy
    assert hv(np.zeros((0, 3))) == 0.0
    assert hv([[np.nan, 1e5, 0.2]]) == 0.0                     # a failed measurement dominates nothing


@settings(max_examples=150, deadline=None)
@given(points)
def test_bounded(rows):
    assert 0.0 <= hv(rows) <= 1.0


@settings(max_examples=150, deadline=None)
@given(points, point)
def test_adding_a_point_never_lowers_it(rows, extra):
    assert hv(rows + [extra]) >= hv(rows) - 1e-12


@settings(max_examples=150, deadline=None)
@given(points, st.integers(0, 11), st.floats(0.0, 1.0), st.floats(0.0, 1e5), st.floats(0.0, 0.3))
def test_a_dominated_point_changes_nothing(rows, pick, d_acc, d_energy, d_area):
    acc, energy, area = rows[pick % len(rows)]
    dominated = (acc - d_acc, energy + d_energy, area + d_area)
    assert abs(hv(rows + [dominated]) - hv(rows)) < 1e-12


@settings(max_examples=150, deadline=None)
@given(points, st.integers(0, 11))
def test_a_dominating_point_never_lowers_it(rows, pick):
    acc, energy, area = rows[pick % len(rows)]
    assert hv(rows + [(min(1.0, acc + 0.01), energy * 0.9, area * 0.9)]) >= hv(rows) - 1e-12


def test_default_reference_lies_beyond_every_first_point():
    rows = np.array([[0.9, 1e4, 0.1], [0.5, 5e4, 0.3]])
    ref = default_reference(rows, DIRS, IDEAL)
    assert ref[0] < 0.5 and ref[1] > 5e4 and ref[2] > 0.3
    assert 0.0 < hypervolume(rows, DIRS, IDEAL, ref) < 1.0


def test_a_reference_not_worse_than_the_ideal_is_refused():
    import pytest
    with pytest.raises(ValueError, match="worse than the ideal"):
        hypervolume(np.array([[0.5, 1.0, 1.0]]), DIRS, IDEAL, [1.0, 2e5, 0.4])
