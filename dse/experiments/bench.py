"""Benchmarks: speed as a ratio against a baseline run in the same process, on the same data.

Throughput is counted in bit-level MACs: ``batch * in * out * slices * arrays * cycles`` per second,
the work a bit-sliced, bit-serial crossbar does, whatever the implementation.
"""
from __future__ import annotations

import dataclasses
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from threadpoolctl import ThreadpoolController, threadpool_limits

from dse.allowed import Interval
from dse.config import FaultScenario, HardwareConfig
from dse.experiments import CHEN2015
from kernels import (
    apply_faults,
    crossbar_mvm,
    mvm_int,
    mvm_packed,
    pack_inputs,
    pack_levels,
    plain_bitlines,
    sample_faults,
    slice_levels,
)
from kernels.adc import full_range_step
from kernels.baseline import baseline_levels, bitplane_matmul_mvm
from kernels.crossbar import _mvm_packed
from kernels.exact import exact_layer, mvm_exact
from kernels.testdata import random_inputs, random_weights

if TYPE_CHECKING:
    from dse.study.trial import ObjectiveFn


MAX_BATCH = 16384  # inputs per benchmark call; with MAX_SIZE, bounds a point's memory to about a GB per array
MAX_SIZE = 8192   # rows and columns of the benchmark's weight matrix


@dataclass(frozen=True)
class KernelPoint:
    """One benchmark point: the matrix, the batch and the fault rates."""

    batch: int = 256
    n_in: int = 512
    n_out: int = 512
    sa0_rate: float = CHEN2015["sa0_rate"]
    sa1_rate: float = CHEN2015["sa1_rate"]

    def __post_init__(self) -> None:
        Interval(int, 1, MAX_BATCH).check("batch", self.batch)
        Interval(int, 1, MAX_SIZE).check("n_in", self.n_in)
        Interval(int, 1, MAX_SIZE).check("n_out", self.n_out)
        FaultScenario(self.sa0_rate, self.sa1_rate)  # the rates' checks


def bit_level_macs(batch: int, n_in: int, n_out: int, hw: HardwareConfig) -> int:
    return batch * n_in * n_out * hw.slices * hw.arrays * hw.cycles


PAUSE_S = 0.2  # idle time before each timed call (not timed)


def _best_times(fns: dict, repeats: int) -> dict:
    """Best wall time of each function, timed in turns so a change of load hits them alike.

    Each call starts after a short pause: OpenBLAS and OpenMP worker threads spin for a while after
    their work ends, and would otherwise slow down whatever runs next (the numpy baseline's threads
    stole cores from the kernel timed after it, or the other way round).
    """
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(repeats):
        for name, fn in fns.items():
            time.sleep(PAUSE_S)
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def _point_data(point: KernelPoint, hw: HardwareConfig, seed: int):
    """Random unsigned inputs and weights of a benchmark point, sliced and faulted (one chip).

    Returns ``(x (batch, in), fault map (A, S, in, out), bit-line levels (in, B), groups)``.
    """
    if hw.adc_range != "full":
        raise ValueError("adc_range must be full for the kernel benchmark (the baseline has no calibration)")
    rng = np.random.default_rng(seed)
    x = random_inputs(rng, hw.input_bits, False, point.batch, point.n_in)
    w = random_weights(rng, hw.weight_bits, point.n_in, point.n_out)
    levels = slice_levels(w, hw.cell_bits, hw.weight_bits, hw.mapping)
    fault_map = sample_faults(levels.shape, point.sa0_rate, point.sa1_rate, rng)
    bitlines, groups = plain_bitlines(apply_faults(levels, fault_map, hw.cell_bits), hw.cell_bits, hw.mapping)
    return x, fault_map, bitlines, groups


def bench_kernel_point(point: KernelPoint, hw: HardwareConfig, repeats: int = 5, seed: int = 0) -> dict:
    """Time the Numba kernels and the numpy bit-plane baseline on one point; check they agree.

    Each side gets the same sliced, faulted cell levels in its own form (packed planes; the exact
    layer of ``kernels.exact``; floats for the baseline: per-chip preparation, not timed) and is timed
    from integer inputs to outputs, so all include making the inputs' bit planes. Two CPU paths are
    timed: the popcount kernel (``kernel_s``, ``popcount_speedup``), which runs every layer, and the path
    the simulator takes for this layer (``simulator_path``, ``simulator_s``, ``speedup``): the exact
    product (plus each bit line's rounding at step 2) where ``kernels.exact.exact_layer`` has one, as
    ``dse.simulate`` chooses it, with BLAS on one thread as the simulator holds it; else the popcount kernel.
    """
    x, _, bitlines, groups = _point_data(point, hw, seed)
    wp = pack_levels(bitlines, hw.rows, hw.cell_bits)
    levels = baseline_levels(bitlines, hw.rows, hw.cell_bits, hw.dac_bits)  # per chip, like wp: not timed
    step = float(full_range_step(hw.rows, hw.cell_bits, hw.dac_bits, hw.adc_bits))
    common = dict(input_bits=hw.input_bits, dac_bits=hw.dac_bits, cell_bits=hw.cell_bits,
                  signed_inputs=False, adc_bits=hw.adc_bits)
    layer = exact_layer(bitlines, groups, point.n_out, rows=hw.rows, step=step, **common)  # per chip: not timed
    blas = ThreadpoolController()  # found once: threadpool_limits looks up the libraries on every call (0.6 ms)

    def kernel():
        return mvm_packed(pack_inputs(x, hw.rows, hw.input_bits, hw.dac_bits), wp, groups, point.n_out,
                          step=step, **common)[0]

    def simulator():
        with blas.limit(limits=1, user_api="blas"):
            return mvm_exact(x, layer)[0]

    def baseline():
        return bitplane_matmul_mvm(x, levels, groups, point.n_out, rows=hw.rows, **common)

    y = kernel()
    fns = {"kernel": kernel, "baseline": baseline}
    if layer is not None:
        fns["simulator"] = simulator
    agree = all(bool(np.array_equal(y, fn())) for fn in fns.values())
    best = _best_times(fns, repeats)
    kernel_s, baseline_s = best["kernel"], best["baseline"]
    simulator_s = best.get("simulator", kernel_s)
    macs = bit_level_macs(point.batch, point.n_in, point.n_out, hw)
    return {
        "batch": point.batch, "n_in": point.n_in, "n_out": point.n_out,
        "bit_level_macs": macs,
        "kernel_s": kernel_s, "baseline_s": baseline_s, "simulator_s": simulator_s,
        "simulator_path": layer.path if layer is not None else "popcount",
        "kernel_macs_per_s": macs / kernel_s, "baseline_macs_per_s": macs / baseline_s,
        "simulator_macs_per_s": macs / simulator_s,
        "speedup": baseline_s / simulator_s, "popcount_speedup": baseline_s / kernel_s, "agree": agree,
    }


def first_call_cost(hw: HardwareConfig) -> dict:
    """Wall time of the first call in this process and whether Numba compiled or loaded its cache."""
    before_misses = sum(_mvm_packed.stats.cache_misses.values())
    x = np.ones((1, 3), dtype=np.int64)
    w = np.ones((3, 2), dtype=np.int64)
    start = time.perf_counter()
    crossbar_mvm(x, w, rows=hw.rows, cell_bits=hw.cell_bits, weight_bits=hw.weight_bits,
                 input_bits=hw.input_bits, dac_bits=hw.dac_bits, adc_bits=hw.adc_bits, mapping=hw.mapping)
    elapsed = time.perf_counter() - start
    compiled = sum(_mvm_packed.stats.cache_misses.values()) > before_misses
    return {"first_call_s": elapsed, "compiled": compiled}


def bench_kernels(hw: HardwareConfig | None = None, point: KernelPoint | None = None,
                  scaling: bool = True, repeats: int = 5) -> dict:
    """The standard point (issue: batch 256, 512x512, 128x128, 8-bit weights on 2-bit cells, 8-bit
    unsigned inputs, 1-bit DAC, 8-bit ADC, differential, 1.75 % / 9.04 % faults) plus a scaling table."""
    from kernels.cpu import cpu_report

    hw = hw or HardwareConfig()
    point = point or KernelPoint()
    first = first_call_cost(hw)
    result = bench_kernel_point(point, hw, repeats)
    result.update(first)
    result.update(cpu_report())  # cpu_model, cpu_name, cpu_features, path: the class this run measured

    result["float_path"] = bench_float_point(point, hw, repeats)
    result["config"] = {"rows": hw.rows, "cols": hw.cols, "cell_bits": hw.cell_bits,
                        "weight_bits": hw.weight_bits, "input_bits": hw.input_bits,
                        "dac_bits": hw.dac_bits, "adc_bits": hw.adc_bits, "mapping": hw.mapping,
                        "sa0_rate": point.sa0_rate, "sa1_rate": point.sa1_rate}
    if scaling:
        table = []
        for size, batch in [(128, 64), (256, 64), (512, 64), (512, 256), (1024, 256), (2048, 64)]:
            p = KernelPoint(batch, size, size, point.sa0_rate, point.sa1_rate)
            row = bench_kernel_point(p, hw, repeats=3)
            table.append({k: row[k] for k in ("batch", "n_in", "n_out", "kernel_macs_per_s", "simulator_macs_per_s",
                                              "baseline_macs_per_s", "speedup", "popcount_speedup", "agree")})
        result["scaling"] = table
    return result


CUDA_BATCHES = (256, 4096, 16384)  # the standard point's batch, then the batches a GPU needs to fill up


def bench_kernels_cuda(hw: HardwareConfig | None = None, point: KernelPoint | None = None,
                       batches: tuple[int, ...] = CUDA_BATCHES, repeats: int = 5, cpu_threads: int = 2) -> dict:
    """The cuda backend against the CPU kernel on the same machine and data, at ``point`` with each batch.

    Per batch: the layer's planes and groups are uploaded once (a chip's preparation, not timed, like the
    CPU side's packing of the levels); each timed call goes from integer inputs to outputs on the host, so
    both sides pack the inputs, and the GPU side also moves them to the device and the outputs back.
    ``cuda_device_s`` times the GPU side from inputs already packed (transfers and kernels only). The CPU
    kernel runs on ``cpu_threads`` Numba threads (the 2-core machine the README's figures come from) and
    on every thread of this machine. ``agree``: the GPU's outputs equal the CPU kernel's bit for bit.
    """
    import numba

    from kernels.cuda import device_name
    from kernels.cuda.mvm import mvm_packed_cuda, to_device

    hw = hw or HardwareConfig(backend="cuda")
    point = point or KernelPoint()
    step = float(full_range_step(hw.rows, hw.cell_bits, hw.dac_bits, hw.adc_bits))
    common = dict(input_bits=hw.input_bits, dac_bits=hw.dac_bits, signed_inputs=False, adc_bits=hw.adc_bits,
                  step=step)
    all_threads = numba.config.NUMBA_NUM_THREADS
    rows = []
    first_call_s = None
    for batch in batches:
        p = dataclasses.replace(point, batch=batch)
        x, _, bitlines, groups = _point_data(p, hw, 0)
        wp = pack_levels(bitlines, hw.rows, hw.cell_bits)
        planes = to_device(wp, groups, p.n_out)
        xp = pack_inputs(x, hw.rows, hw.input_bits, hw.dac_bits)

        def cpu():
            return mvm_packed(pack_inputs(x, hw.rows, hw.input_bits, hw.dac_bits), wp, groups, p.n_out,
                              cell_bits=hw.cell_bits, **common)[0]

        def gpu():
            return mvm_packed_cuda(pack_inputs(x, hw.rows, hw.input_bits, hw.dac_bits), planes, **common)[0]

        def gpu_device():
            return mvm_packed_cuda(xp, planes, **common)[0]

        start = time.perf_counter()
        y_gpu = gpu()  # the first call compiles (or loads the cache)
        if first_call_s is None:
            first_call_s = time.perf_counter() - start
        numba.set_num_threads(min(cpu_threads, all_threads))
        try:
            y_cpu = cpu()
            agree = bool(np.array_equal(y_gpu.view(np.int64), y_cpu.view(np.int64)))
            best = _best_times({"cpu": cpu, "cuda": gpu, "cuda_device": gpu_device}, repeats)
            numba.set_num_threads(all_threads)
            best["cpu_all_threads"] = _best_times({"cpu": cpu}, repeats)["cpu"]
        finally:
            numba.set_num_threads(all_threads)
        macs = bit_level_macs(batch, p.n_in, p.n_out, hw)
        rows.append({
            "batch": batch, "n_in": p.n_in, "n_out": p.n_out, "bit_level_macs": macs, "agree": agree,
            **{f"{name}_s": s for name, s in best.items()},
            **{f"{name}_macs_per_s": macs / s for name, s in best.items()},
            "speedup_vs_cpu": best["cpu"] / best["cuda"],
            "speedup_vs_cpu_all_threads": best["cpu_all_threads"] / best["cuda"],
        })
    from numba import cuda

    return {
        "device": device_name(), "cuda_target": getattr(cuda, "implementation", "unknown"), "numba": numba.__version__,
        "cpu_threads": min(cpu_threads, all_threads), "all_threads": all_threads, "first_call_s": first_call_s,
        "config": {f: getattr(hw, f) for f in ("rows", "cols", "cell_bits", "weight_bits", "input_bits",
                                                "dac_bits", "adc_bits", "mapping")},
        "sa0_rate": point.sa0_rate, "sa1_rate": point.sa1_rate, "points": rows,
        "agree": all(r["agree"] for r in rows),
    }


def network_bit_level_macs(net, n_samples: int) -> int:
    """Bit-level MACs of one pass of ``n_samples`` through a mapped network (copies included)."""
    hw = net.hw
    return sum(n_samples * layout.mvms_per_inference * layout.in_features * layout.bitlines * hw.cycles
               for layout in net.layouts)


def executed_bit_level_macs(net, stats: dict) -> int:
    """Bit-level MACs a pass actually did, from ``run_network``'s per-layer ``stats`` (copies included).

    Exact for any workload, also where the MVMs per sample vary (a transformer's sentence lengths):
    ``conversions = mvms * cycles * row_tiles * bitlines`` and ``MACs = mvms * in * bitlines * cycles``.
    """
    total = 0
    for index, s in stats.items():
        layout = net.layers[index].layout
        total += s.conversions * layout.in_features // layout.row_tiles
    return total


def executed_real_macs(net, stats: dict) -> int:
    """Multiply-accumulates of the layers themselves (``mvms * in * out`` of the mapped matrices, copies
    not counted), from ``run_network``'s per-layer ``stats``: the work a digital accelerator would do."""
    total = 0
    for index, s in stats.items():
        layout = net.layers[index].layout
        mvms = s.conversions // (net.hw.cycles * layout.row_tiles * layout.bitlines)
        total += mvms * layout.in_features * layout.out_features
    return total


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, MiB (Linux reports ``ru_maxrss`` in KiB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_eval(workload_name: str, hw: HardwareConfig | None = None, repeats: int = 5,
               sa0_rate: float = CHEN2015["sa0_rate"], sa1_rate: float = CHEN2015["sa1_rate"], samples: int | None = None) -> dict:
    """End-to-end simulated inference (whole test split, one chip: fault sampling, packing, im2col, the
    per-layer statistics (saturation, output error against the ideal layer) an evaluation records,
    quantisation, every layer) against the raw kernel throughput at the standard point, both on
    ``hw.backend``. ``samples``: that many inputs per chip run instead, the test split repeated (a
    throughput figure: a GPU needs larger batches than a test split may hold)."""
    if samples is not None and (isinstance(samples, bool) or not isinstance(samples, int) or samples < 1):
        raise ValueError(f"samples must be an integer >= 1 or None (the test split), got {samples!r}")
    with threadpool_limits(1, user_api="blas"):  # idle BLAS threads spinning would steal Numba's cores
        return _bench_eval(workload_name, hw, repeats, sa0_rate, sa1_rate, samples)


def _bench_eval(workload_name, hw, repeats, sa0_rate, sa1_rate, samples) -> dict:
    from dse.mapping import map_network
    from dse.simulate import chip_layers, run_network
    from dse.workloads import load_workload

    hw = hw or HardwareConfig()
    workload = load_workload(workload_name)
    start = time.perf_counter()
    net = map_network(workload, hw)
    map_s = time.perf_counter() - start
    faults = FaultScenario(sa0_rate, sa1_rate, n_chips=1)
    x, y = workload.x_test, workload.y_test
    if samples is not None:
        repeat = np.arange(samples) % len(x)
        x, y = x[repeat], y[repeat]

    def one_chip(stats=None, kernel_s=None):
        return workload.score(run_network(net, chip_layers(net, faults, 0), x, stats, kernel_s), y)

    stats: dict = {}
    one_chip(stats)  # warm-up (compilation or cache loading is not throughput); counts the MVMs done
    chip_s, kernel_s, runs, spent = float("inf"), 0.0, 0, 0.0
    # Best chip time, and how much of that run was inside the kernels: at least ``repeats`` runs, more (up
    # to 50) while they take under a second in all, so a short chip's best time survives a busy machine.
    while runs < repeats or (runs < 50 and spent < 1.0):
        inside = [0.0]
        start = time.perf_counter()
        one_chip({}, inside)  # with the per-layer statistics, as every chip of an evaluation has them
        elapsed = time.perf_counter() - start
        runs, spent = runs + 1, spent + elapsed
        if elapsed < chip_s:
            chip_s, kernel_s = elapsed, inside[0]
    macs = executed_bit_level_macs(net, stats)
    real = executed_real_macs(net, stats)
    layers = chip_layers(net, faults, 0)
    exact_layers = sum(layer.exact is not None for layer in layers.values())
    paths: dict[str, int] = {}
    for layer in layers.values():
        path = layer.exact.path if layer.exact is not None else "popcount" if layer.analog is None else "float"
        paths[path] = paths.get(path, 0) + 1
    clipped = [layer.exact.clipped.count for layer in layers.values()
               if layer.exact is not None and layer.exact.clipped is not None and not layer.exact.clipped.parity]
    if hw.backend == "cuda":  # the same backend's kernel at the standard point
        point = bench_kernels_cuda(hw, batches=(KernelPoint().batch,), repeats=3)["points"][0]
        raw = {"kernel_macs_per_s": point["cuda_macs_per_s"]}
    else:
        # The standard point at this hardware's sizes and the full range (the baseline has no calibration
        # and no flipping; the popcount kernel's speed hardly depends on the range).
        raw = bench_kernel_point(KernelPoint(), dataclasses.replace(hw, adc_range="full", weight_flip=False),
                                 repeats=3)
    end_to_end = macs / chip_s
    return {
        "workload": workload_name, "backend": hw.backend, "test_samples": int(len(x)), "examples": int(len(x)),
        "bit_level_macs": macs, "real_macs": real, "real_macs_per_s": real / chip_s,
        # Which path the chip's layers took: exact products where the ADC is lossless, else the kernels.
        "exact_layers": exact_layers, "layers": len(layers), "paths": paths,
        # (row tile, bit line) pairs of the exact layers that the ADC can clip on this chip (kernels.clipped):
        # counted by popcount, every other pair is an exact product.
        "clipped_layers": len(clipped), "clipped_pairs": int(sum(clipped)),
        "pairs": sum(m.layout.row_tiles * m.layout.bitlines for m in net.layers.values()),
        "map_s": map_s, "chip_s": chip_s, "chip_runs": runs, "end_to_end_macs_per_s": end_to_end,
        # Chip time scaled to 1,000 test samples (linear in samples: every sample is its own MVMs); what a
        # study's max_test buys, e.g. for the text workloads whose chips take seconds per sample.
        "chip_s_per_1000_samples": chip_s * 1000.0 / len(x),
        "kernel_macs_per_s": raw["kernel_macs_per_s"],
        "fraction_of_kernel": end_to_end / raw["kernel_macs_per_s"],
        # The same chip split: time inside the crossbar kernels (short-tile tables included) on this
        # network's own layer shapes against everything around them.
        "kernel_share_of_chip": kernel_s / chip_s,
        "layer_kernel_macs_per_s": macs / kernel_s if kernel_s > 0 else float("nan"),
        "accuracy_one_chip": one_chip(),
        "peak_rss_mb": peak_rss_mb(),  # the whole process: workload, mapping, a chip's layers and its run
    }


def _untiled(a: np.ndarray, n_in: int, rows: int) -> np.ndarray:
    """(in, B) from the float path's row-tiled (tiles, H, B) layout."""
    return np.concatenate([a[t, :min(rows, n_in - t * rows)] for t in range(a.shape[0])])


def bench_float_point(point: KernelPoint, hw: HardwareConfig, repeats: int = 5, seed: int = 0) -> dict:
    """Throughput of the float path next to the integer path and numpy baselines.

    Same data as :func:`dse.experiments.bench.bench_kernel_point` (sliced, faulted levels from ``seed``; per-chip
    preparation not timed; timed from integer inputs to outputs, in turns, best of ``repeats`` each):
    ``integer`` (popcount kernel), ``float_exact`` (float path, every effect zero; checked equal to the
    integer path), ``float_variation`` (5 % programming variation, on/off ratio 10: static effects),
    ``float_noise`` (the same plus 2 % read noise, one normal draw per conversion). Baselines:
    ``baseline`` is the numpy bit-plane product of the integer model (what every ``*_vs_baseline``
    ratio divides); ``baseline_float`` and ``baseline_noise`` are the same numpy formulation of the float
    model with variation, without and with read noise (:func:`kernels.baseline.bitplane_float_mvm`),
    the like-for-like reference of ``float_variation`` and ``float_noise`` (``*_vs_numpy_float``).
    """
    from dse.simulate.analog import chip_planes
    from dse.config import AnalogEffects
    from kernels.analog import mvm_float
    from kernels.baseline import bitplane_float_mvm

    x, fault_map, bitlines, groups = _point_data(point, hw, seed)
    stuck = plain_bitlines(fault_map, hw.cell_bits, hw.mapping)[0]
    kw = dict(rows=hw.rows, input_bits=hw.input_bits, dac_bits=hw.dac_bits, cell_bits=hw.cell_bits,
              signed_inputs=False, adc_bits=hw.adc_bits, mapping=hw.mapping, weight_bits=hw.weight_bits,
              step=float(full_range_step(hw.rows, hw.cell_bits, hw.dac_bits, hw.adc_bits)))
    planes = {
        name: chip_planes(bitlines, stuck, hw, effects, seed, 0, 0)
        for name, effects in (("float_exact", AnalogEffects()),
                              ("float_variation", AnalogEffects(variation=0.05, on_off_ratio=10.0)),
                              ("float_noise", AnalogEffects(variation=0.05, read_noise=0.02, on_off_ratio=10.0)))
    }
    wp = pack_levels(bitlines, hw.rows, hw.cell_bits)
    paths = {"integer": lambda: mvm_int(x, wp, groups, point.n_out, **kw)[0]}
    for name, p in planes.items():
        paths[name] = lambda p=p: mvm_float(x, p, groups, point.n_out, **kw)[0]
    common = dict(rows=hw.rows, cell_bits=hw.cell_bits, input_bits=hw.input_bits, dac_bits=hw.dac_bits,
                  adc_bits=hw.adc_bits, signed_inputs=False)
    levels = baseline_levels(bitlines, hw.rows, hw.cell_bits, hw.dac_bits)
    paths["baseline"] = lambda: bitplane_matmul_mvm(x, levels, groups, point.n_out, **common)
    noisy = planes["float_noise"]
    g = _untiled(noisy.g, point.n_in, hw.rows)
    noise_var = _untiled(noisy.noise_var, point.n_in, hw.rows)
    rng = np.random.default_rng(seed)
    paths["baseline_float"] = lambda: bitplane_float_mvm(x, g, None, groups, point.n_out, **common)
    paths["baseline_noise"] = lambda: bitplane_float_mvm(x, g, noise_var, groups, point.n_out, rng=rng, **common)
    outputs = {name: fn() for name, fn in paths.items()}  # warm-up, and the outputs to compare
    best = _best_times(paths, repeats)
    macs = bit_level_macs(point.batch, point.n_in, point.n_out, hw)
    result = {f"{name}_s": s for name, s in best.items()}
    result.update({f"{name}_macs_per_s": macs / s for name, s in best.items()})
    result.update({f"{name}_vs_baseline": best["baseline"] / best[name]
                   for name in ("integer", "float_exact", "float_variation", "float_noise")})
    result["float_variation_vs_numpy_float"] = best["baseline_float"] / best["float_variation"]
    result["float_noise_vs_numpy_float"] = best["baseline_noise"] / best["float_noise"]
    result["float_exact_agrees"] = bool(np.array_equal(outputs["float_exact"], outputs["integer"]))
    # Float sums in another order can round a conversion the other way: report how many outputs differ.
    result["numpy_float_mismatch"] = float(np.mean(outputs["float_variation"] != outputs["baseline_float"]))
    return result


# --------------------------------------------------------------------------------------------------
# Studies (called by `dse bench study`)
# --------------------------------------------------------------------------------------------------

def bench_study(study: str | Path = "studies/quickstart.toml", *, trials: int | None = 16,
                workers: tuple[int, ...] = (1, 2), objective: ObjectiveFn | None = None) -> dict:
    """Trials per minute of a study with 1, 2, ... workers, each run from scratch in a temp folder.

    ``trials`` overrides the study's budget (None keeps it); the timeout is dropped so every run does
    the same work. Start-up (spawning workers, loading the workload) counts, as it does for users.
    Returns ``{"study", "trials", "runs": [{"workers", "trials", "wall_s", "trials_per_min"}]}``.
    """
    from dse.study import load_study, run_study  # the study stack only for this benchmark

    spec = dataclasses.replace(load_study(study).with_overrides(trials=trials), timeout_s=None)
    runs = []
    for count in workers:
        with tempfile.TemporaryDirectory(prefix="dse-bench-") as tmp:
            summary = run_study(spec, workers=count, results=tmp, objective=objective, progress=False)
        done = sum(s.new_trials for s in summary.scenarios)
        wall = sum(s.wall_s for s in summary.scenarios)
        runs.append({"workers": count, "trials": done, "wall_s": wall,
                     "trials_per_min": 60.0 * done / wall if wall else 0.0})
    return {"study": spec.name, "trials": spec.trials, "runs": runs}
