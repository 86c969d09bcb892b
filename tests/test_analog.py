"""Analog non-idealities (issue 9): the float path equals the integer path with every effect at zero,
each effect has the magnitude it is given, chips are seeded per chip, bad values fail early."""
import json
import math
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dse.simulate.analog import chip_planes
from dse.cli import main
from dse.config import AnalogEffects, FaultScenario, HardwareConfig
from dse.mapping import map_network
from dse.simulate import ChipLayer, chip_layers, evaluate, run_network
from kernels import (
    VOTE_MODES,
    BitlineGroups,
    apply_faults,
    calibrated_step,
    full_range_step,
    full_scale,
    mvm_int,
    pack_levels,
    plain_bitlines,
    sample_faults,
    slice_levels,
)
from kernels.analog import (
    adc_layout,
    analog_planes,
    cell_conductances,
    g_min_steps,
    inl_table,
    mvm_float,
    sample_adcs,
)
from kernels.dac import cycle_weights, input_chunks
from kernels.flip import flipped_levels
from kernels.rng import standard_normals
from tests.test_simulate import tiny_workload

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def layers(draw):
    """A random layer: config, integer inputs and faulty bit lines with plain or voted groups."""
    signed = draw(st.booleans())
    cfg = dict(rows=draw(st.sampled_from([3, 16, 64, 100, 128])), cell_bits=draw(st.integers(1, 4)),
               input_bits=draw(st.one_of(st.integers(1, 8), st.sampled_from([12, 16]))), dac_bits=1 if signed else draw(st.integers(1, 3)),
               mapping=draw(st.sampled_from(["differential", "offset"])), signed_inputs=signed, weight_bits=8)
    fs = full_scale(cfg["rows"], cfg["cell_bits"], cfg["dac_bits"])
    cfg["adc_bits"] = draw(st.integers(2, math.ceil(math.log2(fs + 1)) + 1))
    adc_range = draw(st.sampled_from(["full", "calibrated", "clip"]))
    cfg["step"] = {"calibrated": lambda: calibrated_step(draw(st.floats(1, fs)), cfg["adc_bits"]),
                   "clip": lambda: 1.0,
                   "full": lambda: float(full_range_step(cfg["rows"], cfg["cell_bits"], cfg["dac_bits"],
                                                         cfg["adc_bits"]))}[adc_range]()
    n_in, n_out, batch = draw(st.integers(1, 300)), draw(st.integers(1, 6)), draw(st.integers(1, 5))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    w = rng.integers(-127, 128, (n_in, n_out))
    ib = cfg["input_bits"]
    x = (rng.integers(-(1 << (ib - 1)), max(1, 1 << (ib - 1)), (batch, n_in)) if signed
         else rng.integers(0, 1 << ib, (batch, n_in)))
    levels = slice_levels(w, cfg["cell_bits"], 8, cfg["mapping"])
    levels = apply_faults(levels, sample_faults(levels.shape, 0.05, 0.1, rng), cfg["cell_bits"])
    bitlines, groups = plain_bitlines(levels, cfg["cell_bits"], cfg["mapping"])
    vote = draw(st.sampled_from(["none"] + list(VOTE_MODES)))
    if vote != "none":  # every bit line gets copies (each with its own faults) and a vote
        copies = 3 if vote in ("median", "first") else 2
        n_bl = bitlines.shape[1]
        copy_levels = [bitlines] + [apply_faults(bitlines, sample_faults(bitlines.shape, 0.05, 0.1, rng),
                                                 cfg["cell_bits"]) for _ in range(copies - 1)]
        bitlines = np.concatenate(copy_levels, axis=1)
        members = np.stack([np.arange(n_bl) + c * n_bl for c in range(copies)], axis=1).astype(np.int64)
        pick = rng.integers(0, copies, (-(-n_in // cfg["rows"]), n_bl))
        groups = BitlineGroups(members, groups.out, groups.coef, VOTE_MODES[vote], pick)
    if draw(st.booleans()):  # some bit lines read as complements (weight flipping), random per row tile
        groups = replace(groups, flip=rng.random((-(-n_in // cfg["rows"]), bitlines.shape[1])) < 0.5)
    return cfg, x, bitlines, groups, n_out


def _kernel_args(cfg):
    return {k: cfg[k] for k in ("rows", "input_bits", "dac_bits", "cell_bits", "signed_inputs", "adc_bits",
                                "step", "mapping", "weight_bits")}


@SETTINGS
@given(layers(), st.sampled_from([math.inf, 2.0, 10.0, 1000.0]))
def test_float_path_with_zero_effects_equals_the_integer_path(layer, on_off):
    cfg, x, bitlines, groups, n_out = layer
    kw = _kernel_args(cfg)
    expected, sat_int = mvm_int(x, pack_levels(bitlines, cfg["rows"], cfg["cell_bits"]), groups, n_out, **kw)
    conductance = cell_conductances(bitlines, None, cfg["cell_bits"], on_off_ratio=on_off)
    planes = analog_planes(conductance, rows=cfg["rows"], cell_bits=cfg["cell_bits"], dac_bits=cfg["dac_bits"],
                           on_off_ratio=on_off)
    y, sat_float = mvm_float(x, planes, groups, n_out, **kw)
    np.testing.assert_array_equal(y, expected)
    assert sat_float == sat_int


def _float_reference(x, conductance, cfg, planes, groups, n_out):
    """The float path in plain numpy, step by step (float64 sums; read noise from the same stream)."""
    rows, cb, db, ab = cfg["rows"], cfg["cell_bits"], cfg["dac_bits"], cfg["adc_bits"]
    g_eff = conductance - g_min_steps(cb, cfg["on_off"])
    var_cell = (cfg["read_noise"] * conductance) ** 2
    chunks = input_chunks(x, cfg["input_bits"], db).astype(np.float64)  # (T, batch, in)
    weights = cycle_weights(cfg["input_bits"], db, cfg["signed_inputs"])
    step, top, n_bl = cfg["step"], (1 << ab) - 1, conductance.shape[1]
    tiles = -(-x.shape[1] // rows)
    y = np.zeros((x.shape[0], n_out))
    for t in range(tiles):
        rs = slice(t * rows, (t + 1) * rows)
        acc = np.zeros((x.shape[0], n_bl))
        for k in range(len(weights)):
            v = chunks[k][:, rs] @ g_eff[rs]
            if cfg["read_noise"]:
                var = chunks[k][:, rs] ** 2 @ var_cell[rs]
                for n in range(x.shape[0]):
                    z = standard_normals(planes.noise_key, (n * tiles + t) * len(weights) + k, n_bl)
                    v[n] += np.sqrt(var[n]) * z
            u = v / step
            a = t * planes.adcs_per_tile + planes.adc_of
            if len(planes.adc_gain):
                u = u * planes.adc_gain[a] + planes.adc_offset[a]
            if len(planes.adc_inl):
                c = np.clip(u, 0, top) / top
                u = u + sum(planes.adc_inl[a, j] * c**j for j in range(planes.adc_inl.shape[1]))
            acc += weights[k] * np.clip(np.floor(u + 0.5), 0, top)
        for grp in range(len(groups.out)):
            y[:, groups.out[grp]] += groups.coef[grp] * step * acc[:, groups.members[grp, 0]]
    if cfg["mapping"] == "offset":
        y -= 2.0 ** (cfg["weight_bits"] - 1) * x.sum(axis=1, keepdims=True)
    return y


@pytest.mark.parametrize("effects", [
    dict(variation=0.05, on_off=10.0),
    dict(variation=0.03, read_noise=0.05, on_off=20.0),
    dict(variation=0.02, adc_offset=0.7, adc_gain_error=0.05, adc_inl=0.8, on_off=math.inf),
    dict(read_noise=0.1, drift=1e4, adc_offset=0.3, on_off=5.0, dac_bits=2),
])
def test_float_path_matches_a_plain_numpy_reference(effects):
    rng = np.random.default_rng(3)
    cfg = dict(rows=100, cell_bits=2, input_bits=6, dac_bits=effects.get("dac_bits", 1), adc_bits=6,
               mapping="offset", signed_inputs=False, weight_bits=8, on_off=effects["on_off"],
               read_noise=effects.get("read_noise", 0.0))
    cfg["step"] = float(full_range_step(cfg["rows"], 2, cfg["dac_bits"], 6))
    x, w = rng.integers(0, 64, (7, 230)), rng.integers(-127, 128, (230, 5))
    levels = slice_levels(w, 2, 8, "offset")
    fault_map = sample_faults(levels.shape, 0.02, 0.05, rng)
    bitlines, groups = plain_bitlines(apply_faults(levels, fault_map, 2), 2, "offset")
    stuck = plain_bitlines(fault_map, 2, "offset")[0] != 0
    conductance = cell_conductances(bitlines, stuck, 2, on_off_ratio=cfg["on_off"],
                                    sigma_per_level=effects.get("variation", 0.0), nu_per_level=0.05,
                                    drift_ratio=effects.get("drift", 1.0), rng=rng)
    planes = analog_planes(conductance, rows=100, cell_bits=2, dac_bits=cfg["dac_bits"], on_off_ratio=cfg["on_off"],
                           read_noise=cfg["read_noise"], cols=16, cols_per_adc=4,
                           adc_offset=effects.get("adc_offset", 0.0), adc_gain_error=effects.get("adc_gain_error", 0.0),
                           adc_inl=effects.get("adc_inl", 0.0), rng=rng, noise_key=12345, dtype=np.float64)
    y, _ = mvm_float(x, planes, groups, 5, **_kernel_args(cfg))
    expected = _float_reference(x, conductance, cfg, planes, groups, 5)
    np.testing.assert_allclose(y, expected, rtol=0, atol=1e-6 * np.abs(expected).max())
    assert not np.array_equal(y, mvm_int(x, pack_levels(bitlines, 100, 2), groups, 5, **_kernel_args(cfg))[0])


def test_programming_variation_has_the_requested_sigma_per_level():
    rng = np.random.default_rng(0)
    levels = rng.integers(0, 4, (600, 600)).astype(np.uint8)
    g = cell_conductances(levels, None, 2, on_off_ratio=100.0, sigma_per_level=0.05, rng=rng)
    deviation = (g - levels - g_min_steps(2, 100.0)) / 3.0  # as a fraction of the range (3 steps)
    assert abs(deviation[levels > 0].std() / 0.05 - 1) < 0.05
    assert abs(deviation[levels > 0].mean()) < 0.002
    table = np.array([0.01, 0.02, 0.03, 0.06])
    g = cell_conductances(levels, None, 2, sigma_per_level=table, rng=rng)
    for level, sigma in enumerate(table[1:], start=1):  # level 0 sits at G = 0 and is clipped there
        assert abs(((g - levels) / 3.0)[levels == level].std() / sigma - 1) < 0.05
    assert np.all(g >= 0)


def test_stuck_cells_are_not_programmed_and_do_not_drift():
    rng = np.random.default_rng(1)
    levels = rng.integers(0, 4, (50, 50)).astype(np.uint8)
    stuck = rng.random(levels.shape) < 0.2
    g = cell_conductances(levels, stuck, 2, on_off_ratio=10.0, sigma_per_level=0.1, nu_per_level=0.1,
                          drift_ratio=100.0, rng=rng)
    np.testing.assert_array_equal(g[stuck], levels[stuck] + g_min_steps(2, 10.0))
    assert np.all(g[~stuck] != levels[~stuck] + g_min_steps(2, 10.0))


def test_drift_decays_conductance_and_column_sums_monotonically():
    rng = np.random.default_rng(2)
    levels = rng.integers(0, 4, (128, 64)).astype(np.uint8)
    nu = np.array([0.0, 0.02, 0.05, 0.1])
    x = rng.integers(0, 256, (20, 128))
    groups = BitlineGroups(np.arange(64)[:, None], np.arange(64), np.ones(64))
    kw = dict(rows=128, input_bits=8, dac_bits=1, cell_bits=2, signed_inputs=False, adc_bits=16, step=1.0,
              mapping="offset", weight_bits=8)
    previous_g, previous_y = None, None
    for t in (1.0, 10.0, 1e3, 1e5, 1e8):
        g = cell_conductances(levels, None, 2, on_off_ratio=10.0, nu_per_level=nu, drift_ratio=t)
        np.testing.assert_allclose(g, (levels + g_min_steps(2, 10.0)) * t ** -nu[levels])
        planes = analog_planes(g, rows=128, cell_bits=2, dac_bits=1, on_off_ratio=10.0)
        y = mvm_float(x, planes, groups, 64, **kw)[0] + 128 * x.sum(axis=1, keepdims=True)  # undo the offset
        if previous_g is not None:
            assert np.all(g <= previous_g) and np.all(g[levels > 0] < previous_g[levels > 0])
            assert np.all(y <= previous_y) and y.sum() < previous_y.sum()
        previous_g, previous_y = g, y


def test_read_noise_has_the_requested_sigma_and_is_fresh_per_read():
    # 128 cells at level 3 (G = 3 steps) all driven: a column sum of 384 with sigma s * 3 * sqrt(128).
    s, rows, n_bl = 0.05, 128, 256
    levels = np.full((rows, n_bl), 3, np.uint8)
    planes = analog_planes(cell_conductances(levels, None, 2), rows=rows, cell_bits=2, dac_bits=1,
                           read_noise=s, noise_key=7)
    groups = BitlineGroups(np.arange(n_bl)[:, None], np.arange(n_bl), np.ones(n_bl))
    kw = dict(rows=rows, input_bits=1, dac_bits=1, cell_bits=2, signed_inputs=False, adc_bits=12, step=1.0,
              mapping="offset", weight_bits=1)
    x = np.ones((400, rows), np.int64)
    y = mvm_float(x, planes, groups, n_bl, **kw)[0] + 1.0 * rows  # undo the 1-bit offset correction
    expected = s * 3 * math.sqrt(rows)
    measured = math.sqrt(y.var() - 1 / 12)  # minus the ADC's rounding (Sheppard's correction)
    assert abs(measured / expected - 1) < 0.05
    assert abs(y.mean() - 384) < 0.05
    again = mvm_float(x, planes, groups, n_bl, **kw)[0] + 1.0 * rows
    assert not np.array_equal(again, y)  # the next call reads fresh noise
    assert abs(math.sqrt(again.var() - 1 / 12) / expected - 1) < 0.05


def test_normal_draws_are_standard_and_deterministic():
    z = standard_normals(2024, 3, 1 << 20).astype(np.float64)
    assert abs(z.mean()) < 0.005 and abs(z.std() - 1) < 0.005
    assert abs(np.mean(np.abs(z) > 2) - 0.0455) < 0.002
    np.testing.assert_array_equal(standard_normals(2024, 3, 100, start=50), z[50:150])
    assert not np.array_equal(standard_normals(2024, 4, 100), z[:100])
    assert not np.array_equal(standard_normals(2025, 3, 100), z[:100])


def test_adc_errors_have_their_magnitudes_and_shapes():
    rng = np.random.default_rng(4)
    gain, offset, inl = sample_adcs(5000, offset_sigma=0.4, gain_sigma=0.02, inl_peak=0.75, rng=rng)
    assert abs(offset.std() / 0.4 - 1) < 0.05 and abs((gain - 1).std() / 0.02 - 1) < 0.05
    table = inl_table(inl[:50], 8)
    np.testing.assert_allclose(np.abs(table).max(axis=1), 0.75, rtol=1e-3)
    np.testing.assert_allclose(table[:, [0, -1]], 0, atol=1e-12)
    assert np.abs(np.diff(table, axis=1)).max() < 0.1  # smooth: at most a small fraction of an LSB per code


def test_bit_lines_sharing_an_adc_share_its_errors():
    adc_of, per_tile = adc_layout(300, cols=128, cols_per_adc=32)
    assert per_tile == 3 * 4
    assert adc_of[0] == adc_of[31] != adc_of[32] and adc_of[127] == 3 and adc_of[128] == 4
    levels = np.full((64, 300), 2, np.uint8)
    x = np.full((3, 64), 5, np.int64)
    groups = BitlineGroups(np.arange(300)[:, None], np.arange(300), np.ones(300))
    kw = dict(rows=64, input_bits=4, dac_bits=1, cell_bits=2, signed_inputs=False, adc_bits=8, step=1.0,
              mapping="offset", weight_bits=1)
    for per_adc in (32, 1):
        planes = analog_planes(cell_conductances(levels, None, 2), rows=64, cell_bits=2, dac_bits=1, cols=128,
                               cols_per_adc=per_adc, adc_offset=2.0, adc_gain_error=0.05,
                               rng=np.random.default_rng(5))
        y = mvm_float(x, planes, groups, 300, **kw)[0]
        distinct = len(np.unique(y[0]))
        assert distinct <= 10 if per_adc == 32 else distinct > 10  # 10 ADCs for 300 bit lines, or one each


def _effects_free_chip(net, faults, chip):
    """Chip ``chip`` on the float path with every effect at zero."""
    integer = chip_layers(net, faults, chip)
    zero = AnalogEffects()
    floats = {}
    for index, mapped in net.layers.items():
        rng = np.random.default_rng([faults.seed, chip, index])
        fault_map = sample_faults(mapped.bitline_levels.shape, faults.sa0_rate, faults.sa1_rate, rng, rows=net.hw.rows)
        stored = flipped_levels(mapped.bitline_levels, mapped.groups.flip, net.hw.rows, net.hw.cell_bits)
        levels = apply_faults(stored, fault_map, net.hw.cell_bits)  # faults hit the (flipped) stored cells
        floats[index] = ChipLayer(None, integer[index].groups, chip_planes(levels, fault_map, net.hw, zero,
                                                                           faults.seed, chip, index))
    return integer, floats


@pytest.mark.parametrize("hw", [HardwareConfig(adc_bits=6),
                                HardwareConfig(adc_bits=6, adc_range="clip", mapping="offset", weight_flip=True)])
def test_network_on_the_float_path_with_zero_effects_equals_the_integer_chip(hw):
    workload = tiny_workload()
    faults = FaultScenario(0.02, 0.05, n_chips=1, seed=3)
    net = map_network(workload, hw)
    integer, floats = _effects_free_chip(net, faults, 0)
    np.testing.assert_array_equal(run_network(net, floats, workload.x_test), run_network(net, integer, workload.x_test))


def test_effects_are_per_chip_and_independent_of_order_and_subset():
    workload = tiny_workload()
    hw = HardwareConfig(adc_bits=6)
    faults = FaultScenario(0.01, 0.02, n_chips=3, seed=1)
    effects = AnalogEffects(variation=0.1, read_noise=0.05, adc_offset=0.5, on_off_ratio=10.0)
    forward = evaluate(workload, hw, faults, analog=effects, chips=[0, 1, 2])
    backward = evaluate(workload, hw, faults, analog=effects, chips=[2, 0])
    assert backward.accuracy_per_chip.tolist() == forward.accuracy_per_chip[[2, 0]].tolist()
    assert forward.layers["output_error"].mean() > evaluate(workload, hw, faults, chips=[0, 1, 2]).layers[
        "output_error"].mean()
    assert forward.to_dict()["analog"]["variation"] == 0.1
    assert not AnalogEffects(on_off_ratio=10.0).active  # the reference cancels G_min: integer path


@pytest.mark.parametrize("kwargs, fragment", [
    (dict(variation=-0.01), r"variation must be in \[0.0, 1.0\], got -0.01"),
    (dict(read_noise=-0.5), r"read_noise must be in \[0.0, 1.0\]"),
    (dict(on_off_ratio=1.0), r"on_off_ratio must be a number > 1"),
    (dict(on_off_ratio=0.2), r"on_off_ratio must be a number > 1"),
    (dict(adc_offset=-1.0), r"adc_offset must be in"),
    (dict(variation_table=(0.01, -0.02)), r"variation_table entries must be numbers in \[0.0, 1.0\]"),
    (dict(variation=0.02, variation_table=(0.02,) * 4), r"set variation .* or variation_table"),
    (dict(drift_t_s=0.5), r"drift_t_s must be 0 \(no drift\) or >= drift_t0_s"),
])
def test_bad_effects_name_the_field_and_allowed_values(kwargs, fragment):
    with pytest.raises(ValueError, match=fragment):
        AnalogEffects(**kwargs)


def test_table_of_the_wrong_length_fails_before_any_work():
    class Untouchable:  # any use of the workload would raise AttributeError, not the ValueError below
        pass

    with pytest.raises(ValueError, match="variation_table must have one entry per cell level .4 for cell_bits = 2"):
        evaluate(Untouchable(), HardwareConfig(), FaultScenario(), analog=AnalogEffects(variation_table=(0.1, 0.2)))


def test_eval_command_reports_accuracy_with_variation_and_read_noise(capsys):
    code = main(["eval", "--workload", "mlp-digits", "--variation", "0.05", "--read-noise", "0.02", "--json",
                 "--n-chips", "2", "--max-test", "60"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert 0.8 <= result["accuracy_mean"] <= 1.0 and len(result["accuracy_per_chip"]) == 2
    assert result["analog"]["variation"] == 0.05 and result["analog"]["read_noise"] == 0.02
    assert main(["eval", "--workload", "mlp-digits", "--on-off-ratio", "1"]) == 2
    assert "on_off_ratio must be a number > 1" in capsys.readouterr().err
    assert main(["eval", "--workload", "mlp-digits", "--variation-table", "0.01,0.02"]) == 2
    assert "variation_table must have one entry per cell level" in capsys.readouterr().err


def test_float_benchmark_checks_its_paths_and_its_numpy_baselines(monkeypatch):
    from dse.experiments import bench
    from dse.config import HardwareConfig
    from kernels.baseline import bitplane_float_mvm, bitplane_matmul_mvm

    monkeypatch.setattr(bench, "PAUSE_S", 0.0)
    hw = HardwareConfig()
    point = bench.KernelPoint(batch=6, n_in=200, n_out=24)
    result = bench.bench_float_point(point, hw, repeats=1)
    assert result["float_exact_agrees"]
    for name in ("integer", "float_exact", "float_variation", "float_noise", "baseline", "baseline_float",
                 "baseline_noise"):
        assert result[f"{name}_s"] > 0 and result[f"{name}_macs_per_s"] > 0
    # The float baseline on integer conductances is the integer model: it equals the integer baseline.
    x, _, bitlines, groups = bench._point_data(point, hw, 0)
    common = dict(rows=hw.rows, cell_bits=hw.cell_bits, input_bits=hw.input_bits, dac_bits=hw.dac_bits,
                  adc_bits=hw.adc_bits, signed_inputs=False)
    exact = bitplane_float_mvm(x, bitlines.astype(np.float32), None, groups, point.n_out, **common)
    np.testing.assert_array_equal(exact, bitplane_matmul_mvm(x, bitlines, groups, point.n_out, **common))
    # With read noise it draws fresh noise and moves the outputs by about the expected amount.
    var = np.full(bitlines.shape, 0.25, dtype=np.float32)  # sigma 0.5 level steps per driven cell
    noisy = [bitplane_float_mvm(x, bitlines.astype(np.float32), var, groups, point.n_out,
                                rng=np.random.default_rng(s), **common) for s in (1, 2)]
    assert not np.array_equal(noisy[0], noisy[1]) and not np.array_equal(noisy[0], exact)


@pytest.mark.parametrize("dac_bits, adc_range", [(1, "full"), (1, "calibrated"), (2, "full")])
def test_negative_column_sums_convert_to_code_zero(dac_bits, adc_range):
    # Cells programmed below the G_min reference (variation on level-0 cells) make column sums negative;
    # the ADC clips them at code 0, on every path (ideal, calibrated step, multi-bit DAC).
    rows, n_in, n_out = 64, 150, 3
    x = np.full((4, n_in), 3)
    bitlines, groups = plain_bitlines(np.zeros((2, 4, n_in, n_out), dtype=np.uint8), 2, "differential")
    # Bit lines of the positive array conduct 0 < G_min (below the reference), the negative array's
    # exactly G_min: an ADC that passed negative codes on would give negative outputs.
    conductance = np.zeros(bitlines.shape)
    conductance[:, groups.members[groups.coef < 0, 0]] = g_min_steps(2, 10.0)
    cfg = dict(rows=rows, cell_bits=2, input_bits=2, dac_bits=dac_bits, adc_bits=6, mapping="differential",
               signed_inputs=False, weight_bits=8, on_off=10.0, read_noise=0.0)
    cfg["step"] = (float(full_range_step(rows, 2, dac_bits, 6)) if adc_range == "full"
                   else calibrated_step(100.0, 6))
    planes = analog_planes(conductance, rows=rows, cell_bits=2, dac_bits=dac_bits, on_off_ratio=10.0)
    y, saturated = mvm_float(x, planes, groups, n_out, **_kernel_args(cfg))
    np.testing.assert_array_equal(y, _float_reference(x, conductance, cfg, planes, groups, n_out))
    np.testing.assert_array_equal(y, 0.0)
    assert saturated == 0
