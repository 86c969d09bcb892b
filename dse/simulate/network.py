"""Hardware-simulated inference over many chips: the accuracy objective of every study.

A chip is one Monte Carlo sample of stuck-at faults: every mapped layer gets its own fault map over its
physical cells, drawn from the generator seeded by ``(seed, chip, layer index)``. Chips are therefore
independent of each other, of their order and of how many processes evaluate them. Non-linear layers
(ReLU, pooling, flatten) run digitally in float; activations entering a crossbar are quantised to
``input_bits``. The network is walked by ``Workload.forward_with``, so a workload that is not a plain
layer sequence (the transformer) runs the same way: its crossbar layers go through the crossbars, the
rest stays digital. What "accuracy" means is the workload's ``score`` (argmax accuracy for a
classifier); further numbers a workload reports (``Workload.metrics``) are kept per chip as well.
"""
from __future__ import annotations

import dataclasses
import math
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from dse.simulate.analog import chip_planes
from dse.simulate.chips import sample_chip_faults
from dse.simulate.sharing import SharedHandle, SharedObject, attach
from dse.config import AnalogEffects, FaultScenario, HardwareConfig, Protection
from dse.layout import LayerLayout
from dse.mapping import MappedNetwork, map_network
from dse.workloads.workload import Workload
from dse.workloads.layers import Conv2d, Linear
from kernels import BitlineGroups, apply_faults, mvm_int, mvm_packed, pack_inputs, pack_levels
from kernels.crossbar import offset_corrected
from kernels.cuda import require_cuda
from kernels.analog import AnalogPlanes, mvm_float
from kernels.exact import (
    MAX_CLIPPED, ExactLayer, exact_input_dtype, exact_layer, integer_matmul, largest_input, layer_ints, mvm_exact,
)
from kernels.flip import flipped_levels, logical_faults
from kernels.layer_io import dequantize_fold, dequantize_fold_pool, pack_layer_inputs


@dataclass(frozen=True)
class ChipLayer:
    """One mapped layer on one chip: packed (faulty) cell planes and the groups that read them.

    With analog effects the layer runs on the float path: ``analog`` holds its conductances and ADC
    errors (``kernels.analog``) and ``wp`` is None. Where its ADC cannot lose information on this chip,
    ``exact`` holds it as exact products (``kernels.exact``, the same bits as the popcount kernel) and ``wp``
    is None. On the ``cuda`` backend ``device`` holds the planes and groups, or the exact form, on the GPU
    (``kernels.cuda``), uploaded once for all of the chip's batches.
    """

    wp: np.ndarray | None
    groups: BitlineGroups
    analog: AnalogPlanes | None = None
    device: object | None = None
    exact: ExactLayer | None = None


def chip_layers(net: MappedNetwork, faults: FaultScenario | None, chip: int | None,
                analog: AnalogEffects | None = None, exact: bool = True) -> dict[int, ChipLayer]:
    """Sample chip ``chip``'s fault maps and pack every layer; ``chip=None`` is the fault-free chip.

    A layer whose ADC cannot lose information on this chip (and whose vote the exact path takes) becomes
    exact products instead of packed planes (``kernels.exact``: bit for bit the popcount kernel's result);
    ``exact=False`` packs every layer.

    A layer with a per-chip hook (a protection that uses the tested fault map) is programmed from the
    stuck cells the test found; those it missed and those failing after it (``dse.simulate.chips``) are
    applied to what it programmed. With ``analog`` effects (any active) or a ``stuck_level_spread``,
    layers get the chip's analog draws on top of its faults (``dse.simulate.analog``) and run on the float path;
    the fault-free chip stays ideal.
    """
    hw = net.hw
    with_analog = (chip is not None and faults is not None
                   and ((analog is not None and analog.active) or faults.stuck_level_spread > 0))
    result = _pack_chip(net, faults, chip, analog, with_analog, exact)
    if hw.backend == "cuda":  # each layer's planes, or its exact form, uploaded once for the whole chip
        from kernels.cuda.exact import exact_to_device
        from kernels.cuda.mvm import to_device

        result = {index: dataclasses.replace(layer, device=exact_to_device(layer.exact) if layer.exact is not None
                                             else to_device(layer.wp, layer.groups, net.layers[index].n_out))
                  for index, layer in result.items()}
    return result


def _pack_chip(net: MappedNetwork, faults: FaultScenario | None, chip: int | None, analog: AnalogEffects | None,
               with_analog: bool, exact: bool) -> dict[int, ChipLayer]:
    hw = net.hw
    result = {}
    for index, mapped in net.layers.items():
        levels, groups = mapped.bitline_levels, mapped.groups
        flip = groups.flip  # weight flipping: cells store the complement there, faults hit what is stored
        fault_map = None
        if chip is not None and faults is not None and faults.total_rate > 0:  # post_test_rate needs one too
            stuck = sample_chip_faults(levels.shape, faults, chip, index, hw.rows)
            fault_map = stuck.actual
            if mapped.chip_hook is None and not with_analog:  # faults applied while packing: one pass
                stored = flipped_levels(levels, flip, hw.rows, hw.cell_bits)
                result[index] = _integer_layer(mapped, hw, stored, groups, fault_map, exact)
                continue
            # Protection reasons about logical levels: a stuck stored cell of a flipped bit line reads as the
            # other extreme there.
            if mapped.chip_hook is None:
                levels = apply_faults(levels, logical_faults(fault_map, flip, hw.rows), hw.cell_bits)
            else:
                known = logical_faults(stuck.known, flip, hw.rows)
                unseen = logical_faults(stuck.unseen, flip, hw.rows) if faults.hidden_faults else None
                levels, groups, fault_map = mapped.chip_hook(apply_faults(levels, known, hw.cell_bits), known,
                                                             unseen=unseen)
                fault_map = logical_faults(fault_map, flip, hw.rows)  # back to the stored cells' faults
        stored = flipped_levels(levels, flip, hw.rows, hw.cell_bits)
        if with_analog:
            planes = chip_planes(stored, fault_map, hw, analog or AnalogEffects(), faults.seed, chip, index,
                                 stuck_level_spread=faults.stuck_level_spread)
            result[index] = ChipLayer(None, groups, planes)
            continue
        result[index] = _integer_layer(mapped, hw, stored, groups, None, exact)
    return result


def _integer_layer(mapped, hw: HardwareConfig, stored: np.ndarray, groups: BitlineGroups,
                   fault_map: np.ndarray | None, exact: bool) -> ChipLayer:
    """The exact form of a layer where it has one (and ``exact``), else its packed planes."""
    if exact:
        layer = exact_layer(stored, groups, mapped.n_out, rows=hw.rows, cell_bits=hw.cell_bits, dac_bits=hw.dac_bits,
                            adc_bits=hw.adc_bits, step=mapped.adc_step, input_bits=hw.input_bits,
                            signed_inputs=mapped.signed_inputs, faults=fault_map,
                            max_clipped=MAX_CLIPPED if hw.backend == "cpu" else 0.0,  # no GPU excess kernel,
                            rounding=hw.backend == "cpu")  # nor a rounding one
        if layer is not None:
            return ChipLayer(None, groups, exact=layer)
    return ChipLayer(pack_levels(stored, hw.rows, hw.cell_bits, faults=fault_map), groups)


@dataclass
class LayerStats:
    """Running per-layer statistics over the chips of one evaluation."""

    conversions: int = 0
    saturated: int = 0
    error_sum: float = 0.0
    runs: int = 0

    def add(self, conversions: int, saturated: int, relative_error: float) -> None:
        self.conversions += conversions
        self.saturated += saturated
        self.error_sum += relative_error
        self.runs += 1


def run_network(net: MappedNetwork, chip: dict[int, ChipLayer], x: np.ndarray,
                stats: dict[int, LayerStats] | None = None, kernel_s: list[float] | None = None) -> np.ndarray:
    """Network outputs (logits (N, classes) for a classifier) of inputs ``x`` (N, *input_shape) on one chip.

    With ``stats``, each crossbar layer records its ADC saturation and its output error relative to the
    ideal quantised layer ``x_int @ w_int`` on the same inputs. With ``kernel_s`` (a one-element list),
    the seconds spent inside the crossbar kernels are added to it (the benchmark's split of a chip's time).
    """
    hw = net.hw

    def crossbar(index: int, layer, x: np.ndarray, relu: bool = False, pool=None) -> np.ndarray:
        mapped = net.layers.get(index)
        if mapped is None:
            out = layer.forward(x)
            out = np.maximum(out, 0.0) if relu else out
            return pool.forward(out) if pool is not None else out
        n = x.shape[0]
        out_hw = layer.output_hw(*x.shape[2:]) if hasattr(layer, "output_hw") else None
        on_chip = chip[index]
        gather = mapped.input_index(layer, x.shape[1:]) if on_chip.analog is None else None
        start = 0.0
        if on_chip.exact is not None:
            if gather is not None:  # quantise + im2col in one pass, as the packed path does
                x_int = layer_ints(x.reshape(n, -1), gather, scale=mapped.x_scale, input_bits=hw.input_bits,
                                   signed=mapped.signed_inputs, dtype=exact_input_dtype(on_chip.exact))
            else:
                x_int = mapped.quantize_inputs(layer.im2col(x), hw)
            start = time.perf_counter()
            if on_chip.device is not None:
                from kernels.cuda.exact import mvm_exact_cuda

                y_int, saturated = mvm_exact_cuda(x_int, on_chip.device), 0
            else:
                y_int, saturated = mvm_exact(x_int, on_chip.exact)
            if kernel_s is not None:
                kernel_s[0] += time.perf_counter() - start
            if hw.mapping == "offset":  # as mvm_int does it, on the same integers
                y_int -= float(1 << (hw.weight_bits - 1)) * x_int.sum(axis=1, dtype=np.float64)[:, None]
        elif gather is not None:
            # Integer path, one pass each way: quantise + im2col + pack, the kernel, dequantise + fold.
            xp, row_sums, x_int = pack_layer_inputs(
                x.reshape(n, -1), gather, scale=mapped.x_scale, input_bits=hw.input_bits,
                signed=mapped.signed_inputs, rows=hw.rows, dac_bits=hw.dac_bits,
                want_sums=hw.mapping == "offset", want_ints=stats is not None)
            start = time.perf_counter()
            y_int, saturated = _mvm_packed_on(on_chip, xp, mapped, hw)
            if kernel_s is not None:
                kernel_s[0] += time.perf_counter() - start
            if hw.mapping == "offset":  # as mvm_int does it
                y_int -= float(1 << (hw.weight_bits - 1)) * row_sums[:, None]
        else:
            x_int = mapped.quantize_inputs(layer.im2col(x), hw)
            start = time.perf_counter()
            if on_chip.device is not None:
                y_int, saturated = _mvm_packed_on(
                    on_chip, pack_inputs(x_int, hw.rows, hw.input_bits, hw.dac_bits), mapped, hw)
                offset_corrected(y_int, x_int, hw.mapping, hw.weight_bits)
            else:
                kernel, cells = (mvm_int, on_chip.wp) if on_chip.analog is None else (mvm_float, on_chip.analog)
                y_int, saturated = kernel(
                    x_int, cells, on_chip.groups, mapped.n_out, rows=hw.rows, input_bits=hw.input_bits,
                    dac_bits=hw.dac_bits, cell_bits=hw.cell_bits, signed_inputs=mapped.signed_inputs,
                    adc_bits=hw.adc_bits, step=mapped.adc_step, mapping=hw.mapping, weight_bits=hw.weight_bits,
                )
            if kernel_s is not None:
                kernel_s[0] += time.perf_counter() - start
        if stats is not None:
            ideal = integer_matmul(x_int, mapped.w_int, largest_input(hw.input_bits, mapped.signed_inputs))
            if ideal is None:  # too wide for exact float products: the float64 product's rounding, as ever
                ideal = x_int.astype(np.float64) @ mapped.w_int.astype(np.float64)
            norm = float(np.linalg.norm(ideal))
            error = float(np.linalg.norm(y_int - ideal)) / norm if norm > 0 else 0.0
            conversions = x_int.shape[0] * hw.cycles * mapped.layout.row_tiles * mapped.layout.bitlines
            stats.setdefault(index, LayerStats()).add(conversions, saturated, error)
        return _layer_output(mapped, layer, y_int, n, out_hw, relu, pool)

    return net.workload.forward_with(x, crossbar, fuse=True)


def _mvm_packed_on(on_chip: ChipLayer, xp: np.ndarray, mapped, hw: HardwareConfig) -> tuple[np.ndarray, int]:
    """The layer's packed inputs through its crossbars, on the GPU when the chip's layer is there."""
    kw = dict(input_bits=hw.input_bits, dac_bits=hw.dac_bits, signed_inputs=mapped.signed_inputs,
              adc_bits=hw.adc_bits, step=mapped.adc_step)
    if on_chip.device is not None:
        from kernels.cuda.mvm import mvm_packed_cuda

        return mvm_packed_cuda(xp, on_chip.device, **kw)
    return mvm_packed(xp, on_chip.wp, on_chip.groups, mapped.n_out, cell_bits=hw.cell_bits, **kw)


def _layer_output(mapped, layer, y_int: np.ndarray, n: int, out_hw, relu: bool = False, pool=None) -> np.ndarray:
    """``layer.fold(mapped.dequantize(y_int) + layer.bias)``, through ``np.maximum(., 0.0)`` with ``relu``
    and then ``pool`` (a :class:`MaxPool2d`, or None): in one compiled pass for the folds of :class:`Linear`
    and :class:`Conv2d` (same values, bit for bit; pooling only after a convolution), else as written."""
    fold = type(layer).fold
    if pool is not None:
        if fold is Conv2d.fold and out_hw is not None and pool.kernel <= min(out_hw):
            return dequantize_fold_pool(y_int, mapped.x_scale * mapped.w_scale, mapped.keep_cols, layer.bias,
                                        layer.out_features, out_hw, relu, pool.kernel, pool.stride)
        return pool.forward(_layer_output(mapped, layer, y_int, n, out_hw, relu))
    if fold is Conv2d.fold and out_hw is not None:
        out = dequantize_fold(y_int, mapped.x_scale * mapped.w_scale, mapped.keep_cols, layer.bias,
                              layer.out_features, out_hw[0] * out_hw[1], channels_first=True, relu=relu)
        return out.reshape(n, layer.out_features, *out_hw)
    if fold is Linear.fold:
        out = dequantize_fold(y_int, mapped.x_scale * mapped.w_scale, mapped.keep_cols, layer.bias,
                              layer.out_features, 1, channels_first=False, relu=relu)
        return layer.fold(out.reshape(y_int.shape[0], layer.out_features), n, out_hw)
    y = layer.fold(mapped.dequantize(y_int, layer.out_features) + layer.bias, n, out_hw)
    return np.maximum(y, 0.0) if relu else y


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(logits.argmax(axis=-1) == labels))


@dataclass(frozen=True)
class EvalResult:
    """Accuracy of one design point over its chips, with per-layer statistics.

    accuracy_ci95 is the half-width of the 95 % confidence interval of the mean (Student t over chips;
    NaN with a single chip). Accuracies are fractions in [0, 1], as the workload's ``score`` defines them.
    metrics_per_chip, ideal_metrics, float_metrics: the workload's further numbers (``Workload.metrics``,
    e.g. the transformer's ``cosine_fidelity``) per chip, on the fault-free chip and for the float model;
    empty for a classifier.
    """

    workload: str
    float_accuracy: float
    ideal_accuracy: float
    accuracy_per_chip: np.ndarray
    layers: pd.DataFrame
    layouts: list[LayerLayout]
    hw: HardwareConfig
    faults: FaultScenario
    protection: Protection
    wall_s: float
    ideal_layers: pd.DataFrame = field(repr=False, default=None)
    analog: AnalogEffects | None = None
    metrics_per_chip: dict = field(default_factory=dict)
    ideal_metrics: dict = field(default_factory=dict)
    float_metrics: dict = field(default_factory=dict)

    def metric_mean(self, name: str) -> float:
        """Mean over chips of the workload metric ``name``."""
        return float(np.mean(self.metrics_per_chip[name]))

    @property
    def chips(self) -> int:
        return len(self.accuracy_per_chip)

    @property
    def accuracy_mean(self) -> float:
        return float(np.mean(self.accuracy_per_chip))

    @property
    def accuracy_std(self) -> float:
        return float(np.std(self.accuracy_per_chip, ddof=1)) if self.chips > 1 else 0.0

    @property
    def accuracy_ci95(self) -> float:
        if self.chips < 2:
            return float("nan")
        from scipy.stats import t  # scipy comes with scikit-learn

        return float(t.ppf(0.975, self.chips - 1) * self.accuracy_std / math.sqrt(self.chips))

    @property
    def crossbars(self) -> int:
        return sum(layout.crossbars for layout in self.layouts)

    @property
    def adc_conversions(self) -> int:
        return sum(layout.adc_conversions(self.hw) for layout in self.layouts)

    @property
    def extra_adc_conversions(self) -> int:
        """Conversions per inference spent on copy bit lines (duplication, MSB embedding, spares)."""
        return sum(layout.mvms_per_inference * self.hw.cycles * layout.row_tiles * layout.copy_bitlines
                   for layout in self.layouts)

    def to_dict(self) -> dict:
        """Flat, JSON-ready summary (NaN becomes None)."""
        def clean(value):
            return None if isinstance(value, float) and math.isnan(value) else value

        return {
            "workload": self.workload,
            "float_accuracy": self.float_accuracy,
            "ideal_accuracy": self.ideal_accuracy,
            "accuracy_mean": self.accuracy_mean,
            "accuracy_std": self.accuracy_std,
            "accuracy_ci95": clean(self.accuracy_ci95),
            "accuracy_per_chip": [float(a) for a in self.accuracy_per_chip],
            "n_chips": self.chips,  # the names of the FaultScenario field and the Parquet columns
            "crossbars": self.crossbars,
            "adc_conversions": self.adc_conversions,
            "extra_adc_conversions": self.extra_adc_conversions,
            "sa0_rate": self.faults.sa0_rate,
            "sa1_rate": self.faults.sa1_rate,
            "fault_model": self.faults.fault_model,
            "seed": self.faults.seed,
            "test_escape_rate": self.faults.test_escape_rate,
            "post_test_rate": self.faults.post_test_rate,
            "stuck_level_spread": self.faults.stuck_level_spread,
            "needs_fault_map": self.protection.needs_fault_map,
            "hardware": {f.name: getattr(self.hw, f.name) for f in dataclasses.fields(self.hw)},  # not ALLOWED
            "protect": {f.name: getattr(self.protection, f.name) for f in dataclasses.fields(self.protection)},
            "analog": (self.analog or AnalogEffects()).to_dict(),
            "wall_time_s": self.wall_s,
            "layers": [{k: clean(v) for k, v in row.items()} for row in self.layers.to_dict("records")],
            "metrics": {
                name: {"float": clean(self.float_metrics.get(name, float("nan"))),
                       "ideal": clean(self.ideal_metrics.get(name, float("nan"))),
                       "mean": clean(self.metric_mean(name)) if len(values) else None,
                       "per_chip": [clean(float(v)) for v in values]}
                for name, values in self.metrics_per_chip.items()
            },
        }


def _layer_table(net: MappedNetwork, stats: dict[int, LayerStats]) -> pd.DataFrame:
    rows = []
    for index, mapped in net.layers.items():
        s = stats.get(index, LayerStats())
        rows.append({
            "name": mapped.name,  # the columns named as in a study's layers table (dse.study.schema)
            "in_features": mapped.layout.in_features,
            "out_features": mapped.layout.out_features,
            "layer_crossbars": mapped.layout.crossbars,
            "bitlines": mapped.layout.bitlines,
            "copy_bitlines": mapped.layout.copy_bitlines,
            "adc_step": mapped.adc_step,
            "adc_saturation": s.saturated / s.conversions if s.conversions else 0.0,
            "output_error": s.error_sum / s.runs if s.runs else float("nan"),
        })
    return pd.DataFrame(rows)


def _chip_run(net: MappedNetwork, faults: FaultScenario, chip: int, x: np.ndarray, y: np.ndarray,
              workload: Workload, analog: AnalogEffects | None = None):
    """(chip, score, per-layer stats, metrics); ``workload`` (the unpruned one) judges the outputs."""
    stats: dict[int, LayerStats] = {}
    outputs = run_network(net, chip_layers(net, faults, chip, analog), x, stats)
    return chip, workload.score(outputs, y), stats, workload.metrics(outputs, x, y)


def _init_worker(shared: SharedHandle | None = None) -> None:
    import numba

    numba.set_num_threads(1)  # processes already use the cores; threads inside them would oversubscribe
    if shared is not None:
        attach(shared)


def _shared_chip_run(shared: SharedHandle, chip: int):
    """:func:`_chip_run` of chip ``chip`` on the evaluation's shared (net, faults, x, y, workload, analog)."""
    net, faults, x, y, workload, analog = attach(shared)
    return _chip_run(net, faults, chip, x, y, workload, analog)


def check_backend_runs(hw: HardwareConfig, faults: FaultScenario, analog: AnalogEffects | None = None) -> None:
    """Refuse, before any work, what ``hw.backend`` cannot simulate or cannot run here: the float path
    (analog effects, stuck levels off the ideal ones) has no GPU version, and ``cuda`` needs a GPU."""
    if hw.backend == "cpu":
        return
    if analog is not None and analog.active:
        raise ValueError(f"backend must be cpu with analog effects (their float path has no GPU version), "
                         f"got {hw.backend!r}")
    if faults.stuck_level_spread > 0:
        raise ValueError(f"stuck_level_spread must be 0 with backend {hw.backend!r} (spread stuck levels run on "
                         f"the CPU float path), got {faults.stuck_level_spread}")
    require_cuda()


def evaluate(
    workload: Workload,
    hw: HardwareConfig,
    faults: FaultScenario,
    protection: Protection | None = None,
    *,
    chips: list[int] | None = None,
    workers: int = 1,
    max_test: int | None = None,
    progress: bool = False,
    mapped: MappedNetwork | None = None,
    analog: AnalogEffects | None = None,
) -> EvalResult:
    """Map ``workload`` once, then run the test split on every simulated chip.

    chips     chip indices to simulate (default ``range(faults.n_chips)``); chip ``c``'s faults depend
              only on ``(faults.seed, c)``, so any subset, order or worker count gives the same numbers
    workers   processes simulating chips in parallel (1 = in this process)
    max_test  evaluate only the first ``max_test`` test samples (quick looks; studies use all)
    mapped    the network already mapped by ``map_network(workload, hw, protection)`` (sweeps reuse it)
    analog    analog non-idealities of every chip (default none: the exact integer path); the ideal
              accuracy stays that of the fault-free, effect-free chip
    """
    if analog is not None:
        analog.check(hw)
    if max_test is not None and (isinstance(max_test, bool) or not isinstance(max_test, int) or max_test < 1):
        raise ValueError(f"max_test must be an integer >= 1 (test samples) or None (all), got {max_test!r}")
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise ValueError(f"workers must be an integer >= 1, got {workers!r}")
    check_backend_runs(hw, faults, analog)
    with threadpool_limits(1, user_api="blas"):  # idle BLAS threads spinning would steal Numba's cores
        return _evaluate(workload, hw, faults, protection, chips, workers, max_test, progress, mapped, analog)


def _evaluate(workload, hw, faults, protection, chips, workers, max_test, progress, mapped, analog) -> EvalResult:
    start = time.perf_counter()
    protection = protection or Protection()
    net = mapped if mapped is not None else map_network(workload, hw, protection)
    x, y = workload.x_test[:max_test], workload.y_test[:max_test]
    ideal_stats: dict[int, LayerStats] = {}
    ideal_outputs = run_network(net, chip_layers(net, None, None), x, ideal_stats)
    ideal = workload.score(ideal_outputs, y)
    ideal_metrics = workload.metrics(ideal_outputs, x, y)
    chip_ids = list(range(faults.n_chips)) if chips is None else list(chips)
    per_chip: dict[int, float] = {}
    chip_metrics: dict[int, dict[str, float]] = {}
    stats: dict[int, LayerStats] = {}

    def merge(chip_stats: dict[int, LayerStats]) -> None:
        for index, s in chip_stats.items():
            total = stats.setdefault(index, LayerStats())
            total.conversions += s.conversions
            total.saturated += s.saturated
            total.error_sum += s.error_sum
            total.runs += s.runs

    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(chip_ids), desc=f"{workload.name} chips", unit="chip", leave=False)
    if faults.total_rate == 0 and (analog is None or not analog.active):
        # Without faults or analog effects every chip is the fault-free chip, bit for bit (chip_layers
        # draws nothing and attaches no hook): its outputs stand for each of them.
        for c in chip_ids:
            per_chip[c], chip_metrics[c] = ideal, ideal_metrics
            merge(ideal_stats)
    elif workers > 1 and len(chip_ids) > 1:
        # One copy of the workload and the mapped network for all workers (dse.simulate.sharing): each chip
        # is then one small task, not the whole workload pickled again.
        context = multiprocessing.get_context("spawn")
        with SharedObject((net, faults, x, y, workload, analog)) as shared, ProcessPoolExecutor(
                workers, mp_context=context, initializer=_init_worker, initargs=(shared.handle,)) as pool:
            futures = [pool.submit(_shared_chip_run, shared.handle, c) for c in chip_ids]
            for future in futures:
                chip, acc, chip_stats, chip_metrics[chip] = future.result()
                per_chip[chip] = acc
                merge(chip_stats)
                if bar:
                    bar.update()
    else:
        for c in chip_ids:
            chip, acc, chip_stats, chip_metrics[chip] = _chip_run(net, faults, c, x, y, workload, analog)
            per_chip[chip] = acc
            merge(chip_stats)
            if bar:
                bar.update()
    if bar:
        bar.close()
    float_outputs = workload.forward(x)
    return EvalResult(
        workload=workload.name,
        float_accuracy=workload.score(float_outputs, y),
        ideal_accuracy=ideal,
        accuracy_per_chip=np.array([per_chip[c] for c in chip_ids]),
        layers=_layer_table(net, stats if chip_ids else ideal_stats),
        layouts=net.layouts,
        hw=hw,
        faults=faults,
        protection=protection,
        wall_s=time.perf_counter() - start,
        ideal_layers=_layer_table(net, ideal_stats),
        analog=analog,
        metrics_per_chip={name: np.array([chip_metrics[c][name] for c in chip_ids]) for name in ideal_metrics},
        ideal_metrics=ideal_metrics,
        float_metrics=workload.metrics(float_outputs, x, y),
    )
