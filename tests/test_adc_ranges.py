"""ADC ranges as designers set them (clip, weight flipping) through the framework: mapping, chips, cost."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dse.config import FaultScenario, HardwareConfig, Protection
from dse.cost import cost, load_tech, tile_report
from dse.mapping import map_network
from dse.simulate import chip_layers, evaluate, run_network
from kernels import apply_faults, crossbar_mvm, crossbar_mvm_reference, mvm_int, sample_faults
from kernels.flip import flip_mask, flipped_levels, logical_faults
from tests.test_simulate import tiny_workload

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(st.integers(1, 300), st.integers(1, 20), st.sampled_from([1, 5, 64, 128]), st.integers(1, 4),
       st.integers(0, 2**32 - 1))
def test_faults_on_stored_cells_equal_swapped_faults_on_logical_levels(n_in, n_bl, rows, cell_bits, seed):
    """What the simulator does for protection hooks (logical levels, swapped fault types on flipped bit
    lines, complemented back) is what the cells store under the physical fault map."""
    rng = np.random.default_rng(seed)
    levels = rng.integers(0, 1 << cell_bits, (n_in, n_bl)).astype(np.uint8)
    levels[:, ::3] = (1 << cell_bits) - 1  # some bit lines certainly flipped
    faults = sample_faults(levels.shape, 0.2, 0.2, rng)
    flip = flip_mask(levels, rows, cell_bits)
    stored = apply_faults(flipped_levels(levels, flip, rows, cell_bits), faults, cell_bits)
    via_logical = flipped_levels(apply_faults(levels, logical_faults(faults, flip, rows), cell_bits), flip, rows,
                                 cell_bits)
    np.testing.assert_array_equal(via_logical, stored)


def test_bad_weight_flip_names_the_field():
    with pytest.raises(ValueError, match="weight_flip must be true or false, got 'yes'"):
        HardwareConfig(weight_flip="yes")


@pytest.mark.parametrize("signed", [False, True])
def test_mapped_faulty_layer_with_flipping_is_the_spec_kernel(signed):
    """A faulty chip's layer through the simulator equals the plain reference with the same fault map (on
    the stored cells) and weight flipping."""
    workload = tiny_workload(signed=signed)
    # Offset mapping: levels of w + 128 sum high on many bit lines (differential ones rarely pass half).
    hw = HardwareConfig(adc_bits=6, adc_range="clip", weight_flip=True, mapping="offset")
    net = map_network(workload, hw)
    first = net.layers[0]
    assert 0.1 < first.groups.flip.mean() < 0.9
    faults = FaultScenario(0.05, 0.1)
    chip = chip_layers(net, faults, 0)
    fault_map = sample_faults(first.bitline_levels.shape, 0.05, 0.1, np.random.default_rng([0, 0, 0]), rows=128)
    n_in, n_out = first.w_int.shape
    spec_faults = fault_map.reshape(n_in, 1, 4, n_out).transpose(1, 2, 0, 3)  # bit lines ordered (a, s, j)
    x_int = first.quantize_inputs(workload.layers[0].im2col(workload.x_test), hw)
    y, _ = mvm_int(x_int, chip[0].wp, chip[0].groups, n_out, rows=128, input_bits=8, dac_bits=1, cell_bits=2,
                   signed_inputs=signed, adc_bits=6, step=first.adc_step, mapping="offset", weight_bits=8)
    kw = dict(rows=128, cell_bits=2, adc_bits=6, adc_range="clip", signed_inputs=signed, faults=spec_faults,
              weight_flip=True, mapping="offset")
    np.testing.assert_array_equal(y, crossbar_mvm_reference(x_int, first.w_int, **kw))


@pytest.mark.parametrize("mapping", ["differential", "offset"])
def test_flipped_8_bit_adc_reproduces_the_lossless_network_bit_for_bit(mapping):
    workload = tiny_workload(signed=True)
    outputs = {}
    for name, hw in {"lossless": HardwareConfig(adc_bits=9, mapping=mapping),
                     "flip": HardwareConfig(adc_bits=8, mapping=mapping, weight_flip=True),
                     "flip-clip": HardwareConfig(adc_bits=8, mapping=mapping, weight_flip=True, adc_range="clip"),
                     "full": HardwareConfig(adc_bits=8, mapping=mapping)}.items():
        net = map_network(workload, hw)
        outputs[name] = run_network(net, chip_layers(net, None, None), workload.x_test)
    np.testing.assert_array_equal(outputs["flip"], outputs["lossless"])
    np.testing.assert_array_equal(outputs["flip-clip"], outputs["lossless"])
    assert not np.array_equal(outputs["full"], outputs["lossless"])


def test_compensation_still_works_with_flipped_bit_lines():
    """Compensation reads the logical stuck levels (swapped where flipped): it recovers as much as without."""
    workload = tiny_workload()
    faults = FaultScenario(0.02, 0.05, n_chips=2)
    errors = {}
    for flip in (False, True):
        hw = HardwareConfig(adc_bits=9, weight_flip=flip)
        for protect in ("none", "compensate"):
            protection = Protection(compensate=protect == "compensate")
            result = evaluate(workload, hw, faults, protection)
            errors[flip, protect] = float(result.layers["output_error"].mean())
    assert errors[True, "compensate"] < 0.5 * errors[True, "none"]
    assert errors[True, "compensate"] == pytest.approx(errors[False, "compensate"], rel=0.5)


def test_flipping_is_costed_on_the_default_preset():
    workload = tiny_workload()
    plain, flipped = (cost(map_network(workload, HardwareConfig(weight_flip=f)).layouts,
                           HardwareConfig(weight_flip=f)) for f in (False, True))
    assert plain.energy_by_component()["flip"] == 0 and plain.area_by_component()["flip"] == 0
    assert flipped.energy_by_component()["flip"] > 0 and flipped.area_by_component()["flip"] > 0
    assert flipped.energy_pj > plain.energy_pj and flipped.area_um2 > plain.area_um2
    # The popcount is per row tile, not per crossbar: at most a few percent of the conversions' energy.
    assert flipped.energy_by_component()["flip"] < 0.05 * flipped.energy_by_component()["adc"]


def test_isaac_functional_twin_is_lossless_at_its_8_bit_adc():
    """The preset's architecture (16-bit weights on 2-bit cells, offset mapping, 1-bit DACs, 8-bit ADC, 128
    rows) with its weight flipping: the simulator's product is exact; without flipping it is not."""
    hw = load_tech("isaac").architecture
    assert hw.weight_flip and hw.adc_bits == 8 and hw.rows == 128
    rng = np.random.default_rng(16)
    x = rng.integers(0, 1 << 16, (4, 256))
    x[0] = (1 << 16) - 1
    w = rng.integers(-(1 << 15) + 1, 1 << 15, (256, 6))
    w[:, 0] = (1 << 15) - 1
    kw = dict(rows=hw.rows, cell_bits=hw.cell_bits, weight_bits=hw.weight_bits, input_bits=hw.input_bits,
              dac_bits=hw.dac_bits, adc_bits=hw.adc_bits, mapping=hw.mapping)
    exact = x.astype(object) @ w.astype(object)
    assert np.array_equal(crossbar_mvm(x, w, weight_flip=True, **kw).astype(np.int64), exact.astype(np.int64))
    assert not np.array_equal(crossbar_mvm(x, w, **kw).astype(np.int64), exact.astype(np.int64))
    report = tile_report("isaac")  # the Table has no separate line for the correction: still reproduced
    assert report.ima_power_mw == pytest.approx(24.1, rel=0.01)


@pytest.mark.slow  # maps mlp-digits: about 10 s on an idle core
def test_adc_codes_figure_names_a_bad_layer_and_draws_a_good_one(tmp_path, capsys):
    from dse.experiments.adc_codes import main
    assert main([str(tmp_path / "bad.png"), "--layer", "fc9"]) == 2
    assert "layer must be one of fc1, fc2, fc3; got 'fc9'" in capsys.readouterr().err
    assert main([str(tmp_path / "codes.png")]) == 0
    out = capsys.readouterr().out
    assert (tmp_path / "codes.png").stat().st_size > 10_000 and "full range step 2" in out
