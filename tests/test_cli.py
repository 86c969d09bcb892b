"""CLI habits: --version, help that answers without the heavy imports, help text and allowed values on
every flag, the same flags for the same fields in eval and sweep."""
from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys

import pytest

from dse import __version__, cli
from dse.config import CHOICES, AnalogEffects, FaultScenario, HardwareConfig, Protection


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def test_version(capsys):
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"dse (reram-dse) {__version__}"


def _loaded_after(*argvs: list[str]) -> set[str]:
    """Top-level modules loaded in a fresh interpreter after ``dse ARGV`` for each of ``argvs`` in turn."""
    code = ("import sys, contextlib, io\nfrom dse.cli import main\n"
            f"for argv in {list(argvs)!r}:\n"
            "    with contextlib.redirect_stdout(io.StringIO()): main(argv)\n"
            "print(' '.join(sorted(m.split('.')[0] for m in sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    return set(out.stdout.split())


def test_top_level_help_imports_no_numeric_stack():
    loaded = _loaded_after(["--help"])
    assert not loaded & {"numba", "numpy", "pandas", "optuna", "matplotlib", "pyarrow", "kernels"}, loaded


def test_subcommand_help_imports_no_numeric_stack():
    # Every sub-command's --help in one interpreter: none of them may pull these in. The flags come from
    # the config dataclasses, which validate against the kernels' vocabularies (kernels.names), not the
    # kernels themselves.
    loaded = _loaded_after(*([command, "--help"] for command in cli.COMMANDS))
    assert not loaded & {"numba", "numpy", "pandas", "optuna", "matplotlib", "pyarrow", "sklearn", "scipy"}, loaded


def test_every_command_is_listed_with_its_help_and_builds(capsys):
    assert set(_subparsers()) == set(cli.COMMANDS)
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for name, text in cli.COMMANDS.items():
        assert name in out and text in out


def test_every_flag_has_help_text():
    missing = [f"{name} {action.option_strings or action.dest}"
               for name, parser in _subparsers().items() for action in parser._actions
               if not isinstance(action, argparse._HelpAction) and not (action.help or "").strip()]
    assert not missing, missing


@pytest.mark.parametrize("field", sorted(CHOICES))
def test_choice_flags_list_their_allowed_values(field):
    flag = "--" + field.replace("_", "-")
    for name, parser in _subparsers().items():
        for action in parser._actions:
            if flag in action.option_strings:
                assert tuple(action.choices) == CHOICES[field], (name, flag)
                assert all(value in parser.format_help() for value in CHOICES[field])


def test_tech_and_protect_help_list_presets():
    from dse.cost.tech import available_presets
    from dse.protection import PRESETS

    for name in ("eval", "sweep", "cost"):
        text = " ".join(_subparsers()[name].format_help().split())
        assert all(preset in text for preset in available_presets()), name
        assert all(preset in text for preset in PRESETS), name


def _field_flags(parser: argparse.ArgumentParser) -> dict[str, tuple[str, ...]]:
    fields = {f.name for cls in (HardwareConfig, FaultScenario, Protection, AnalogEffects)
              for f in dataclasses.fields(cls)} | {"protect", "workload", "data", "workers", "json"}
    return {a.dest: tuple(a.option_strings) for a in parser._actions if a.dest in fields}


def test_eval_and_sweep_take_the_same_flags_for_the_same_fields():
    parsers = _subparsers()
    eval_flags, sweep_flags = _field_flags(parsers["eval"]), _field_flags(parsers["sweep"])
    swept = {"sa0_rate", "sa1_rate"}  # a sweep sets them from --total-rate and --sa1-share
    assert set(eval_flags) - swept == set(sweep_flags)
    for dest, flags in sweep_flags.items():
        assert flags == eval_flags[dest], dest
