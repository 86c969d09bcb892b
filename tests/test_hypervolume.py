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
    assert ref[0] == 0.0 and ref[1] > 5e4 and ref[2] > 0.3   # a maximised fraction: its worst possible value
    assert 0.0 < hypervolume(rows, DIRS, IDEAL, ref) < 1.0


def test_a_reference_not_worse_than_the_ideal_is_refused():
    import pytest
    with pytest.raises(ValueError, match="worse than the ideal"):
        hypervolume(np.array([[0.5, 1.0, 1.0]]), DIRS, IDEAL, [1.0, 2e5, 0.4])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(*(st.floats(0, 1),) * 3), min_size=1, max_size=20))
def test_matches_a_grid_count(rows):
    """moocore against a brute-force count of grid cells dominated in the unit box."""
    values = np.array(rows)
    axis = (np.arange(40) + 0.5) / 40
    grid = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), -1).reshape(-1, 3)
    covered = np.zeros(len(grid), bool)
    for p in values:
        covered |= np.all(grid >= p, axis=1)
    hv = hypervolume(values, ["minimize"] * 3, [0.0] * 3, [1.0] * 3)
    assert abs(hv - covered.mean()) < 0.08


# ------------------------------------------------------------------ in studies: a box fixed per study

import json  # noqa: E402

import pytest  # noqa: E402

from dse import cli  # noqa: E402
from dse.study.parse import parse_study  # noqa: E402
from dse.study.spec import StudyFileError  # noqa: E402
from dse.study.results import read_metadata  # noqa: E402
from test_study import STUDY, run_tiny  # noqa: E402


def test_show_json_prints_a_hypervolume_in_the_unit_interval_that_never_falls_on_resume(tmp_path, capsys):
    run_tiny(tmp_path, STUDY.replace("trials = 8", "trials = 4"))
    folder = tmp_path / "results" / "tiny"
    box = read_metadata(folder)["hypervolume"]
    assert box["source"] == "trial 0" and box["reference"][0] == 0.0  # accuracy_mean: its worst value
    assert cli.main(["show", "--json", str(folder)]) == 0
    first = json.loads(capsys.readouterr().out)
    assert 0.0 < first["hypervolume"] <= 1.0
    run_tiny(tmp_path, STUDY.replace("trials = 8", "trials = 12"))
    assert read_metadata(folder)["hypervolume"] == box  # the box is kept
    assert cli.main(["show", "--json", str(folder)]) == 0
    later = json.loads(capsys.readouterr().out)
    assert later["scenarios"][0]["completed"] == 12 and later["hypervolume"] >= first["hypervolume"]


def test_a_declared_box_is_used(tmp_path, capsys):
    text = STUDY + """
[hypervolume]
reference = { accuracy_mean = 0.5, energy_pj = 1e12, area_mm2 = 1e6 }
"""
    run_tiny(tmp_path, text.replace("trials = 8", "trials = 3"))
    folder = tmp_path / "results" / "tiny"
    box = read_metadata(folder)["hypervolume"]
    assert box["source"] == "study file" and box["reference"] == [0.5, 1e12, 1e6] and box["ideal"] == [1.0, 0.0, 0.0]
    assert cli.main(["show", str(folder)]) == 0
    assert "hypervolume 0." in capsys.readouterr().out


@pytest.mark.parametrize("table, key", [
    ("[hypervolume]\nref = {}\n", "hypervolume.ref"),
    ("[hypervolume]\nreference = { accuracy_mean = 0.0 }\n", "hypervolume.reference"),
    ("[hypervolume]\nreference = { accuracy_mean = 0.0, energy_pj = 'big', area_mm2 = 1.0 }\n",
     "hypervolume.reference.energy_pj"),
    ("[hypervolume]\nreference = { accuracy_mean = 1.5, energy_pj = 1e9, area_mm2 = 1.0 }\n",
     "hypervolume.reference.accuracy_mean"),
    ("[hypervolume]\nreference = { accuracy_mean = 0.0, energy_pj = -1.0, area_mm2 = 1.0 }\n",
     "hypervolume.reference.energy_pj"),
])
def test_bad_boxes_are_refused_naming_the_key(table, key):
    import tomllib
    with pytest.raises(StudyFileError, match=key.replace(".", r"\.")):
        parse_study(tomllib.loads(STUDY + table))
