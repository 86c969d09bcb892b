"""Whole chips on the cuda backend: the simulator's outputs and statistics equal the CPU backend's."""
import json

import numpy as np
import pytest

from dse.config import FaultScenario, HardwareConfig, Protection
from dse.experiments import CHEN2015
from dse.mapping import map_network
from dse.simulate import LayerStats, chip_layers, evaluate, run_network
from dse.workloads.data import Splits
from dse.workloads.layers import Linear, ReLU
from dse.workloads.workload import Workload

CHEN = FaultScenario(**CHEN2015, n_chips=1)


def tiny_workload(signed: bool) -> Workload:
    """A random 150-24-5 MLP: its first layer spans two row tiles of 128 rows."""
    rng = np.random.default_rng(1)
    layers = [Linear(rng.normal(size=(150, 24)), rng.normal(size=24), name="fc1"), ReLU(),
              Linear(rng.normal(size=(24, 5)), rng.normal(size=5), name="fc2")]

    def data(n):
        return rng.uniform(-1.0 if signed else 0.0, 1.0, size=(n, 150)), rng.integers(0, 5, n)

    (xtr, ytr), (xc, yc), (xt, yt) = data(40), data(32), data(3)
    return Workload.from_splits("tiny", layers, (150,), Splits(xtr, ytr, xc, yc, xt, yt))


PROTECTIONS = {
    "copies, MSB embedding, mean vote, compensation": Protection(
        row_prune=0.3, col_prune=0.3, prune_method="magnitude", dup_copies=3, dup_slices=2, msb_embed=1,
        vote="mean", compensate=True),
    "spare columns, test-aware vote": Protection(spare_cols=1, vote="test-aware"),
}


@pytest.mark.parametrize("signed, mapping, adc_range, adc_bits, weight_flip, protect", [
    (False, "differential", "full", 5, True, "copies, MSB embedding, mean vote, compensation"),
    (True, "offset", "calibrated", 5, False, "spare columns, test-aware vote"),
    (True, "differential", "full", 9, False, "copies, MSB embedding, mean vote, compensation"),  # exact path
])
def test_chips_on_cuda_equal_cpu_bit_for_bit(signed, mapping, adc_range, adc_bits, weight_flip, protect):
    workload = tiny_workload(signed)
    hw = HardwareConfig(adc_bits=adc_bits, mapping=mapping, adc_range=adc_range, weight_flip=weight_flip)
    protection = PROTECTIONS[protect]
    cpu_net = map_network(workload, hw, protection)
    cuda_net = map_network(workload, hw.replace(backend="cuda"), protection)
    on_cpu, on_gpu = chip_layers(cpu_net, CHEN, 3), chip_layers(cuda_net, CHEN, 3)
    assert all(layer.device is not None for layer in on_gpu.values())
    exact = [layer.exact is not None for layer in on_gpu.values()]
    assert exact == [layer.exact is not None for layer in on_cpu.values()] and all(exact) == (adc_bits == 9)
    if not any(exact):
        assert all(layer.device.flipped for layer in on_gpu.values()) == weight_flip
    cpu_stats: dict[int, LayerStats] = {}
    gpu_stats: dict[int, LayerStats] = {}
    expected = run_network(cpu_net, on_cpu, workload.x_test, cpu_stats)
    outputs = run_network(cuda_net, on_gpu, workload.x_test, gpu_stats)
    np.testing.assert_array_equal(outputs.view(np.int64), expected.view(np.int64))
    assert gpu_stats == cpu_stats  # saturations and output errors too


def test_evaluate_on_cuda_reports_the_cpu_numbers():
    workload = tiny_workload(False)
    hw = HardwareConfig(adc_bits=6)
    cpu = evaluate(workload, hw, CHEN, max_test=2)
    gpu = evaluate(workload, hw.replace(backend="cuda"), CHEN, max_test=2)
    np.testing.assert_array_equal(gpu.accuracy_per_chip, cpu.accuracy_per_chip)
    assert gpu.layers.equals(cpu.layers) and gpu.hw.backend == "cuda"


def test_kernel_benchmark_runs_on_cuda_and_agrees(capsys):
    from dse.cli import main

    assert main(["bench", "kernels", "--backend", "cuda", "--batch", "2", "--size", "16", "--no-scaling",
                 "--repeats", "1", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["agree"] and [p["batch"] for p in result["points"]] == [2]
    assert result["points"][0]["cuda_s"] > 0 and result["points"][0]["cpu_s"] > 0
