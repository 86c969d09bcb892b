"""Command-line flags generated from the config dataclasses: one flag per field, same name with dashes.

``--cell-bits 3`` sets ``HardwareConfig.cell_bits``; a flag left out keeps the dataclass default, so the
defaults live in one place (``dse/config.py``).
"""
from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from dse.config import (CHOICES, PER_LAYER_FIELDS, AnalogEffects, FaultScenario, HardwareConfig, Protection,
                        field_help, field_type)
from kernels.cuda import require_cuda


def _tech_help() -> str:
    from dse.cost.tech import available_presets

    return f"technology preset: {', '.join(available_presets())}, or a path to a .toml file"


def _parse_bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


MAX_WORKERS = 1024  # processes; far beyond any machine's cores, and a typo (100000) must not fork that many


def count(minimum: int, maximum: int | None = None):
    """An argparse type: an integer in ``minimum..maximum`` (a number of workers, samples, rows, ...)."""
    allowed = f">= {minimum}" if maximum is None else f"in {minimum}..{maximum}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum or (maximum is not None and value > maximum):
            raise argparse.ArgumentTypeError(f"must be an integer {allowed}, got {text!r}")
        return value

    parse.__name__ = f"integer {allowed}"  # what argparse calls the type in its messages
    return parse


def _parse_layer_fractions(text: str) -> dict[str, float]:
    """``fc1=0.3,fc2=0.1`` -> {"fc1": 0.3, "fc2": 0.1} (a per-layer prune fraction)."""
    values: dict[str, float] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        layer, equals, number = item.rpartition("=")
        try:
            if not equals or not layer.strip():
                raise ValueError
            values[layer.strip()] = float(number)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected LAYER=FRACTION pairs separated by commas "
                                             f"(fc1=0.3,fc2=0.1), got {text!r}") from None
    return values


def add_flag(group, name: str, kind: Any = str, help: str = "", *aliases: str, choices=None, metavar=None) -> None:
    """The flag of ``name``: ``--`` and the name with dashes (TOML key = CLI flag = field = column), plus
    ``aliases``, setting ``args.name``; None when left out, so the default stays where the field is."""
    group.add_argument("--" + name.replace("_", "-"), *aliases, dest=name, type=kind, default=None, choices=choices,
                       metavar=metavar, help=help)


def _add_fields(parser: argparse.ArgumentParser, cls, title: str, skip: tuple[str, ...] = ()) -> None:
    group = parser.add_argument_group(title)
    described = field_help(cls)
    for field in dataclasses.fields(cls):
        if field.name in skip:
            continue
        if field.name in PER_LAYER_FIELDS:
            add_flag(group, field.name, _parse_layer_fractions,
                     f"per-layer {PER_LAYER_FIELDS[field.name].replace('_', ' ')} fractions overriding "
                     f"--{PER_LAYER_FIELDS[field.name].replace('_', '-')} for these layers, e.g. fc1=0.3,fc2=0.1",
                     metavar="LAYER=FRACTION,...")
            continue
        kind = {int: int, float: float, bool: _parse_bool}.get(field_type(cls, field.name), str)
        about = _tech_help() if field.name == "tech" else described.get(field.name, "")
        default = field.metadata.get("default", repr(field.default))
        add_flag(group, field.name, kind, f"{about} (default {default})" if about else f"default {default}",
                 choices=CHOICES.get(field.name))


def _collect(args: argparse.Namespace, cls, **overrides: Any):
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls)
              if getattr(args, f.name, None) is not None}
    values.update(overrides)
    return cls(**values)


def add_hardware_options(parser: argparse.ArgumentParser) -> None:
    _add_fields(parser, HardwareConfig, "hardware")


def hardware_from_args(args: argparse.Namespace) -> HardwareConfig:
    """The design from the hardware flags; ``--tech`` is loaded and checked here, before any work, also
    by the sub-commands that only record it (a misspelt preset must not pass silently), and ``--backend
    cuda`` is refused where it cannot run."""
    from dse.cost import load_tech

    hw = _collect(args, HardwareConfig)
    load_tech(hw.tech)
    if hw.backend == "cuda":
        require_cuda()
    return hw


def add_fault_options(parser: argparse.ArgumentParser, rates: bool = True) -> None:
    """One flag per ``FaultScenario`` field (``--sa0-rate/--sa0``, ``--sa1-rate/--sa1``, ``--n-chips/--chips``,
    ...); without the two rates when ``rates`` is False (a sweep sets them). Defaults are FaultScenario's."""
    group = parser.add_argument_group("faults")
    default = {f.name: f.default for f in dataclasses.fields(FaultScenario)}
    if rates:
        add_flag(group, "sa0_rate", float, "probability a cell is stuck OFF (high resistance, level 0) (default 0)",
                 "--sa0")
        add_flag(group, "sa1_rate", float, "probability a cell is stuck ON (low resistance, top level) (default 0)",
                 "--sa1")
    add_flag(group, "fault_model", None, "iid: every cell independent; column: faults clustered along bit lines "
             f"(default {default['fault_model']})", choices=CHOICES["fault_model"])
    add_flag(group, "n_chips", count(1), f"simulated chips (Monte Carlo fault maps) (default {default['n_chips']})",
             "--chips")
    add_flag(group, "seed", count(0), "chip c draws its fault maps from the generator seeded by (seed, c, layer) "
             f"(default {default['seed']})")
    add_flag(group, "test_escape_rate", float, "fraction of stuck cells the post-fabrication test misses (default 0)")
    add_flag(group, "post_test_rate", float,
             "probability a healthy cell fails after the test, SA0:SA1 as --sa0:--sa1 (default 0)")
    add_flag(group, "stuck_level_spread", float,
             "sigma of stuck cells' conductance relative to G_min / G_max (analog path; default 0)")


def faults_from_args(args: argparse.Namespace, **overrides: Any) -> FaultScenario:
    return _collect(args, FaultScenario, **overrides)


def protect_presets() -> tuple[str, ...]:
    """The names ``--protect`` takes (``dse.protection.presets.PRESETS``), the fault-map-free ones first,
    each fault-map-aware one marked: ``zero-space (needs fault map)``."""
    from dse.protection.presets import PRESETS

    order = sorted(PRESETS, key=lambda name: PRESETS[name].needs_fault_map)
    return tuple(f"{name} (needs fault map)" if PRESETS[name].needs_fault_map else name for name in order)


def add_protection_options(parser: argparse.ArgumentParser) -> None:
    """``--protect NAME`` (a preset from ``dse.protection.PRESETS``) plus one flag per Protection field."""
    parser.add_argument("--protect", default="none", metavar="NAME",
                        help=f"protection preset: {', '.join(protect_presets())} (default none; "
                             "docs/tolerance.md); the field flags below override its values")
    protection_fields_options(parser)


def protection_fields_options(parser: argparse.ArgumentParser) -> None:
    """One flag per Protection field (``--row-prune``, ``--vote``, ...), overriding a preset's values."""
    _add_fields(parser, Protection, "protection")


def protection_preset(name: str) -> Protection:
    """The protection preset ``name``; a ValueError lists the names when it is unknown."""
    if name == "none":
        return Protection()
    from dse.protection import PRESETS

    if name not in PRESETS:
        raise ValueError(f"protect must be one of {', '.join(PRESETS)}; got {name!r}")
    return PRESETS[name]


def protection_from_args(args: argparse.Namespace, preset: str | None = None) -> Protection:
    base = protection_preset(preset if preset is not None else args.protect)
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(Protection)
              if getattr(args, f.name, None) is not None}
    return dataclasses.replace(base, **values)


ANALOG_HELP = {
    "variation": "programming variation: sigma as a fraction of the conductance range (e.g. 0.05)",
    "variation_table": "programming variation per cell level, comma-separated, level 0 first",
    "on_off_ratio": "G_max / G_min (> 1; inf = ideal OFF state)",
    "read_noise": "read noise per input cycle: sigma relative to the cell conductance (e.g. 0.02)",
    "drift_t_s": "seconds since programming (0 = no drift)",
    "drift_t0_s": "reference time t0 of the drift law G(t) = G(t0) (t/t0)^-nu, seconds",
    "drift_nu": "drift exponent nu of every level",
    "drift_nu_table": "drift exponent per cell level, comma-separated, level 0 first",
    "adc_offset": "sigma of each ADC's input-referred offset, LSB",
    "adc_gain_error": "sigma of each ADC's relative gain error",
    "adc_inl": "peak |INL| of each ADC, LSB",
}


def _parse_table(text: str) -> tuple[float, ...]:
    """``0.01,0.02,0.02,0.03`` -> (0.01, 0.02, 0.02, 0.03)."""
    try:
        return tuple(float(item) for item in text.split(",") if item.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def add_analog_options(parser: argparse.ArgumentParser) -> None:
    """One flag per ``AnalogEffects`` field (``--variation``, ``--read-noise``, ...), all off by default."""
    group = parser.add_argument_group("analog non-idealities (off by default; see docs/nonideal.md)")
    for field in dataclasses.fields(AnalogEffects):
        table = isinstance(field.default, tuple)
        add_flag(group, field.name, _parse_table if table else float,
                 f"{ANALOG_HELP.get(field.name, '')} (default {field.default!r})", metavar="LIST" if table else None)


def analog_from_args(args: argparse.Namespace) -> AnalogEffects:
    return _collect(args, AnalogEffects)


def add_workload_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workload", required=True, help="built-in workload name (see dse eval --help)")
