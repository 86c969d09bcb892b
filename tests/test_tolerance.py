"""Fault tolerance: votes and MSB decoding on hand-made fault maps, compensation, remapping, pruning,
crossbar counts, presets, and the headline numbers on mlp-digits."""
from __future__ import annotations

import itertools
import pickle

import numpy as np
import pytest

from dse.config import FaultScenario, HardwareConfig, Protection
from dse.mapping import map_network
from dse.simulate import evaluate
from dse.experiments.tolerance import tolerance_rates
from dse.protection import PRESETS
from dse.pruning import prune
from dse.pruning import sequential as pruning_module
from dse.protection.chip import ChipRepair, recode
from dse.protection.duplication import plan_layer
from dse.protection.msb import check_embed, embed_levels, quantize_embedded
from dse.pruning.sequential import feeder_matrix
from dse.workloads import load_workload
from dse.workloads.data import Splits
from dse.workloads.layers import Linear, ReLU
from dse.workloads.workload import Workload
from dse.experiments import CHEN2015 as CHEN
from kernels import SA0, SA1, apply_faults, mvm_int, pack_levels, slice_levels

# 8 rows x 3 levels x 1-bit DAC: full scale 24, so an 8-bit ADC is lossless (step 1).
SMALL = HardwareConfig(rows=8, cols=32, cols_per_adc=32, adc_bits=8)


@pytest.fixture(autouse=True)
def _cache(request, monkeypatch):
    """Pruning caches in pytest's own cache folder, which survives between runs (trains once)."""
    monkeypatch.setenv("RERAM_DSE_CACHE", str(request.config.cache.mkdir("reram-dse-tolerance")))


@pytest.fixture(scope="module")
def mlp(request):
    return load_workload("mlp-digits", cache_dir=request.config.cache.mkdir("reram-dse-workloads"))


def small_layer(seed: int = 0, n_in: int = 12, n_out: int = 3):
    rng = np.random.default_rng(seed)
    w = rng.integers(-127, 128, size=(n_in, n_out))
    x = rng.integers(0, 256, size=(5, n_in))
    return w, x


def run(levels, groups, x, n_out, hw=SMALL):
    """The kernel on physical levels (in, B): integer-domain outputs (batch, n_out)."""
    y, _ = mvm_int(x, pack_levels(levels, hw.rows, hw.cell_bits), groups, n_out, rows=hw.rows,
                   input_bits=hw.input_bits, dac_bits=hw.dac_bits, cell_bits=hw.cell_bits, signed_inputs=False,
                   adc_bits=hw.adc_bits, step=1.0, mapping=hw.mapping, weight_bits=hw.weight_bits)
    return y


def plan(w, protection, hw=SMALL, priority=None):
    levels = slice_levels(w, hw.cell_bits, hw.weight_bits, hw.mapping)
    if protection.msb_embed:
        levels = embed_levels(levels, protection.msb_embed)
    priority = np.ones(w.shape[1]) if priority is None else priority
    return plan_layer("layer", levels, hw, protection, priority)


def msb_bitlines(p, a: int, j: int, hw=SMALL) -> list[int]:
    """Members of the group of (array a, top slice, column j)."""
    s_top = hw.slices - 1
    for g in range(len(p.groups.out)):
        members = p.groups.members[g]
        first = members[0]
        if p.groups.out[g] == j and tuple(p.source[first]) == (a, s_top, j):
            return [int(b) for b in members if b >= 0]
    raise AssertionError("no such group")


def repair(p, **flags) -> ChipRepair:
    n_in = p.bitline_levels.shape[0]
    return ChipRepair(ideal=p.bitline_levels, groups=p.groups, rows=SMALL.rows, cell_bits=SMALL.cell_bits,
                      row_weight=np.ones(n_in), col_weight=np.ones(len(np.unique(p.groups.out))), **flags)


# --- voting on hand-made fault maps ------------------------------------------------------------------

@pytest.mark.parametrize("fault", [SA0, SA1])
@pytest.mark.parametrize("copy", [0, 1, 2])
def test_median_of_three_ignores_a_stuck_msb_cell_in_one_copy(fault, copy):
    w, x = small_layer()
    p = plan(w, Protection(dup_copies=3, dup_slices=1, vote="median"))
    members = msb_bitlines(p, a=0, j=1)
    assert len(members) == 3
    faults = np.zeros_like(p.bitline_levels)
    faults[:, members[copy]] = fault  # the whole bit line of one copy stuck: the worst single-copy case
    y = run(apply_faults(p.bitline_levels, faults, 2), p.groups, x, w.shape[1])
    np.testing.assert_array_equal(y, x @ w)
    # Without the copies the same faults do change the output.
    plain = plan(w, Protection())
    faults_plain = np.zeros_like(plain.bitline_levels)
    faults_plain[:, msb_bitlines(plain, 0, 1)[0]] = fault
    assert not np.array_equal(run(apply_faults(plain.bitline_levels, faults_plain, 2), plain.groups, x, 3), x @ w)


@pytest.mark.parametrize("copy", [0, 1])
def test_test_aware_vote_reads_the_healthy_copy(copy):
    w, x = small_layer(1)
    p = plan(w, Protection(dup_copies=2, dup_slices=2, vote="test-aware"))
    members = msb_bitlines(p, a=1, j=0)
    faults = np.zeros_like(p.bitline_levels)
    faults[3, members[copy]] = SA1
    faulty = apply_faults(p.bitline_levels, faults, 2)
    levels, groups, _ = repair(p, test_aware=True)(faulty, faults)
    np.testing.assert_array_equal(run(levels, groups, x, w.shape[1]), x @ w)
    # Reading the faulty copy instead (the blind default, member 0) is wrong when the original is hit.
    if copy == 0:
        assert not np.array_equal(run(faulty, p.groups, x, w.shape[1]), x @ w)


def test_mean_of_two_averages_copies():
    w, x = small_layer(2)
    p = plan(w, Protection(dup_copies=2, dup_slices=1, vote="mean"))
    members = msb_bitlines(p, a=0, j=2)
    levels = p.bitline_levels.copy()
    levels[:, members[1]] = 0  # the copy reads nothing: the mean is half the MSB contribution
    y = run(levels, p.groups, x, 3)
    msb = (levels[:, members[0]].astype(np.int64) * 4 ** (SMALL.slices - 1))
    np.testing.assert_array_equal(y[:, 2], (x @ w)[:, 2] - 0.5 * x @ msb)


# --- MSB embedding -------------------------------------------------------------------------------------

def test_embedding_quantises_to_free_the_lsb_slice_and_decodes_exactly():
    rng = np.random.default_rng(3)
    w_float = rng.normal(size=(10, 4))
    w_int, scale = quantize_embedded(w_float, SMALL, 1)
    assert (w_int % 4 == 0).all() and np.abs(w_int).max() == 124  # 8-bit weights, 2-bit cells: q = 4
    np.testing.assert_allclose(w_int * scale, w_float, atol=2.0 * scale.max())
    levels = slice_levels(w_int, 2, 8, "differential")
    assert not levels[:, 0].any()  # the LSB cells are free ...
    embedded = embed_levels(levels, 1)
    np.testing.assert_array_equal(embedded[:, 0], levels[:, 3])  # ... and now hold the MSB copy
    x = rng.integers(0, 256, size=(6, 10))
    for vote in ("median", "mean", "test-aware"):
        p = plan(w_int, Protection(msb_embed=1, vote=vote))
        assert p.layout.bitlines == 2 * 4 * 4 and p.layout.copy_bitlines == 2 * 4  # no extra bit line
        np.testing.assert_array_equal(run(p.bitline_levels, p.groups, x, 4), x @ w_int)


@pytest.mark.parametrize("stuck_copy", [0, 1])
def test_embedded_msb_with_a_stuck_cell_decodes_exactly_with_test_aware_or_compensation(stuck_copy):
    rng = np.random.default_rng(4)
    w_int, _ = quantize_embedded(rng.normal(size=(8, 3)), SMALL, 1)
    x = rng.integers(0, 256, size=(6, 8))
    for vote, flags in (("test-aware", dict(test_aware=True)), ("mean", dict(compensate=True))):
        p = plan(w_int, Protection(msb_embed=1, vote=vote))
        members = msb_bitlines(p, a=0, j=0)
        assert len(members) == 2 and p.source[members[1]][1] == SMALL.slices - 1
        faults = np.zeros_like(p.bitline_levels)
        faults[2, members[stuck_copy]] = SA1
        faulty = apply_faults(p.bitline_levels, faults, 2)
        if vote == "mean" or stuck_copy == 0:  # a blind read of the faulty copy is wrong
            assert not np.array_equal(run(faulty, p.groups, x, 3), x @ w_int)
        levels, groups, _ = repair(p, **flags)(faulty, faults)
        np.testing.assert_array_equal(run(levels, groups, x, 3), x @ w_int)


def test_embedding_needs_two_slices_per_copy():
    check_embed(SMALL, 2)  # 4 slices: two can be embedded
    with pytest.raises(ValueError, match="msb_embed = 3"):
        check_embed(SMALL, 3)
    with pytest.raises(ValueError, match="msb_embed"):
        check_embed(SMALL.replace(cell_bits=4), 2)


# --- compensation ---------------------------------------------------------------------------------

def test_recode_finds_the_best_representable_value():
    """Greedy recoding against brute force over all 4**8 programs of one differential weight."""
    rng = np.random.default_rng(5)
    alpha = np.array([sign * 4**s for sign in (1, -1) for s in range(4)], dtype=np.float64)
    n = 200
    target = rng.integers(-127, 128, n).astype(np.float64)
    u = rng.random((n, 8))
    fixed = u < 0.3
    fixed_level = np.where(u < 0.06, 0, 3)
    levels, residual = recode(target, np.broadcast_to(alpha, (n, 8)), fixed, fixed_level, 3)
    assert (levels[fixed] == fixed_level[fixed]).all() and levels.min() >= 0 and levels.max() <= 3
    np.testing.assert_array_equal(target - levels @ alpha, residual)
    programs = np.array(list(itertools.product(range(4), repeat=8)))
    values = programs @ alpha
    for k in range(n):
        allowed = ((programs == fixed_level[k]) | ~fixed[k]).all(axis=1)
        assert abs(residual[k]) == np.abs(values[allowed] - target[k]).min()


def test_stuck_on_cell_is_cancelled_in_the_partner_array():
    w = np.array([[5]])
    p = plan(w, Protection())
    faults = np.zeros_like(p.bitline_levels)
    pos_msb = msb_bitlines(p, a=0, j=0)[0]
    neg_msb = msb_bitlines(p, a=1, j=0)[0]
    faults[0, pos_msb] = SA1  # +3 * 64 = +192 on a weight of 5
    faulty = apply_faults(p.bitline_levels, faults, 2)
    levels, groups, _ = repair(p, compensate=True)(faulty, faults)
    assert levels[0, pos_msb] == 3 and levels[0, neg_msb] == 3  # the negative array cancels it
    x = np.array([[200]])
    assert run(faulty, groups, x, 1)[0, 0] == 200 * (5 + 192)
    assert run(levels, groups, x, 1)[0, 0] == 200 * 5


def test_compensation_keeps_every_stuck_cell_and_shrinks_the_error():
    w, x = small_layer(6, n_in=20, n_out=6)
    p = plan(w, Protection(dup_copies=2, dup_slices=2, vote="mean"))
    rng = np.random.default_rng(7)
    u = rng.random(p.bitline_levels.shape)
    faults = np.where(u < 0.03, SA0, np.where(u < 0.2, SA1, 0)).astype(np.uint8)
    faulty = apply_faults(p.bitline_levels, faults, 2)
    levels, groups, _ = repair(p, compensate=True)(faulty, faults)
    assert (levels[faults == SA0] == 0).all() and (levels[faults == SA1] == 3).all()
    error_before = np.abs(run(faulty, groups, x, 6) - x @ w).sum()
    error_after = np.abs(run(levels, groups, x, 6) - x @ w).sum()
    assert error_after < 0.1 * error_before


def test_compensation_refuses_a_median_of_three():
    p = plan(small_layer()[0], Protection(dup_copies=3, vote="median"))
    with pytest.raises(ValueError, match="linear vote"):
        repair(p, compensate=True)


# --- remapping ----------------------------------------------------------------------------------------

def test_remap_moves_the_important_row_off_a_stuck_word_line():
    w = np.zeros((8, 2), dtype=np.int64)
    w[0] = [100, -90]  # the only row that matters, on physical row 0 ...
    p = plan(w, Protection())
    faults = np.zeros_like(p.bitline_levels)
    faults[0, :] = SA0  # ... whose cells are all stuck OFF
    hook = repair(p, remap=True)
    perm = hook.row_permutation(faults)
    assert sorted(perm) == list(range(8)) and perm[0] != 0
    levels, groups, moved = hook(apply_faults(p.bitline_levels, faults, 2), faults)
    x = np.full((1, 8), 7)
    # Row 0 lands on a healthy word line; the all-zero row moved onto row 0 loses nothing (SA0 reads 0).
    np.testing.assert_array_equal(run(levels, groups, x, 2), x @ w)
    # The fault map comes back in the row order of the levels (the analog path reads stuck cells from it).
    np.testing.assert_array_equal(moved, faults[perm])
    assert (levels[moved == SA0] == 0).all() and moved[perm == 0].all()


# --- layout: zero space means zero extra crossbars ------------------------------------------------

def test_copies_fill_only_the_free_columns_in_priority_order():
    w, _ = small_layer(8, n_in=12, n_out=3)  # 3 columns x 4 slices x 2 arrays = 24 of 32 bit lines
    p = plan(w, Protection(dup_copies=3, dup_slices=2, vote="mean"), priority=np.array([1.0, 5.0, 2.0]))
    # Two row tiles of one crossbar each, as without copies; 8 free bit lines per tile.
    assert p.layout.crossbars == 2 and p.layout.bitlines == 32 and p.dup_bitlines == 8
    # A copy of one (slice, column) takes 2 bit lines (both arrays). Priority = importance * 4**slice:
    # column 1's MSB (5 * 64) gets both copies, then column 2's MSB (2 * 64 beats column 1's next slice,
    # 5 * 16); column 0 gets nothing.
    assert [len(msb_bitlines(p, 0, j)) for j in range(3)] == [1, 3, 3]
    assert (p.source[24:] == [[0, 3, 1], [1, 3, 1], [0, 3, 1], [1, 3, 1],
                              [0, 3, 2], [1, 3, 2], [0, 3, 2], [1, 3, 2]]).all()


def test_spare_columns_cost_crossbars_and_report_them():
    w, _ = small_layer(9, n_in=8, n_out=4)  # 32 bit lines: one full crossbar
    p = plan(w, Protection(spare_cols=1, vote="test-aware"))
    assert p.layout.crossbars == 2 and p.layout.spare_crossbars == 1 and p.spare_bitlines == 8
    zero_space = plan(w // 4 * 4, Protection(dup_copies=3, msb_embed=1, vote="mean"))
    assert zero_space.layout.crossbars == 1 and zero_space.layout.spare_crossbars == 0


ZERO_SPACE = [
    PRESETS["zero-space"],
    PRESETS["zero-space-paper"],
    Protection(row_prune=0.3, col_prune=0.3, dup_copies=3, dup_slices=4, vote="mean"),
    Protection(row_prune=0.5, col_prune=0.2, prune_method="magnitude", dup_copies=3, msb_embed=2, vote="test-aware"),
]


@pytest.mark.parametrize("protection", ZERO_SPACE)
def test_zero_space_protection_never_adds_a_crossbar(mlp, protection):
    pruned_only = Protection(row_prune=protection.row_prune, col_prune=protection.col_prune,
                             prune_method=protection.prune_method)
    hw = HardwareConfig()
    protected, plain = map_network(mlp, hw, protection), map_network(mlp, hw, pruned_only)
    assert protected.crossbars == plain.crossbars < map_network(mlp, hw).crossbars
    assert sum(layout.copy_bitlines for layout in protected.layouts) > 0
    assert all(layout.spare_crossbars == 0 for layout in protected.layouts)


# --- pruning ----------------------------------------------------------------------------------------

def tiny_workload(seed: int = 0) -> Workload:
    rng = np.random.default_rng(seed)
    layers = [Linear(rng.normal(size=(20, 16)) * 0.3, np.zeros(16), name="fc1"), ReLU(),
              Linear(rng.normal(size=(16, 12)) * 0.3, np.zeros(12), name="fc2"), ReLU(),
              Linear(rng.normal(size=(12, 3)) * 0.3, np.zeros(3), name="fc3")]
    x = rng.uniform(0, 1, size=(120, 20))
    y = (x[:, :3].argmax(axis=1)).astype(np.int64)
    return Workload.from_splits("tiny", layers, (20,), Splits(x[:80], y[:80], x[80:100], y[80:100], x[100:], y[100:]))


@pytest.mark.parametrize("method", ["magnitude", "gates"])
def test_pruning_is_structured_and_consistent_across_layers(method):
    recipe = pruning_module.PruneRecipe(gate_epochs=2, finetune_epochs=2)
    result = prune(tiny_workload(), {"fc1": 0.25, "fc2": 0.5, "fc3": 0.5}, 0.25, method,
                   recipe=recipe, use_cache=False)
    rows, cols = result.keep_rows, result.keep_cols
    assert [len(rows[i]) for i in (0, 2, 4)] == [15, 8, 6]  # fc2: 12 live of 16, then 8 by its own target
    assert [len(cols[i]) for i in (0, 2, 4)] == [12, 9, 3]  # the classes are all kept
    assert set(rows[2]) <= set(cols[0]) and set(rows[4]) <= set(cols[2])  # no row fed by a pruned column
    for i in (0, 2, 4):
        matrix = result.workload.layers[i].matrix()
        dead_rows = np.setdiff1d(np.arange(matrix.shape[0]), rows[i])
        dead_cols = np.setdiff1d(np.arange(matrix.shape[1]), cols[i])
        assert not matrix[dead_rows].any() and not matrix[:, dead_cols].any()
        assert not result.workload.layers[i].bias[dead_cols].any()


def test_pruning_is_deterministic_and_cached(tmp_path, monkeypatch):
    recipe = pruning_module.PruneRecipe(gate_epochs=2, finetune_epochs=2)
    first = prune(tiny_workload(), 0.3, 0.3, "gates", recipe=recipe, cache_dir=tmp_path)
    again = prune(tiny_workload(), 0.3, 0.3, "gates", recipe=recipe, use_cache=False)
    for a, b in zip(first.workload.layers, again.workload.layers):
        for key in a.params:
            np.testing.assert_array_equal(a.params[key], b.params[key])
    monkeypatch.setattr(pruning_module, "_prune_layers", lambda *args: pytest.fail("cache miss"))
    cached = prune(tiny_workload(), 0.3, 0.3, "gates", recipe=recipe, cache_dir=tmp_path)
    np.testing.assert_array_equal(cached.workload.layers[0].weight, first.workload.layers[0].weight)
    assert all(np.array_equal(cached.keep_cols[i], first.keep_cols[i]) for i in first.keep_cols)
    with pytest.raises(ValueError, match="row_prune"):
        prune(tiny_workload(), 0.95, 0.0)


def test_feeders_follow_convolutions_and_flatten(request):
    cnn = load_workload("cnn-digits", cache_dir=request.config.cache.mkdir("reram-dse-workloads"))
    conv1_to_conv2 = feeder_matrix(cnn, 0, 3)  # conv1 channel c -> its 9 taps among conv2's 144 rows
    assert conv1_to_conv2.shape == (16, 144) and (conv1_to_conv2.sum(axis=1) == 9).all()
    assert conv1_to_conv2[2, 18:27].all()
    conv2_to_fc = feeder_matrix(cnn, 3, 7)  # conv2 channel c -> its 2 x 2 pooled positions after flatten
    assert conv2_to_fc.shape == (32, 128) and (conv2_to_fc.sum(axis=1) == 4).all() and conv2_to_fc[1, 4:8].all()


def test_pruning_30_percent_costs_under_one_point_on_mlp_digits(mlp):
    hw = HardwareConfig()
    dense = evaluate(mlp, hw, FaultScenario(n_chips=1), Protection())
    pruned = evaluate(mlp, hw, FaultScenario(n_chips=1), PRESETS["prune"])
    assert pruned.ideal_accuracy > dense.ideal_accuracy - 0.01
    assert pruned.crossbars < dense.crossbars


# --- the headline: accuracy at the measured fault rates ----------------------------------------------

def test_zero_space_recovers_the_accuracy_at_chen_rates_on_mlp_digits(mlp):
    hw, faults = HardwareConfig(), FaultScenario(**CHEN, n_chips=16)
    none = evaluate(mlp, hw, faults, Protection())
    zero = evaluate(mlp, hw, faults, PRESETS["zero-space"])
    prune_only = evaluate(mlp, hw, FaultScenario(n_chips=1), PRESETS["prune"])
    assert none.accuracy_mean < 0.5  # the faults are devastating unprotected ...
    assert zero.accuracy_mean > none.ideal_accuracy - 0.03  # ... and zero space recovers them
    assert zero.crossbars == prune_only.crossbars


def test_presets_are_named_and_the_hooks_travel_to_worker_processes(mlp):
    assert {"none", "prune", "spare-cols", "remap", "zero-space"} <= set(PRESETS)
    assert PRESETS["none"].is_none and PRESETS["zero-space"].spare_cols == 0
    net = map_network(mlp, HardwareConfig(), PRESETS["zero-space"])
    hook = pickle.loads(pickle.dumps(net.layers[0].chip_hook))
    faults = (np.random.default_rng(0).random(net.layers[0].bitline_levels.shape) < 0.1).astype(np.uint8) * SA1
    faulty = apply_faults(net.layers[0].bitline_levels, faults, 2)
    np.testing.assert_array_equal(hook(faulty, faults)[0], net.layers[0].chip_hook(faulty, faults)[0])


@pytest.mark.slow
def test_tolerated_fault_rate_grows_with_protection(mlp):
    hw = HardwareConfig()
    none = tolerance_rates(mlp, hw, Protection(), n_chips=8, refine=2)
    zero = tolerance_rates(mlp, hw, PRESETS["zero-space"], n_chips=8, refine=2)
    for drop in (0.01, 0.05):
        assert zero.rates[drop] > 10 * none.rates[drop]
    assert none.rates[0.01] <= none.rates[0.05]
