"""``dse cost``: energy, area and latency of a preset's reference IMA/tile or of a workload's layers.

    dse cost --preset isaac [--json]
    dse cost --adc-table [--tech default]          # the ADC model comparison of docs/cost.md
    dse cost --workload mlp-digits [--rows 128 --adc-bits 6 ... --tech default --adc-model flash] [--json]
             [--plot breakdown.png]
"""
from __future__ import annotations

import dataclasses
import json

from dse.cli_options import (add_flag, add_hardware_options, add_protection_options, hardware_from_args,
                             protection_from_args)
from dse.config import HardwareConfig, Protection
from dse.cost.tech import ADC_MODELS, load_tech


def add_parser(subparsers, help: str) -> None:
    parser = subparsers.add_parser(
        "cost", help=help,
        description="Cost a preset's reference IMA and tile (--preset) or a workload's crossbar layers "
                    "(--workload) with the energy/area/latency model and the sourced tables in dse/tech/.")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--preset", help="report the IMA and tile of this tech preset's reference architecture "
                                       "(e.g. isaac, default); hardware flags override that architecture")
    what.add_argument("--workload", help="cost this workload's layers (e.g. mlp-digits) as mapped with --protect")
    what.add_argument("--adc-table", dest="adc_table", action="store_true",
                      help="print every ADC model against the hwcomponents-adc survey fit and measured "
                           "converters (the tables of docs/cost.md), for --tech (default: default)")
    add_hardware_options(parser)
    add_protection_options(parser)
    group = parser.add_argument_group("cost model")
    add_flag(group, "adc_model", None, "ADC energy/area model (default: the preset's)", choices=ADC_MODELS)
    add_flag(group, "node_nm", int, "technology node to scale to (default: the preset's; one of its scaling table)")
    add_flag(group, "input_activity", float,
             "fraction of '1' input bits for the cell read energy (default: the preset's, 0.5)")
    parser.add_argument("--json", action="store_true", help="print the numbers as JSON")
    parser.add_argument("--plot", metavar="FILE.png", default=None,
                        help="with --workload: save the per-layer, per-component breakdown figure")
    parser.set_defaults(func=run)


def workload_layouts(name: str, hw: HardwareConfig, protection: Protection | None = None) -> list:
    """The layouts ``dse cost --workload`` costs: every crossbar layer of ``name`` as it is mapped with
    ``protection`` (pruned rows and columns removed, copies and spare crossbars included)."""
    from dse.mapping import map_network
    from dse.workloads import load_workload

    return map_network(load_workload(name), hw, protection).layouts


def _hardware(args, base: HardwareConfig | None = None) -> HardwareConfig:
    """The design from the hardware flags, on top of ``base`` (a preset's architecture) when given."""
    if base is None:
        return hardware_from_args(args)
    overrides = {f.name: getattr(args, f.name) for f in dataclasses.fields(HardwareConfig)
                 if getattr(args, f.name, None) is not None and f.name != "tech"}
    return base.replace(**overrides)


def run(args) -> int:
    if args.adc_table:
        from dse.cost.adc_compare import markdown

        print(markdown(args.tech or "default"))
        return 0
    if args.preset is not None:
        return _run_preset(args)
    return _run_workload(args)


def _run_preset(args) -> int:
    if args.plot:
        raise ValueError("--plot needs --workload (the preset report has no layers)")
    if args.tech is not None and args.tech != args.preset:
        raise ValueError(f"--tech {args.tech} conflicts with --preset {args.preset}; give one of them")
    tech = load_tech(args.preset, node_nm=args.node_nm, adc_model=args.adc_model)
    hw = _hardware(args, tech.architecture)
    from dse.cost import tile_report

    report = tile_report(tech, hw)
    paper = dict(tech.tables.get("paper", {}))
    if args.json:
        print(json.dumps({**report.to_dict(), "tech": tech.name, "adc_model": tech.adc_model,
                          "node_nm": tech.node_nm, **{f"paper_{k}": v for k, v in paper.items()}}, indent=2))
        return 0
    org = tech["organisation"]
    print(f"{tech.name} preset ({tech.node_nm} nm, ADC model {tech.adc_model}): {hw.rows}x{hw.cols} crossbars, "
          f"{hw.cell_bits}-bit cells, {hw.weight_bits}-bit weights ({hw.mapping}), {hw.input_bits}-bit inputs "
          f"through {hw.dac_bits}-bit DACs, {hw.adc_bits}-bit ADCs for {hw.cols_per_adc} columns each")
    print(f"{org['crossbars_per_ima']} crossbars per IMA, {org['imas_per_tile']} IMAs per tile; "
          f"one MVM takes {report.mvm_ns:.1f} ns at full load\n")
    print(f"{'component':<22}{'scope':<7}{'power mW':>10}{'area mm2':>11}")
    for row in report.breakdown.itertuples():
        print(f"{row.component:<22}{row.scope:<7}{row.power_mw:>10.3f}{row.area_mm2:>11.5f}")
    print()
    for key, label in (("ima_power_mw", "IMA power (mW)"), ("ima_area_mm2", "IMA area (mm2)"),
                       ("tile_power_mw", "tile power (mW)"), ("tile_area_mm2", "tile area (mm2)")):
        value = getattr(report, key)
        line = f"{label:<18}{value:>10.4g}"
        if key in paper:
            line += f"   paper {paper[key]:g} ({100 * (value / paper[key] - 1):+.1f} %)"
        print(line)
    return 0


def _run_workload(args) -> int:
    hw = _hardware(args)
    tech = load_tech(hw.tech, node_nm=args.node_nm, adc_model=args.adc_model)  # checked before the workload loads
    from dse.cost import cost

    layouts = workload_layouts(args.workload, hw, protection_from_args(args))
    report = cost(layouts, hw, tech=tech, input_activity=args.input_activity)
    if args.plot:
        from dse.cost.plot import plot_breakdown

        plot_breakdown(report, args.plot, title=f"{args.workload}: cost breakdown "
                                                 f"({report.tech} preset, {report.node_nm} nm, ADC {report.adc_model})")
    if args.json:
        print(json.dumps({"workload": args.workload, "tech": report.tech, "adc_model": report.adc_model,
                          "node_nm": report.node_nm, **report.to_dict(),
                          "layers": report.layers.to_dict(orient="records"),
                          "breakdown": report.breakdown.to_dict(orient="records")}, indent=2))
        return 0
    print(f"{args.workload} on {report.tech} preset ({report.node_nm} nm, ADC model {report.adc_model}): "
          f"{hw.rows}x{hw.cols}, {hw.cell_bits}-bit cells, {hw.weight_bits}-bit weights ({hw.mapping}), "
          f"{hw.input_bits}-bit inputs, {hw.dac_bits}-bit DACs, {hw.adc_bits}-bit ADCs / {hw.cols_per_adc} columns\n")
    print(f"energy per inference  {report.energy_pj / 1e3:.3f} nJ   ({report.energy_per_mac_pj:.3f} pJ per MAC, "
          f"crossbar level {report.crossbar_energy_per_mac_pj:.3f} pJ per MAC; digital 8-bit MAC "
          f"{tech.digital_mac_pj():.3f} pJ)")
    print(f"area                  {report.area_mm2:.4f} mm2")
    print(f"latency               {report.latency_ns / 1e3:.3f} us per inference "
          f"(pipeline interval {report.pipeline_interval_ns / 1e3:.3f} us, cycle {report.cycle_ns:.1f} ns)")
    print(f"crossbars             {report.crossbars} ({report.spare_crossbars} spare)")
    print(f"ADC conversions       {report.adc_conversions} ({report.extra_adc_conversions} on copy bit lines)")
    print(f"MACs                  {report.macs}\n")
    layers = report.layers
    print(f"{'layer':<12}{'energy nJ':>11}{'area mm2':>10}{'latency us':>12}{'crossbars':>11}{'conversions':>13}")
    for row in layers.itertuples():
        print(f"{row.name:<12}{row.layer_energy_pj / 1e3:>11.3f}{row.layer_area_um2 / 1e6:>10.4f}"
              f"{row.layer_latency_ns / 1e3:>12.3f}{row.layer_crossbars:>11}{row.layer_adc_conversions:>13}")
    print(f"\n{'component':<22}{'energy nJ':>11}{'share':>8}{'area mm2':>10}{'share':>8}")
    energy, area = report.energy_by_component(), report.area_by_component()
    for component in energy:
        print(f"{component:<22}{energy[component] / 1e3:>11.3f}{100 * energy[component] / report.energy_pj:>7.1f}%"
              f"{area[component] / 1e6:>10.4f}{100 * area[component] / report.area_um2:>7.1f}%")
    if args.plot:
        print(f"\nbreakdown figure: {args.plot}")
    return 0
