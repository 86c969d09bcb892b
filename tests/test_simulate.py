"""Hardware-simulated inference: exactness of the mapping, Monte Carlo chips, the eval and sweep commands."""
import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from dse.cli import main
from dse.config import FaultScenario, HardwareConfig
from dse.mapping import map_network
from dse.simulate import chip_layers, evaluate, run_network
from dse.workloads import load_workload
from dse.workloads.data import Splits
from dse.workloads.layers import Linear, ReLU
from dse.workloads.workload import Workload
from dse.experiments import CHEN2015 as CHEN
from kernels import crossbar_mvm

LOSSLESS = HardwareConfig(adc_bits=9)  # 128 rows x 3 levels x 1-bit DAC: full scale 384 < 2**9


def tiny_workload(signed: bool = False, seed: int = 0) -> Workload:
    """A two-layer random MLP on random data: fast, and with layers spanning several row tiles."""
    rng = np.random.default_rng(seed)
    layers = [Linear(rng.normal(size=(150, 40)), rng.normal(size=40), name="fc1"), ReLU(),
              Linear(rng.normal(size=(40, 5)), rng.normal(size=5), name="fc2")]
    low = -1.0 if signed else 0.0

    def data(n):
        return rng.uniform(low, 1.0, size=(n, 150)), rng.integers(0, 5, n)

    (xtr, ytr), (xc, yc), (xt, yt) = data(50), data(64), data(80)
    return Workload.from_splits("tiny", layers, (150,), Splits(xtr, ytr, xc, yc, xt, yt))


@pytest.fixture(scope="module")
def mlp():
    return load_workload("mlp-digits")


@pytest.fixture(scope="module")
def cnn():
    return load_workload("cnn-digits")


def test_mapped_layer_is_the_spec_kernel_on_quantised_values():
    workload = tiny_workload()
    hw = HardwareConfig(adc_bits=6)
    net = map_network(workload, hw)
    first = net.layers[0]
    x_int = first.quantize_inputs(workload.layers[0].im2col(workload.x_test), hw)
    expected = crossbar_mvm(x_int, first.w_int, rows=hw.rows, cell_bits=hw.cell_bits, adc_bits=hw.adc_bits)
    chip = chip_layers(net, None, None)
    from kernels import mvm_int

    y, _ = mvm_int(x_int, chip[0].wp, chip[0].groups, first.n_out, rows=hw.rows, input_bits=8, dac_bits=1,
                   cell_bits=2, signed_inputs=False, adc_bits=6, step=first.adc_step, mapping="differential",
                   weight_bits=8)
    np.testing.assert_array_equal(y, expected)


@pytest.mark.parametrize("signed", [False, True])
def test_lossless_fault_free_hardware_reproduces_quantised_layers_exactly(signed):
    workload = tiny_workload(signed=signed)
    result = evaluate(workload, LOSSLESS, FaultScenario(n_chips=1))
    assert (result.ideal_layers["output_error"] == 0).all()
    assert (result.ideal_layers["adc_saturation"] == 0).all()


def test_signed_inputs_with_wide_dac_name_the_layer():
    with pytest.raises(ValueError, match="layer 'fc1' receives signed inputs, which need dac_bits = 1"):
        map_network(tiny_workload(signed=True), HardwareConfig(dac_bits=2))


def test_ideal_hardware_within_one_point_of_float(mlp, cnn):
    for workload in (mlp, cnn):
        result = evaluate(workload, LOSSLESS, FaultScenario(n_chips=1))
        assert result.ideal_accuracy >= workload.float_accuracy - 0.01, workload.name


def test_eight_bit_adc_loses_less_than_four_bit(mlp):
    acc = {bits: evaluate(mlp, HardwareConfig(adc_bits=bits), FaultScenario(n_chips=1)).ideal_accuracy
           for bits in (4, 8)}
    assert acc[8] > acc[4] + 0.1


def test_calibrated_adc_beats_full_range_at_low_resolution(mlp):
    full = evaluate(mlp, HardwareConfig(adc_bits=4), FaultScenario(n_chips=1)).ideal_accuracy
    calibrated = evaluate(mlp, HardwareConfig(adc_bits=4, adc_range="calibrated"), FaultScenario(n_chips=1))
    assert calibrated.ideal_accuracy > full + 0.1


def test_calibration_never_reads_the_test_split():
    workload = tiny_workload()
    hw = HardwareConfig(adc_bits=3, adc_range="calibrated")
    other_test = dataclasses.replace(workload, x_test=np.zeros_like(workload.x_test))
    steps = [m.adc_step for m in map_network(workload, hw).layers.values()]
    assert steps == [m.adc_step for m in map_network(other_test, hw).layers.values()]
    assert all(step > 1 for step in steps)


def test_chips_are_independent_of_order_subset_and_workers():
    workload = tiny_workload()
    faults = FaultScenario(n_chips=4, seed=3, **CHEN)
    all_chips = evaluate(workload, HardwareConfig(), faults).accuracy_per_chip
    reordered = evaluate(workload, HardwareConfig(), faults, chips=[3, 1]).accuracy_per_chip
    np.testing.assert_array_equal(reordered, all_chips[[3, 1]])
    parallel = evaluate(workload, HardwareConfig(), faults, workers=2).accuracy_per_chip
    np.testing.assert_array_equal(parallel, all_chips)
    assert len(set(all_chips)) > 1  # different chips do get different faults


def test_fault_free_chips_are_the_ideal_chip_without_rerunning_it():
    """With no faults and no analog effects every chip is the fault-free chip: evaluate reuses its
    outputs; a chip simulated by hand (chip_layers with the zero-rate scenario) must agree exactly."""
    from dse.config import Protection

    workload = tiny_workload(signed=True)
    for protection in (Protection(), Protection(compensate=True, vote="test-aware", dup_copies=3)):
        faults = FaultScenario(n_chips=3, sa0_rate=0.0, sa1_rate=0.0, seed=5)
        net = map_network(workload, HardwareConfig(), protection)
        result = evaluate(workload, HardwareConfig(), faults, protection, mapped=net)
        by_hand = [workload.score(run_network(net, chip_layers(net, faults, c), workload.x_test), workload.y_test)
                   for c in range(3)]
        np.testing.assert_array_equal(result.accuracy_per_chip, by_hand)
        pd.testing.assert_frame_equal(result.layers, result.ideal_layers)
        assert result.accuracy_std == 0.0


def test_same_seed_same_numbers_other_seed_other_numbers():
    workload = tiny_workload()
    a = evaluate(workload, HardwareConfig(), FaultScenario(n_chips=3, seed=1, **CHEN)).accuracy_per_chip
    b = evaluate(workload, HardwareConfig(), FaultScenario(n_chips=3, seed=1, **CHEN)).accuracy_per_chip
    c = evaluate(workload, HardwareConfig(), FaultScenario(n_chips=3, seed=2, **CHEN)).accuracy_per_chip
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_stuck_at_faults_cost_accuracy_and_show_in_layer_errors(mlp):
    result = evaluate(mlp, HardwareConfig(), FaultScenario(n_chips=4, **CHEN))
    assert result.accuracy_mean < result.ideal_accuracy - 0.3
    assert (result.layers["output_error"] > 0.1).all()
    assert result.crossbars == 16 + 16 + 1  # 64x256, 256x128, 128x10 at 8 slices*arrays per output


def test_eval_json_reports_the_documented_fields(capsys):
    code = main(["eval", "--workload", "mlp-digits", "--chips", "2", "--sa0", "0.01", "--sa1", "0.02",
                 "--max-test", "60", "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("float_accuracy", "ideal_accuracy", "accuracy_mean", "accuracy_std", "accuracy_ci95",
                "n_chips", "crossbars", "extra_adc_conversions", "protect", "layers", "wall_time_s"):
        assert key in out
    assert out["n_chips"] == 2 and len(out["accuracy_per_chip"]) == 2
    assert "chips" not in out and "wall_s" not in out  # one name per quantity: the Parquet/config names
    from dse.cost import cost
    from dse.mapping import map_network
    from dse.workloads import load_workload

    report = cost(map_network(load_workload("mlp-digits"), HardwareConfig()).layouts, HardwareConfig())
    assert out["energy_pj"] == pytest.approx(report.energy_pj) and out["latency_ns"] == pytest.approx(report.latency_ns)
    assert out["area_mm2"] == pytest.approx(report.area_mm2) and out["adc_rate_gsps"] == pytest.approx(1.2)


def test_bad_hardware_flag_names_field_before_any_work(capsys):
    assert main(["eval", "--workload", "mlp-digits", "--adc-bits", "0"]) == 2
    assert "adc_bits must be in 1..24, got 0" in capsys.readouterr().err


def test_sweep_writes_one_row_per_chip_and_rate_and_a_plot(tmp_path, capsys):
    out = tmp_path / "sweep"
    code = main(["sweep", "--workload", "mlp-digits", "--total-rate", "0,0.05,0.2", "--chips", "2",
                 "--out", str(out), "--json"])
    assert code == 0
    table = pd.read_parquet(out / "sweep.parquet")
    assert len(table) == 3 * 2
    assert set(table["total_rate"]) == {0.0, 0.05, 0.2}
    means = table.groupby("total_rate")["accuracy"].mean()
    assert means[0.0] > means[0.2]
    assert (out / "sweep.png").stat().st_size > 10_000
    summary = json.loads(capsys.readouterr().out)["summary"][0]
    assert 0 < summary["rate_at_5pt_drop"] < 0.2


def test_bring_your_own_model_file_runs_through_eval(tmp_path, capsys):
    from dse.workloads import save_model_file

    workload = tiny_workload()
    model, data = tmp_path / "model.npz", tmp_path / "data.npz"
    save_model_file(workload, model)
    x = np.concatenate([workload.x_test, workload.x_calib, workload.x_train])
    y = np.concatenate([workload.y_test, workload.y_calib, workload.y_train])
    np.savez(data, x=x, y=y)
    assert main(["eval", "--workload", str(model), "--data", str(data), "--chips", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["workload"] == "model" and out["crossbars"] == 2 * 3 + 1  # fc1 150x40: 2 row tiles x ceil(320/128); fc2 40x5: 1
    assert main(["eval", "--workload", str(model)]) == 2
    assert "pass data, an .npz holding arrays x and y" in capsys.readouterr().err
    np.savez(data, x=x)
    assert main(["eval", "--workload", str(model), "--data", str(data)]) == 2
    assert "lacks array(s) y" in capsys.readouterr().err


def test_truncated_data_file_is_a_one_line_error(tmp_path, capsys):
    from dse.workloads import save_model_file

    workload = tiny_workload()
    model, data = tmp_path / "model.npz", tmp_path / "data.npz"
    save_model_file(workload, model)
    np.savez(data, x=workload.x_test, y=workload.y_test)
    data.write_bytes(data.read_bytes()[:100])
    assert main(["eval", "--workload", str(model), "--data", str(data)]) == 2
    assert "is not a readable .npz file" in capsys.readouterr().err
