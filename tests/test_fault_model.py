"""What a protection needs of the chip, and an imperfect test: test escapes, post-test failures, stuck-level
spread. The defaults reproduce the perfect-test results bit for bit."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dse.simulate.analog import chip_planes
from dse.simulate.chips import sample_chip_faults
from dse.cli import main as cli_main
from dse.config import AnalogEffects, FaultScenario, HardwareConfig, Protection
from dse.layout import plain_layout
from dse.mapping import map_network
from dse.simulate import chip_layers, evaluate
from dse.protection import PRESETS
from dse.protection.chip import ChipRepair
from dse.protection.duplication import plan_layer
from dse.protection.msb import embed_levels, quantize_embedded
from dse.workloads import load_workload
from kernels import SA0, SA1, apply_faults, pack_levels, sample_faults, slice_levels
from kernels.analog import cell_conductances

CHEN = dict(sa0_rate=0.0175, sa1_rate=0.0904)


@pytest.fixture(scope="module")
def mlp():
    return load_workload("mlp-digits")  # the shared data cache (RERAM_DSE_CACHE): trained and pruned once


# --- what a protection needs ------------------------------------------------------------------------

def test_needs_fault_map_is_declared_by_the_setting():
    free = ["none", "prune", "zero-space-paper", "zero-space-blind"]
    aware = ["compensate", "remap", "spare-cols", "zero-space"]  # spare-cols picks by the test (test-aware)
    assert [PRESETS[n].needs_fault_map for n in free] == [False] * len(free)
    assert [PRESETS[n].needs_fault_map for n in aware] == [True] * len(aware)
    assert Protection(dup_copies=3, vote="mean", msb_embed=1).needs_fault_map is False
    assert Protection(spare_cols=1, vote="median").needs_fault_map is False  # spares read blindly
    assert Protection(vote="test-aware").needs_fault_map is True


@pytest.mark.parametrize("preset, needs", [("zero-space", True), ("zero-space-paper", False)])
def test_eval_json_reports_whether_the_fault_map_is_needed(preset, needs, capsys):
    code = cli_main(["eval", "--workload", "mlp-digits", "--protect", preset, "--sa0", "0.0175",
                     "--sa1", "0.0904", "--chips", "1", "--max-test", "40", "--json"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["needs_fault_map"] is needs
    assert result["test_escape_rate"] == result["post_test_rate"] == result["stuck_level_spread"] == 0.0


# --- the defaults are today's chips, bit for bit -----------------------------------------------------

# Correct test samples (of 360) per chip, chips 0-2 at the Chen rates, measured with the code before the
# imperfect-test fields existed (commit 90e4e4e).
BEFORE = {
    "none": [45, 41, 40], "spare-cols": [134, 69, 70], "remap": [118, 96, 83],
    "zero-space-paper": [167, 97, 128], "compensate": [345, 348, 347], "zero-space": [350, 354, 352],
}


def correct(result) -> list[int]:
    return [round(a * 360) for a in result.accuracy_per_chip]


@pytest.mark.parametrize("preset", sorted(BEFORE))
def test_defaults_reproduce_the_perfect_test_results(mlp, preset):
    faults = FaultScenario(**CHEN, n_chips=3)
    explicit = faults.replace(test_escape_rate=0.0, post_test_rate=0.0, stuck_level_spread=0.0)
    assert explicit == faults and len(mlp.y_test) == 360
    assert correct(evaluate(mlp, HardwareConfig(), explicit, PRESETS[preset])) == BEFORE[preset]


@pytest.mark.parametrize("preset", ["none", "remap", "zero-space"])
def test_default_chips_are_the_fabrication_map_applied_as_before(mlp, preset):
    """The packed planes equal the composition the simulator used before: sample, apply, hook, pack."""
    hw = HardwareConfig()
    net = map_network(mlp, hw, PRESETS[preset])
    faults = FaultScenario(**CHEN, n_chips=2)
    for chip in range(2):
        layers = chip_layers(net, faults, chip, exact=False)  # packed planes, not the exact path's products
        for index, mapped in net.layers.items():
            fault_map = sample_faults(mapped.bitline_levels.shape, faults.sa0_rate, faults.sa1_rate,
                                      np.random.default_rng([faults.seed, chip, index]), rows=hw.rows)
            levels = apply_faults(mapped.bitline_levels, fault_map, hw.cell_bits)
            groups = mapped.groups
            if mapped.chip_hook is not None:
                levels, groups, _ = mapped.chip_hook(levels, fault_map)
            np.testing.assert_array_equal(layers[index].wp, pack_levels(levels, hw.rows, hw.cell_bits))
            assert layers[index].groups is groups or np.array_equal(layers[index].groups.pick, groups.pick)


# --- test escapes and post-test failures ---------------------------------------------------------------

def test_escapes_hide_stuck_cells_and_post_test_failures_add_them():
    shape = (256, 512)
    base = FaultScenario(**CHEN, seed=3)
    perfect = sample_chip_faults(shape, base, chip=1, layer=0, rows=128)
    assert perfect.known is perfect.actual and not perfect.unseen.any()

    leaky = sample_chip_faults(shape, base.replace(test_escape_rate=0.2), 1, 0, 128)
    np.testing.assert_array_equal(leaky.actual, perfect.actual)  # the chip is the same chip
    stuck = perfect.actual != 0
    assert not (leaky.known != 0)[~stuck].any()                       # the test reports no false alarm
    np.testing.assert_array_equal(leaky.known[leaky.known != 0], perfect.actual[leaky.known != 0])
    missed = (leaky.unseen != 0).sum() / stuck.sum()
    assert 0.18 < missed < 0.22

    late = sample_chip_faults(shape, base.replace(post_test_rate=0.05), 1, 0, 128)
    np.testing.assert_array_equal(late.known, perfect.actual)        # the test saw the fabrication faults
    np.testing.assert_array_equal(late.actual[stuck], perfect.actual[stuck])
    new = late.unseen
    assert not new[stuck].any()
    assert 0.045 < (new != 0).sum() / (~stuck).sum() < 0.055
    sa1_share = (new == SA1).sum() / (new != 0).sum()
    assert abs(sa1_share - 0.0904 / (0.0175 + 0.0904)) < 0.02       # the scenario's own SA0 : SA1 ratio


def test_a_test_that_misses_everything_makes_compensation_program_blind(mlp):
    """With every stuck cell escaping, compensation changes nothing: the chip is the unprotected chip."""
    hw = HardwareConfig()
    blind = FaultScenario(**CHEN, test_escape_rate=1.0)
    compensated = chip_layers(map_network(mlp, hw, PRESETS["compensate"]), blind, 0, exact=False)  # packed planes
    plain = chip_layers(map_network(mlp, hw, Protection()), FaultScenario(**CHEN), 0, exact=False)
    assert compensated.keys() == plain.keys()
    for index in plain:
        np.testing.assert_array_equal(compensated[index].wp, plain[index].wp)


def test_unseen_faults_follow_the_remapped_rows():
    rng = np.random.default_rng(0)
    ideal = rng.integers(0, 4, size=(8, 6)).astype(np.uint8)
    from kernels import BitlineGroups
    from kernels.vote import VOTE_FIRST

    groups = BitlineGroups(members=np.arange(6)[:, None], out=np.arange(6), coef=np.ones(6), vote=VOTE_FIRST)
    hook = ChipRepair(ideal=ideal, groups=groups, rows=8, cell_bits=2, row_weight=np.arange(8.0) + 1,
                      col_weight=np.ones(6), remap=True)
    known = np.zeros_like(ideal)
    known[7, :] = SA1  # the most important logical row (7) is pushed off physical row 7
    unseen = np.zeros_like(ideal)
    unseen[2, 4] = SA0  # physical cell (2, 4): missed by the test
    levels, _, fault_map = hook(apply_faults(ideal, known, 2), known, unseen=unseen)
    perm = hook.row_permutation(known)
    assert perm[7] != 7
    logical = int(np.flatnonzero(perm == 2)[0])  # the logical row that sits on physical row 2
    assert levels[logical, 4] == 0 and fault_map[logical, 4] == SA0
    np.testing.assert_array_equal(levels, apply_faults(ideal, fault_map, 2))  # no compensation: raw levels


def test_imperfect_tests_cost_the_fault_map_aware_presets_accuracy(mlp):
    hw, faults = HardwareConfig(), FaultScenario(**CHEN, n_chips=4)
    perfect = evaluate(mlp, hw, faults, PRESETS["zero-space"])
    escapes = evaluate(mlp, hw, faults.replace(test_escape_rate=0.2), PRESETS["zero-space"])
    late = evaluate(mlp, hw, faults.replace(post_test_rate=0.01), PRESETS["zero-space"])
    assert escapes.accuracy_mean < perfect.accuracy_mean - 0.02
    assert late.accuracy_mean < perfect.accuracy_mean - 0.01
    assert escapes.crossbars == perfect.crossbars


def test_escapes_do_not_touch_a_fault_map_free_protection(mlp):
    hw, faults = HardwareConfig(), FaultScenario(**CHEN, n_chips=2)
    blind = evaluate(mlp, hw, faults, PRESETS["zero-space-paper"], max_test=100)
    leaky = evaluate(mlp, hw, faults.replace(test_escape_rate=0.5), PRESETS["zero-space-paper"], max_test=100)
    np.testing.assert_array_equal(blind.accuracy_per_chip, leaky.accuracy_per_chip)


# --- stuck-level spread and programming variation ---------------------------------------------------------

def test_stuck_cells_spread_around_their_nominal_conductance():
    rng = np.random.default_rng(1)
    levels = rng.integers(0, 4, size=(200, 300)).astype(np.uint8)
    fault_map = sample_faults(levels.shape, 0.1, 0.3, rng)
    levels = apply_faults(levels, fault_map, 2)
    stuck = fault_map != 0
    nominal = cell_conductances(levels, stuck, 2, on_off_ratio=10.0)
    spread = cell_conductances(levels, stuck, 2, on_off_ratio=10.0, stuck_spread=0.1,
                               stuck_rng=np.random.default_rng(2))
    np.testing.assert_array_equal(spread[~stuck], nominal[~stuck])
    sa1 = fault_map == SA1
    relative = spread[sa1] / nominal[sa1] - 1
    assert abs(relative.mean()) < 0.005 and 0.095 < relative.std() < 0.105
    sa0 = fault_map == SA0
    assert abs((spread[sa0] / nominal[sa0] - 1).std() - 0.1) < 0.01  # relative to G_min, which is > 0 here
    with pytest.raises(ValueError, match="stuck_rng"):
        cell_conductances(levels, stuck, 2, stuck_spread=0.1)


def test_programming_variation_reaches_the_cells_compensation_reprograms(mlp):
    hw = HardwareConfig()
    mapped = map_network(mlp, hw, PRESETS["compensate"]).layers[0]
    faults = FaultScenario(**CHEN, stuck_level_spread=0.1)
    stuck = sample_chip_faults(mapped.bitline_levels.shape, faults, 0, 0, hw.rows)
    faulty = apply_faults(mapped.bitline_levels, stuck.actual, hw.cell_bits)
    levels, _, fault_map = mapped.chip_hook(faulty, stuck.actual)
    reprogrammed = (levels != faulty) & (fault_map == 0)
    assert reprogrammed.sum() > 1000 and levels.shape[0] <= hw.rows  # one row tile
    n_in, n_bl = levels.shape
    varied = chip_planes(levels, fault_map, hw, AnalogEffects(variation=0.05), faults.seed, 0, 0).g[0, :n_in, :n_bl]
    above = reprogrammed & (levels > 0)  # level 0 clips at zero conductance half the time
    assert (varied[above] != levels[above]).mean() > 0.99  # varied like any programmed cell
    np.testing.assert_array_equal(varied[fault_map != 0], levels[fault_map != 0])  # stuck: not programmed
    spread = chip_planes(levels, fault_map, hw, AnalogEffects(variation=0.05), faults.seed, 0, 0,
                         stuck_level_spread=0.1).g[0, :n_in, :n_bl]
    np.testing.assert_array_equal(spread[fault_map == 0], varied[fault_map == 0])  # own stream
    on = fault_map == SA1
    assert 0.08 < np.std(spread[on] / levels[on]) < 0.12


def test_stuck_level_spread_runs_the_analog_path_and_changes_the_chip(mlp):
    hw = HardwareConfig()
    net = map_network(mlp, hw, Protection())
    spread = chip_layers(net, FaultScenario(**CHEN, stuck_level_spread=0.2), 0)
    assert all(layer.analog is not None and layer.wp is None for layer in spread.values())
    none = evaluate(mlp, hw, FaultScenario(**CHEN, n_chips=2), Protection(), max_test=120)
    wide = evaluate(mlp, hw, FaultScenario(**CHEN, n_chips=2, stuck_level_spread=0.3), Protection(), max_test=120)
    assert not np.array_equal(none.accuracy_per_chip, wide.accuracy_per_chip)


# --- validation and flags --------------------------------------------------------------------------------

@pytest.mark.parametrize("field", ["test_escape_rate", "post_test_rate", "stuck_level_spread"])
def test_bad_values_name_the_field(field):
    with pytest.raises(ValueError, match=field):
        FaultScenario(**CHEN, **{field: 1.5})
    with pytest.raises(ValueError, match=field):
        FaultScenario(**CHEN, **{field: -0.1})


def test_post_test_failures_need_a_ratio():
    with pytest.raises(ValueError, match="post_test_rate.*sa0_rate : sa1_rate"):
        FaultScenario(post_test_rate=0.01)
    assert FaultScenario(sa0_rate=0.01, sa1_rate=0.03, post_test_rate=0.02).post_test_rates == \
        pytest.approx((0.005, 0.015))


def test_every_fault_scenario_field_has_its_flag():
    import argparse

    from dse.cli_options import add_fault_options

    parser = argparse.ArgumentParser()
    add_fault_options(parser)
    flags = {a.dest for a in parser._actions}
    assert {f.name for f in dataclasses.fields(FaultScenario)} <= flags
    args = parser.parse_args(["--test-escape-rate", "0.2", "--post-test-rate", "0.01", "--stuck-level-spread", "0.1"])
    assert (args.test_escape_rate, args.post_test_rate, args.stuck_level_spread) == (0.2, 0.01, 0.1)


# --- the paper's space budget ------------------------------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(full_in=st.integers(1, 300), full_out=st.integers(1, 80), keep_in=st.floats(0.1, 1.0),
       keep_out=st.floats(0.1, 1.0), rows=st.sampled_from([16, 64, 128]), cols=st.sampled_from([16, 64, 128]),
       cell_bits=st.integers(1, 4), mapping=st.sampled_from(["differential", "offset"]),
       copies=st.integers(1, 3), dup_slices=st.integers(0, 4), embed=st.booleans(),
       vote=st.sampled_from(["median", "mean", "test-aware"]), seed=st.integers(0, 2**16))
def test_no_copy_budget_exceeds_the_unpruned_crossbars(full_in, full_out, keep_in, keep_out, rows, cols,
                                                       cell_bits, mapping, copies, dup_slices, embed, vote, seed):
    hw = HardwareConfig(rows=rows, cols=cols, cell_bits=cell_bits, mapping=mapping)
    n_in, n_out = max(1, round(full_in * keep_in)), max(1, round(full_out * keep_out))
    embed = int(embed and hw.slices >= 2)
    rng = np.random.default_rng(seed)
    w = rng.integers(-(1 << (hw.weight_bits - 1)) + 1, 1 << (hw.weight_bits - 1), size=(n_in, n_out))
    if embed:  # the least significant slice left free
        w, _ = quantize_embedded(rng.normal(size=(n_in, n_out)), hw, 1)
    levels = slice_levels(w, hw.cell_bits, hw.weight_bits, hw.mapping)
    if embed:
        levels = embed_levels(levels, 1)
    unpruned = plain_layout("layer", full_in, full_out, hw).crossbars
    priority = rng.random(n_out)
    plans = {}
    for budget in ("pruned", "unpruned"):
        protection = Protection(dup_copies=copies, dup_slices=dup_slices, msb_embed=embed, vote=vote,
                                dup_budget=budget)
        plans[budget] = plan_layer("layer", levels, hw, protection, priority, budget_crossbars=unpruned)
        assert plans[budget].layout.crossbars <= unpruned
        assert plans[budget].layout.spare_crossbars == 0
    assert plans["pruned"].layout.crossbars == plain_layout("layer", n_in, n_out, hw).crossbars
    assert plans["unpruned"].dup_bitlines >= plans["pruned"].dup_bitlines
    # The pruned plan is the unpruned plan's prefix: a larger budget only appends copies.
    k = plans["pruned"].bitline_levels.shape[1]
    np.testing.assert_array_equal(plans["unpruned"].source[:k], plans["pruned"].source)


def test_unpruned_budget_fills_the_original_crossbars_with_costed_copies(mlp):
    hw = HardwareConfig()
    none = map_network(mlp, hw, Protection())
    pruned = map_network(mlp, hw, PRESETS["zero-space-paper"])
    unpruned = map_network(mlp, hw, PRESETS["zero-space-paper"].replace(dup_budget="unpruned"))
    copies = [sum(layout.copy_bitlines for layout in net.layouts) for net in (pruned, unpruned)]
    assert copies[1] > copies[0] and pruned.crossbars < unpruned.crossbars <= none.crossbars
    for mine, original in zip(unpruned.layouts, none.layouts):
        assert mine.crossbars <= original.crossbars and mine.spare_crossbars == 0
    from dse.cost import cost

    energy = [cost(net.layouts, hw).energy_pj for net in (pruned, unpruned)]
    assert energy[1] > energy[0]  # every copy is converted every cycle: it costs ADC energy


def test_eval_cli_dup_budget(capsys):
    def run(*flags):
        assert cli_main(["eval", "--workload", "mlp-digits", "--sa0", "0.0175", "--sa1", "0.0904", "--chips", "1",
                         "--max-test", "20", "--json", *flags]) == 0
        return json.loads(capsys.readouterr().out)

    none = run("--protect", "none")
    pruned = run("--protect", "zero-space-paper")
    unpruned = run("--protect", "zero-space-paper", "--dup-budget", "unpruned")
    assert unpruned["protect"]["dup_budget"] == "unpruned" and unpruned["needs_fault_map"] is False
    assert unpruned["extra_adc_conversions"] > pruned["extra_adc_conversions"]
    assert sum(l["copy_bitlines"] for l in unpruned["layers"]) > sum(l["copy_bitlines"] for l in pruned["layers"])
    assert unpruned["crossbars"] <= none["crossbars"]
    assert cli_main(["eval", "--workload", "mlp-digits", "--dup-budget", "all"]) == 2
    err = capsys.readouterr().err  # refused as a flag, naming it and the allowed values
    assert "--dup-budget" in err and "'pruned', 'unpruned'" in err and len(err.strip().splitlines()) == 1


def test_remapped_chips_keep_their_stuck_cells_exact_on_the_analog_path(mlp):
    """The analog model gets the fault map in the hook's row order: exactly the chip's SA1 cells sit at the
    top level; every healthy cell, moved or not, carries its programming variation."""
    hw = HardwareConfig()
    net = map_network(mlp, hw, PRESETS["remap"])
    faults = FaultScenario(**CHEN)
    layers = chip_layers(net, faults, 0, AnalogEffects(variation=0.05))
    for index, mapped in net.layers.items():
        n_in, n_bl = mapped.bitline_levels.shape
        g = np.concatenate([tile[:min(hw.rows, n_in - t * hw.rows), :n_bl]
                            for t, tile in enumerate(layers[index].analog.g)])
        stuck = sample_chip_faults((n_in, n_bl), faults, 0, index, hw.rows).actual
        assert (g == 3.0).sum() == (stuck == SA1).sum()


def test_dup_budget_and_the_imperfect_test_are_searched_and_fixed_like_any_field():
    from dse.study import StudyFileError, parse_study

    spec = parse_study({"study": {"workload": "mlp-digits"}, "faults": {"sa0_rate": 0.01, "sa1_rate": 0.04,
                                                                         "test_escape_rate": 0.05},
                        "search": {"dup_budget": ["pruned", "unpruned"], "vote": ["median", "mean"]}})
    assert [p.name for p in spec.search] == ["dup_budget", "vote"]
    assert spec.scenarios[0].faults.test_escape_rate == 0.05
    with pytest.raises(StudyFileError, match="dup_budget must be one of pruned, unpruned"):
        parse_study({"study": {"workload": "mlp-digits"}, "search": {"dup_budget": ["pruned", "everything"]}})
    with pytest.raises(StudyFileError, match="post_test_rate"):
        parse_study({"study": {"workload": "mlp-digits"}, "faults": {"post_test_rate": 0.01},
                     "search": {"vote": ["median", "mean"]}})


@pytest.mark.slow
def test_report_tables_split_by_fault_map_and_find_where_the_map_stops_paying(monkeypatch):
    import dse.experiments.report.protection as report
    from dse.experiments.report import TINY

    monkeypatch.setattr(report, "DIGITS", ("mlp-digits",))
    table = report._imperfect(TINY, ["compensate"]).splitlines()
    assert len(table) == 4 and table[2].startswith("| mlp-digits | `zero-space-blind` |")
    cells = [c.strip() for c in table[3].split("|")[1:-1]]
    assert cells[1] == "`compensate`"
    escapes = [float(c) for c in cells[2:6]]
    assert escapes[0] > escapes[-1]  # 20 % escapes cost compensation accuracy
    assert cells[6] == "never ahead" or cells[6].endswith("%")  # a 100 % escape rate is the unprotected chip
    schemes = report.readme_schemes(TINY)
    free, aware = schemes.index("*fault-map-free"), schemes.index("*needs a tested fault map")
    assert free < schemes.index("`zero-space-blind`") < aware < schemes.index("**zero-space**")
    assert "Best fault-map-free: mlp-digits `" in schemes and "best with a tested fault map: mlp-digits `" in schemes
