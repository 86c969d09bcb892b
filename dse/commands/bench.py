"""``dse bench kernels|eval|study``: throughput as a ratio against a baseline in the same process."""
from __future__ import annotations

import json

from dse.cli_options import add_hardware_options, count, hardware_from_args


def _count_up_to(limit: str):
    """``count(1, dse.experiments.bench.<limit>)``, the limit looked up when a value is parsed: the bench
    module loads the kernels (Numba), which ``dse bench --help`` does not need."""
    def parse(text: str) -> int:
        from dse.experiments import bench

        return count(1, getattr(bench, limit))(text)

    parse.__name__ = "count"
    return parse


def add_parser(sub, help: str) -> None:
    parser = sub.add_parser("bench", help=help)
    parser.add_argument("target", choices=["kernels", "eval", "study"], help="what to benchmark")
    parser.add_argument("--workload", default=None,
                        help="eval: workload(s), comma-separated (default mlp-digits,cnn-digits)")
    parser.add_argument("--study", default="studies/quickstart.toml", help="study: the study file")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--batch", type=_count_up_to("MAX_BATCH"), default=256, help="inputs per crossbar call (default 256)")
    parser.add_argument("--size", type=_count_up_to("MAX_SIZE"), default=512, help="square weight matrix size (in = out)")
    parser.add_argument("--no-scaling", action="store_true", help="skip the scaling table")
    parser.add_argument("--repeats", type=count(1), default=5, help="timed repetitions (best is kept)")
    parser.add_argument("--samples", type=count(1, 1_000_000), default=None,
                        help="eval: inputs per chip run, the test split repeated (default: the test split)")
    add_hardware_options(parser)
    parser.set_defaults(func=run)


def run(args) -> int:
    from dse.experiments.bench import KernelPoint, bench_kernels

    hw = hardware_from_args(args)
    if args.target == "eval":
        return _run_eval(args, hw)
    if args.target == "study":
        return _run_study(args)
    point = KernelPoint(batch=args.batch, n_in=args.size, n_out=args.size)
    if hw.backend == "cuda":
        return _run_kernels_cuda(args, hw, point)
    result = bench_kernels(hw, point, scaling=not args.no_scaling, repeats=args.repeats)
    if args.json:
        print(json.dumps(result))
        return 0 if result["agree"] and result["float_path"]["float_exact_agrees"] else 1
    cfg = result["config"]
    print(f"crossbar kernel benchmark: batch {point.batch}, {point.n_in}x{point.n_out} weights, "
          f"{cfg['rows']}x{cfg['cols']} crossbars, {cfg['weight_bits']}-bit weights on {cfg['cell_bits']}-bit "
          f"cells, {cfg['input_bits']}-bit inputs, {cfg['dac_bits']}-bit DAC, {cfg['adc_bits']}-bit ADC, "
          f"{cfg['mapping']}, SA0 {cfg['sa0_rate']:.2%} / SA1 {cfg['sa1_rate']:.2%}")
    print(f"  first call: {result['first_call_s']:.2f} s "
          f"({'compiled' if result['compiled'] else 'loaded from the Numba cache'})")
    print(f"  simulator's path {result['simulator_macs_per_s']:.3e} bit-level MAC/s ({result['simulator_s'] * 1e3:.1f} ms,"
          f" {result['simulator_path']})")
    print(f"  popcount kernel  {result['kernel_macs_per_s']:.3e} bit-level MAC/s ({result['kernel_s'] * 1e3:.1f} ms)")
    print(f"  numpy bit planes {result['baseline_macs_per_s']:.3e} bit-level MAC/s ({result['baseline_s'] * 1e3:.1f} ms)")
    print(f"  speedup {result['speedup']:.1f}x (popcount kernel {result['popcount_speedup']:.1f}x), "
          f"outputs agree: {result['agree']}")
    print(f"  cpu: {result['cpu_model'] or 'unknown model'}, compiled for {result['cpu_name']} "
          f"({' '.join(result['cpu_features'])}); popcount path: {result['path']}")
    fp = result["float_path"]
    print("  float path (analog non-idealities), timed in turns with the integer path and the baselines:")
    for name, label, ref in (
            ("integer", "integer popcount path", None), ("float_exact", "float, no effects", None),
            ("float_variation", "float, variation 5 %", "baseline_float"),
            ("float_noise", "float, variation 5 % + read noise 2 %", "baseline_noise"),
            ("baseline", "numpy bit planes (integer model)", None),
            ("baseline_float", "numpy bit planes, variation 5 %", None),
            ("baseline_noise", "numpy bit planes, + read noise 2 %", None)):
        ratio = f"  {fp[name + '_vs_baseline']:5.1f}x baseline" if name + "_vs_baseline" in fp else ""
        if ref:
            ratio += f"  {fp[name + '_vs_numpy_float']:5.1f}x numpy with the same effects"
        print(f"    {label:40s} {fp[name + '_macs_per_s']:.3e} bit-level MAC/s ({fp[name + '_s'] * 1e3:6.1f} ms){ratio}")
    print(f"    float path with no effects equals the integer path: {fp['float_exact_agrees']}")
    if "scaling" in result:
        print("\n  batch    in   out  simulator MAC/s  popcount MAC/s  baseline MAC/s  speedup  popcount  agree")
        for row in result["scaling"]:
            print(f"  {row['batch']:5d} {row['n_in']:5d} {row['n_out']:5d}   {row['simulator_macs_per_s']:.3e}"
                  f"       {row['kernel_macs_per_s']:.3e}       {row['baseline_macs_per_s']:.3e}"
                  f"  {row['speedup']:6.1f}x  {row['popcount_speedup']:6.1f}x  {row['agree']}")
    return 0 if result["agree"] and fp["float_exact_agrees"] else 1


def _run_kernels_cuda(args, hw, point) -> int:
    from dse.experiments.bench import MAX_BATCH, bench_kernels_cuda

    batches = (point.batch,) if args.no_scaling else tuple(sorted({point.batch, 4096, MAX_BATCH}))
    result = bench_kernels_cuda(hw, point, batches=batches, repeats=args.repeats)
    if args.json:
        print(json.dumps(result))
        return 0 if result["agree"] else 1
    cfg = result["config"]
    print(f"cuda backend on {result['device']} ({result['cuda_target']} CUDA target, numba {result['numba']}): "
          f"{point.n_in}x{point.n_out} weights, {cfg['rows']}x{cfg['cols']} crossbars, {cfg['weight_bits']}-bit "
          f"weights on {cfg['cell_bits']}-bit cells, {cfg['input_bits']}-bit inputs, {cfg['dac_bits']}-bit DAC, "
          f"{cfg['adc_bits']}-bit ADC, {cfg['mapping']}, SA0 {result['sa0_rate']:.2%} / SA1 {result['sa1_rate']:.2%}")
    print(f"  first call: {result['first_call_s']:.2f} s (compiling or loading the kernels)")
    print(f"  batch   cuda MAC/s  (device only)  CPU {result['cpu_threads']} threads  CPU {result['all_threads']} threads"
          "  vs CPU  vs all threads  agree")
    for r in result["points"]:
        print(f"  {r['batch']:5d}   {r['cuda_macs_per_s']:.3e}  ({r['cuda_device_macs_per_s']:.3e})  "
              f"{r['cpu_macs_per_s']:.3e}      {r['cpu_all_threads_macs_per_s']:.3e}     {r['speedup_vs_cpu']:6.1f}x"
              f"  {r['speedup_vs_cpu_all_threads']:6.1f}x       {r['agree']}")
    print("  cuda: from integer inputs on the host (packing, transfers both ways, kernels); device only: from\n"
          "  inputs already packed; planes uploaded once per point, not timed; best of --repeats each")
    return 0 if result["agree"] else 1


def _run_eval(args, hw) -> int:
    from dse.experiments.bench import bench_eval

    names = (args.workload or "mlp-digits,cnn-digits").split(",")
    results = [bench_eval(name.strip(), hw, samples=args.samples) for name in names]
    if args.json:
        print(json.dumps(results if len(results) > 1 else results[0]))
        return 0
    print("end-to-end simulated inference (whole test split, one faulty chip) vs raw kernel (standard point)")
    print("  workload      samples  bit-level MACs  chip time   end-to-end MAC/s  kernel MAC/s  fraction"
          "   in kernels  kernel MAC/s on these layers")
    for r in results:
        print(f"  {r['workload']:12s} {r['test_samples']:8d}  {r['bit_level_macs']:.3e}   {r['chip_s'] * 1e3:7.1f} ms"
              f"   {r['end_to_end_macs_per_s']:.3e}       {r['kernel_macs_per_s']:.3e}   {r['fraction_of_kernel']:6.0%}"
              f"   {r['kernel_share_of_chip']:8.0%}    {r['layer_kernel_macs_per_s']:.3e}")
    print("\n  workload      real MACs   real MAC/s  layers on the exact path  peak memory")
    for r in results:
        print(f"  {r['workload']:12s} {r['real_macs']:.3e}   {r['real_macs_per_s']:.3e}   {r['exact_layers']:3d} of {r['layers']:3d}"
              f"              {r['peak_rss_mb']:7.0f} MiB")
    for r in results:
        print(f"  {r['workload']}: layer paths " + ", ".join(f"{k} {v}" for k, v in sorted(r["paths"].items()))
              + f"; {r['clipped_pairs']} clippable (tile, bit line) pairs counted by popcount in {r['clipped_layers']}"
              " exact layers")
    per_1000 = ", ".join(f"{r['workload']} {r['chip_s_per_1000_samples']:.4g} s" for r in results)
    print(f"  chip time per 1,000 test samples: {per_1000}")
    runs = "/".join(str(r["chip_runs"]) for r in results)
    print(f"  chip time: best of {runs} runs of one chip; fraction: end-to-end / kernel at the standard point, both\n"
          "  measured in this process; in kernels: share of the chip time inside the crossbar kernels (short-tile\n"
          "  tables included), the rest being fault sampling, packing, quantisation, im2col, the digital layers and the\n  per-layer statistics (each layer against its ideal product, as every evaluation records them);\n"
          "  real MACs: in * out of the layers (8-bit weights and inputs by default), copies not counted; layers whose\n"
          "  ADC is lossless on the chip run as exact products (kernels/exact.py), and so do layers with a step-1 ADC\n"
          "  where few (tile, bit line) pairs can clip, those pairs' excess counted by popcount (kernels/clipped.py),\n"
          "  and unprotected layers at step 2, their rounding counted as parities (the +rounding path);\n"
          "  peak memory: the whole process")
    return 0


def _run_study(args) -> int:
    from dse.experiments.bench import bench_study

    result = bench_study(args.study)
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"study throughput: {result['study']}, {result['trials']} trials from scratch per run, no timeout")
    print("  workers  trials  wall s  trials/min  speedup")
    base = result["runs"][0]["trials_per_min"] if result["runs"] else 0.0
    for run in result["runs"]:
        speedup = f"{run['trials_per_min'] / base:6.2f}x" if base else "      -"
        print(f"  {run['workers']:7d}  {run['trials']:6d}  {run['wall_s']:6.1f}  {run['trials_per_min']:10.1f}  {speedup}")
    return 0
