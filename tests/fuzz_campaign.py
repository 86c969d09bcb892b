"""The fuzz campaign over every ``dse`` sub-command (docs/fuzz.md has the budget, the counts and the findings).

Each case runs ``dse.cli.main(argv)`` in this process (no interpreter start per case), with standard output
and error captured and a per-case time limit, and must end one of two ways:

- success (exit 0), or
- refusal: exit 2 with exactly one line on standard error, ``dse <command>: error: ...``, naming a field,
  flag or file of the case;

never a traceback, another exit status, a hang (``CaseTimeout`` after ``limit_s``), and never a change to
what is already stored: a finished study's results folder (``Campaign.stored``) is hashed after every case,
and the folders a case damages or reads are hashed before and after.

Kinds of case (``KINDS``), each a hypothesis search with its own generator:

query     expressions for ``dse query`` (grammar fragments, attacks and raw text) on the stored folder
flags     argument lists for every sub-command, values drawn from the flag's type (bad and good alike);
          the expensive work behind a validated command line is replaced by ``Reached`` (success)
study     study files (random tables, keys and values, and damaged copies of a valid file) through
          ``dse run`` up to the point where trials would start
model     model files (.npz / .safetensors: random layer lists, shapes, dtypes, values, damaged bytes)
          through ``dse eval`` on a few test samples, for real
data      data files (.npz with x and y of random shapes, dtypes, labels, values) for a valid model
jsonl     JSON Lines text data through ``dse.workloads.text_data.read_jsonl`` (no sub-command reads it yet)
damaged   copies of the stored folder with a file truncated, flipped, emptied, replaced by a folder or
          deleted, then ``dse show / query / pareto / run``
eval      real ``dse eval`` runs of mlp-digits on random valid-or-not hardware, fault and analog flags
run       real tiny studies (1 to 2 trials) from random valid study files
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import os
import random
import shutil
import signal
import tempfile
import textwrap
import time
import traceback
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

SEED = 20261203  # the campaign's fixed seed: the same cases on every run

# Cases per kind: the slow campaign (tests/test_fuzz.py, -m slow) and the default suite's share.
SLOW_BUDGET = {"query": 4000, "flags": 3000, "study": 2500, "jsonl": 1500, "model": 400, "data": 400,
               "damaged": 300, "eval": 100, "run": 40}
QUICK_BUDGET = {"query": 90, "flags": 60, "study": 80, "jsonl": 60, "model": 5, "data": 5,
                "damaged": 8, "eval": 1, "run": 1}
LIMIT_S = {"query": 10, "flags": 30, "study": 30, "jsonl": 10, "model": 60, "data": 60, "damaged": 60,
           "eval": 120, "run": 180}  # per case, on a shared 2-core machine


class CaseTimeout(BaseException):
    """A case ran past its limit (a BaseException, so that no ``except Exception`` in the code swallows it)."""


class Reached(BaseException):
    """The command line was accepted and the expensive work would start now: counts as success."""


@dataclass
class Outcome:
    code: int | None
    out: str
    err: str
    seconds: float
    crash: str = ""  # the traceback of an exception that escaped main()


def run_cli(argv: list[str], limit_s: float) -> Outcome:
    """``dse ARGV`` in this process, its output captured, stopped after ``limit_s`` seconds."""
    from dse import cli

    out, err = io.StringIO(), io.StringIO()

    def expire(signum, frame):
        raise CaseTimeout(f"over {limit_s} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, limit_s)
    start = time.perf_counter()
    code, crash = None, ""
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main(argv)
    except Reached:
        code = 0
    except CaseTimeout:
        crash = f"no result within {limit_s} s"
    except SystemExit as exc:  # main() returns its status; an exit from deeper down is a finding
        crash = f"SystemExit({exc.code!r}) escaped main()"
    except BaseException:  # noqa: BLE001 - anything escaping main() is what the campaign looks for
        crash = traceback.format_exc()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    return Outcome(code, out.getvalue(), err.getvalue(), time.perf_counter() - start, crash)


DERIVED = ("_pareto.png",)  # `dse pareto` redraws it from the table by default: output, not stored data


def folder_hash(path: Path) -> str:
    """Names and bytes of everything under ``path`` but DERIVED (the same hash = nothing stored changed)."""
    digest = hashlib.sha256()
    if not path.exists():
        return "absent"
    for item in sorted(path.rglob("*")):
        if item.name in DERIVED:
            continue
        digest.update(str(item.relative_to(path)).encode() + b"\0")
        if item.is_file() and not item.is_symlink():
            digest.update(hashlib.sha256(item.read_bytes()).digest())
    return digest.hexdigest()


class Finding(AssertionError):
    pass


def check(outcome: Outcome, argv: list[str], names: list[str], what: str = "") -> None:
    """Success, or exit 2 with one line that names one of ``names`` (flags, fields, files of the case)."""
    label = f"{what or ''} dse {' '.join(map(repr, argv))}"[:3000]
    if outcome.crash:
        raise Finding(f"{label}: {outcome.crash}\nstderr: {outcome.err[-2000:]}")
    if outcome.code == 0:
        return
    if outcome.code != 2:
        raise Finding(f"{label}: exit {outcome.code}; stderr: {outcome.err[-2000:]}")
    err = outcome.err
    if "Traceback" in err or err.count("\n") != 1 or not err.endswith("\n"):
        raise Finding(f"{label}: a refusal must be one line, got {err!r}"[:4000])
    if not err.startswith("dse"):
        raise Finding(f"{label}: refusal does not start with the command: {err!r}")
    message = err.split("error:", 1)[-1]
    if not any(name and name in message for name in names):
        raise Finding(f"{label}: refusal names none of the case's fields or files {names[:30]}: {err!r}"[:4000])


# ------------------------------------------------------------------------------------------------
# The campaign: stored folder, scratch space, counts
# ------------------------------------------------------------------------------------------------

STORED_STUDY = """
[study]
name = "stored-fuzz"
workload = "mlp-digits"
trials = 3

[sampler]
name = "random"
seed = 1

[hardware]
rows = 64
cols = 64

[faults]
sa0_rate = 0.01
sa1_rate = 0.04
n_chips = 2

[search]
adc_bits = { low = 4, high = 8 }
row_prune = [0.0, 0.2]

[objectives]
accuracy_mean = "maximize"
energy_pj = "minimize"

[constraints]
accuracy_mean = ">= 0.05"
"""


class Campaign:
    """Scratch space, a stored results folder that no case may change, and the counts by kind."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.counts: Counter = Counter()
        self.outcomes: Counter = Counter()  # (kind, "ok" | "refused")
        self.seconds: Counter = Counter()
        self.root.mkdir(parents=True, exist_ok=True)
        self.stored_parent = self.root / "stored"
        study = self.root / "stored-fuzz.toml"
        study.write_text(STORED_STUDY)
        self.stored = self.stored_parent / "stored-fuzz"
        if not (self.stored / "trials.parquet").exists():
            outcome = run_cli(["run", str(study), "--results", str(self.stored_parent), "--no-progress"], 600)
            assert outcome.code == 0, (outcome.err, outcome.crash)
        self.stored_hash = folder_hash(self.stored)
        self.model, self.data = self._valid_model()

    def _valid_model(self) -> tuple[Path, Path]:
        """A small valid model file (8x8 inputs, a 3x3 convolution and a linear layer) and its data."""
        rng = np.random.default_rng(0)
        path, data = self.root / "valid.npz", self.root / "valid_data.npz"
        layers = [{"type": "conv2d", "name": "conv", "weight": "cw", "bias": "cb", "padding": 1},
                  {"type": "relu"}, {"type": "maxpool2d", "kernel": 2}, {"type": "flatten"},
                  {"type": "linear", "name": "fc", "weight": "fw", "bias": "fb"}]
        np.savez(path, layers=json.dumps(layers), input_shape=json.dumps([1, 8, 8]),
                 cw=rng.normal(0, 0.3, (4, 1, 3, 3)).astype(np.float32), cb=np.zeros(4, np.float32),
                 fw=rng.normal(0, 0.3, (64, 3)).astype(np.float32), fb=np.zeros(3, np.float32))
        np.savez(data, x=rng.random((40, 1, 8, 8)).astype(np.float32), y=rng.integers(0, 3, 40))
        return path, data

    def scratch(self, kind: str) -> Path:
        """A fresh empty folder for one case (the case's working directory too)."""
        path = Path(tempfile.mkdtemp(prefix=f"{kind}-", dir=self.root))
        return path

    def case(self, kind: str, argv: list[str], names: list[str], *, cwd: Path, watch: list[Path] = (),
             limit_s: float | None = None, after: Callable[[Outcome], None] | None = None) -> Outcome:
        """Run one case in ``cwd``; check the outcome, the stored folder and every folder in ``watch``."""
        before = [folder_hash(p) for p in watch]
        old = os.getcwd()
        os.chdir(cwd)
        try:
            outcome = run_cli(argv, limit_s or LIMIT_S[kind])
        finally:
            os.chdir(old)
        self.counts[kind] += 1
        self.seconds[kind] += outcome.seconds
        self.outcomes[kind, "ok" if outcome.code == 0 and not outcome.crash else "refused"] += 1
        check(outcome, argv, names, kind)
        if folder_hash(self.stored) != self.stored_hash:
            raise Finding(f"{kind}: dse {argv} changed the stored results folder {self.stored}")
        for path, digest in zip(watch, before):
            if folder_hash(path) != digest:
                raise Finding(f"{kind}: dse {argv} changed {path}, which it only reads")
        if after is not None:
            after(outcome)
        return outcome

    def report(self) -> str:
        lines = [f"{'kind':10s}{'cases':>8s}{'ok':>8s}{'refused':>9s}{'seconds':>9s}"]
        for kind in self.counts:
            lines.append(f"{kind:10s}{self.counts[kind]:8d}{self.outcomes[kind, 'ok']:8d}"
                         f"{self.outcomes[kind, 'refused']:9d}{self.seconds[kind]:9.1f}")
        lines.append(f"{'total':10s}{sum(self.counts.values()):8d}")
        return "\n".join(lines)


def _settings(n: int):
    # no shrinking: a finding is reported as generated (shrinking slow cases would take longer than the run)
    return settings(max_examples=n, deadline=None, database=None, phases=(Phase.explicit, Phase.generate),
                    suppress_health_check=list(HealthCheck), derandomize=False)


# ------------------------------------------------------------------------------------------------
# Values
# ------------------------------------------------------------------------------------------------

WEIRD_TEXT = ["", " ", "x", "-1", "0", "nan", "inf", "-inf", "1e400", "1.5", "0x10", "١", "\u00e9", "a\nb",
              "../../etc/passwd", "/dev/null", "/", "~", "$HOME", "`touch X`", "$(touch X)", "%s%n",
              "\x00", "\ud800", "a" * 300]
INTS = ["-1", "0", "1", "2", "3", "4", "8", "16", "64", "128", "1000000", "99999999999999999999", "1.0",
        "abc", "", "-0", "+3", " 2"]
FLOATS = ["-1", "0", "1e-9", "0.01", "0.1", "0.5", "1", "1.5", "2", "100", "nan", "inf", "-inf", "1e308",
          "abc", "", "0x1p-3", "1_000"]
BOOLS = ["true", "false", "yes", "0", "maybe", ""]


def _weird() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(WEIRD_TEXT), st.text(max_size=12))


# ------------------------------------------------------------------------------------------------
# kind: query
# ------------------------------------------------------------------------------------------------

QUERY_FRAGMENTS = ["accuracy_mean", "energy_pj", "adc_bits", "row_prune", "feasible", "is_pareto", "scenario",
                   "state", "`row_prune`", "`no such`", "and", "or", "not", "in", "not in", "(", ")", "[", "]",
                   ",", "<", "<=", ">", ">=", "==", "!=", "+", "-", "*", "**", "/", "//", "%", "&", "|", "~",
                   "0", "1", "0.5", "2e5", "1e400", "-1", "'default'", "'COMPLETE'", "True", "False", "None",
                   ".", "@", "@pd", "__class__", "__import__", "os", "system", "('touch X')", "lambda:", ":=",
                   "if", "else", "for", "x", "f'{1}'", "b'x'", "...", "[1]", "{1}", "{'a': 1}", "*", "\\", "#",
                   "\n", "yield", "await", "0 < adc_bits < 9", "9" * 400]
ATTACKS = ["@pd.io.common.os.system('touch X')", "__import__('os').system('touch X')",
           "().__class__.__bases__[0].__subclasses__()", "open('X', 'w')", "accuracy_mean.__class__",
           "(lambda: 1)()", "f'{open(\"X\",\"w\")}' == ''", "[x for x in [1]]", "energy_pj[0]",
           "globals()", "eval('1')", "exec('import os')", "breakpoint()", "adc_bits.real > 1",
           "'{0.__class__}'.format(1)", "(" * 500 + "1" + ")" * 500, "not " * 3000 + "True",
           "1" + " + 1" * 1500 + " > 0", "9" * 5000, "2 ** 2 ** 2 ** 2 ** 2 ** 2 > 0"]


def _comparisons() -> st.SearchStrategy[str]:
    """Well-formed filters (most should select rows or none, not be refused)."""
    column = st.sampled_from(["accuracy_mean", "energy_pj", "adc_bits", "row_prune", "area_mm2", "trial_number",
                              "(energy_pj / 1e3 + adc_bits ** 2)", "-adc_bits"])
    number = st.one_of(st.integers(-10, 10**6).map(str), st.floats(allow_nan=False, allow_infinity=False,
                                                                    width=32).map(repr))
    comparison = st.one_of(
        st.tuples(column, st.sampled_from(["<", "<=", ">", ">=", "==", "!="]), number).map(" ".join),
        st.tuples(column, st.sampled_from(["in", "not in"]), st.lists(number, max_size=3).map(
            lambda v: "[" + ", ".join(v) + "]")).map(" ".join),
        st.sampled_from(["feasible", "not is_pareto", "scenario == 'default'", "state != 'COMPLETE'"]))
    return st.lists(st.tuples(st.sampled_from(["and", "or", "and not"]), comparison), min_size=1, max_size=4).map(
        lambda parts: " ".join(f"{op} ({c})" for op, c in parts).split(" ", 1)[1].removeprefix("not "))


def query_expressions() -> st.SearchStrategy[str]:
    grammar = st.lists(st.sampled_from(QUERY_FRAGMENTS), max_size=14).map(" ".join)
    return st.one_of(_comparisons(), grammar, st.sampled_from(ATTACKS), st.text(max_size=60),
                     st.tuples(grammar, st.sampled_from(ATTACKS)).map(" and ".join))


def run_query(campaign: Campaign, n: int) -> None:
    @_settings(n)
    @seed(SEED)
    @given(expr=query_expressions(), layers=st.booleans(),
           sort=st.sampled_from([None, None, None, "energy_pj", "nosuch"]),
           limit=st.sampled_from([None, None, None, "0", "2", "-1"]), csv=st.booleans())
    def one(expr, layers, sort, limit, csv):
        cwd = campaign.scratch("query")
        argv = ["query", str(campaign.stored), expr]
        argv += ["--layers"] * layers + ["--csv"] * csv
        argv += ["--sort", sort] if sort else []
        argv += ["--limit", limit] if limit else []
        campaign.case("query", argv, ["position", "column", "--sort", "--limit", "expression", "nested"], cwd=cwd)
        if (cwd / "X").exists() or Path("X").exists():
            raise Finding(f"query {expr!r} created a file")
        shutil.rmtree(cwd, ignore_errors=True)

    one()


# ------------------------------------------------------------------------------------------------
# kind: flags
# ------------------------------------------------------------------------------------------------

def _actions(command: str):
    import argparse

    from dse import cli

    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return [a for a in sub.choices[command]._actions if a.option_strings and a.dest != "help"]


def _values_for(action, campaign: Campaign, cwd_files: dict[str, str]) -> st.SearchStrategy[str]:
    """Values for one flag: its type's good and bad values, its choices, and a few files."""
    from dse import cli_options
    from dse.protection import PRESETS

    flag = action.option_strings[0]
    named = {
        "--workload": ["mlp-digits", "cnn-digits", "nosuch", "minilm-l6x", cwd_files["model"], "missing.npz",
                       cwd_files["text"], "model.safetensors", cwd_files["dir"]],
        "--data": [cwd_files["data"], "missing.npz", cwd_files["text"], cwd_files["model"], cwd_files["dir"]],
        "--tech": ["default", "isaac", "nosuch", "missing.toml", cwd_files["text"], cwd_files["tech"]],
        "--protect": ["none", *PRESETS, "nosuch", "none,zero-space", "", ","],
        "--fault-model": ["iid", "column", "bogus", ""],
        "--adc-range": ["full", "calibrated", "bogus"],
        "--mapping": ["differential", "offset", "bogus"],
        "--prune-method": ["magnitude", "gates", "bogus"],
        "--vote": ["median", "mean", "test-aware", "bogus"],
        "--total-rate": ["0,0.1", "0", "-1", "2", "x", "", "0.1,nan", "1e400"],
        "--study": ["studies/quickstart.toml", "missing.toml", cwd_files["text"]],
        "--out": [cwd_files["dir"] + "/out", cwd_files["text"], "/proc/nope"],
        "-o": [cwd_files["dir"] + "/p.png", cwd_files["dir"] + "/p.svg", cwd_files["dir"] + "/p.txt",
               cwd_files["dir"] + "/none/p.png", cwd_files["text"] + "/p.png", "results.parquet"],
        "--storage": ["sqlite:///x.db", "postgresql://nobody@127.0.0.1:1/db", "bogus://", "", "journal"],
        "--results": [cwd_files["dir"], cwd_files["text"], "/proc/nope"],
        "--columns": ["trial_number,accuracy_mean", "nosuch", ",", ""],
        "--sort": ["energy_pj", "nosuch", ""],
        "--x": ["energy_pj", "nosuch", "accuracy_mean"], "--y": ["accuracy_mean", "nosuch", "area_mm2"],
        "--node-nm": ["32", "7", "-1", "x"],
        "--adc-model": ["flash", "sar", "bogus"],
    }
    if flag in named:
        return st.one_of(st.sampled_from(named[flag]), _weird())
    if action.dest in ("row_prune_layers", "col_prune_layers"):
        return st.sampled_from(["fc1=0.3", "fc1=0.3,fc2=0.1", "nosuch=0.1", "fc1=2", "fc1", "=", "fc1=nan", ""])
    kind = action.type
    if kind is int or getattr(kind, "__name__", "").startswith("integer"):
        return st.sampled_from(INTS)
    if kind is float:
        return st.sampled_from(FLOATS)
    if kind is cli_options._parse_bool:
        return st.sampled_from(BOOLS)
    if kind is cli_options._parse_table:
        return st.sampled_from(["0.01,0.02,0.02,0.03", "0.01", "x", "-1,0", "nan,1", ""])
    if action.choices:
        return st.one_of(st.sampled_from(list(action.choices)), _weird())
    return _weird()


# Every sub-command but `dse report`, which reruns the documented experiments and rewrites the docs' tables.
COMMANDS = ("run", "query", "pareto", "show", "cost", "eval", "sweep", "tolerance", "bench")


def _stub_work(monkeypatch) -> None:
    """Replace the expensive work behind each validated command line by ``Reached``."""
    import dse.commands.cost as cost
    import dse.experiments.bench
    import dse.experiments.sweep
    import dse.experiments.tolerance
    import dse.simulate
    import dse.study

    def reached(*args, **kwargs):
        raise Reached

    # eval, sweep, bench and run import their library functions when they run (so --help stays light);
    # cost binds its own at import.
    for module, name in ((dse.simulate, "evaluate"), (dse.experiments.sweep, "run_sweep"),
                         (dse.experiments.bench, "bench_kernels"), (dse.experiments.bench, "bench_eval"),
                         (dse.experiments.bench, "bench_kernels_cuda"), (cost, "workload_layouts"), (dse.study, "run_study"),
                         (dse.experiments.bench, "bench_study"), (dse.experiments.tolerance, "tolerance_rates")):
        monkeypatch.setattr(module, name, reached)


def run_flags(campaign: Campaign, n: int, monkeypatch) -> None:
    _stub_work(monkeypatch)
    files_root = campaign.scratch("flagfiles")
    text = files_root / "notes.txt"
    text.write_text("not a model\n")
    tech = files_root / "tech.toml"
    tech.write_text("name = 'x'\n[adc]\nmodel = 'flash'\n")
    work = files_root / "work"
    work.mkdir()
    files = {"model": str(campaign.model), "data": str(campaign.data), "text": str(text), "tech": str(tech),
             "dir": str(work)}
    actions = {c: _actions(c) for c in COMMANDS}
    positional = {"run": [str(campaign.root / "stored-fuzz.toml"), "missing.toml", str(text), str(campaign.model)],
                  "query": [str(campaign.stored), str(work), str(text), "missing"],
                  "pareto": [str(campaign.stored), str(work), "missing"],
                  "show": [str(campaign.stored), str(work), "missing"],
                  "bench": ["kernels", "eval", "study", "bogus"]}

    @st.composite
    def argv(draw):
        command = draw(st.sampled_from(COMMANDS))
        args = [command]
        if command in positional:
            args.append(draw(st.one_of(st.sampled_from(positional[command]), _weird())))
        if command in ("eval", "sweep"):
            args += ["--workload", draw(st.sampled_from(["mlp-digits", files["model"], "cnn-digits"]))]
        if command == "cost":
            args += draw(st.sampled_from([["--workload", "mlp-digits"], ["--preset", "isaac"],
                                          ["--preset", "default"], ["--preset", "nosuch"]]))
        for action in draw(st.lists(st.sampled_from(actions[command]), max_size=6, unique_by=lambda a: a.dest)):
            flag = draw(st.sampled_from(action.option_strings))
            if action.nargs == 0:
                args.append(flag)
            else:
                args += [flag, draw(_values_for(action, campaign, files))]
        if command == "run" and "--results" not in args:
            args += ["--results", str(work)]
        if command == "sweep" and "--out" not in args:
            args += ["--out", str(work / "sweep")]
        return args

    names = sorted({s.lstrip("-") for a in sum(actions.values(), []) for s in a.option_strings}
                   | set(_field_names()) | {"workload", "data", "tech", "protect", "--", "file", "folder"}
                   | {Path(v).name for v in files.values()} | {"missing", "trials", "results", "study"})

    @_settings(n)
    @seed(SEED + 1)
    @given(args=argv())
    def one(args):
        cwd = campaign.scratch("flags")
        campaign.case("flags", args, names + [a for a in args if a], cwd=cwd)
        shutil.rmtree(cwd, ignore_errors=True)

    one()


def _field_names() -> list[str]:
    import dataclasses

    from dse.config import AnalogEffects, FaultScenario, HardwareConfig, Protection

    return [f.name for cls in (HardwareConfig, Protection, FaultScenario, AnalogEffects)
            for f in dataclasses.fields(cls)]


# ------------------------------------------------------------------------------------------------
# kind: study (parse up to the first trial) and run (tiny real studies)
# ------------------------------------------------------------------------------------------------

def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value == math.inf else "-inf" if value == -math.inf
                                                else repr(value))
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(type(value))


def toml_key(key: str) -> str:
    return key if key and all(c.isalnum() or c in "_-" for c in key) and key.isascii() else json.dumps(key)


def toml_text(doc: dict) -> str:
    lines = []
    for section, table in doc.items():
        if isinstance(table, list):  # [[faults]]
            for item in table:
                lines.append(f"[[{toml_key(section)}]]")
                lines += [f"{toml_key(k)} = {toml_value(v)}" for k, v in item.items()]
            continue
        if not isinstance(table, dict):
            lines.insert(0, f"{toml_key(section)} = {toml_value(table)}")
            continue
        lines.append(f"[{toml_key(section)}]")
        lines += [f"{toml_key(k)} = {toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


def _scalar() -> st.SearchStrategy:
    return st.one_of(st.integers(-3, 20), st.sampled_from([0, 1, 2, 4, 8, 64, 128, 10**6, 2**63 - 1, -2**63]),
                     st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, 0.5, 0.99, 1.5]),
                     st.booleans(), st.sampled_from(["", "x", "iid", "full", "mlp-digits", "maximize",
                                                     ">= 0.5", "<= 1e6", "> 3", "== 1", ">= nan"]),
                     st.text(max_size=8))


SEARCH_NAMES = ["adc_bits", "cell_bits", "rows", "cols", "row_prune", "col_prune", "dup_copies", "vote",
                "msb_embed", "mapping", "adc_range", "tech", "cols_per_adc", "weight_bits", "input_bits",
                "dac_bits", "compensate", "prune_method", "row_prune_layers", "bogus", "seed", "n_chips"]


def _search_value() -> st.SearchStrategy:
    low_high = st.fixed_dictionaries(
        {"low": _scalar(), "high": _scalar()},
        optional={"step": _scalar(), "log": st.booleans(), "bogus": _scalar()})
    return st.one_of(st.lists(_scalar(), max_size=5), low_high, _scalar(),
                     st.dictionaries(st.sampled_from(["fc1", "fc2", "fc3", "zz"]),
                                     st.one_of(st.lists(_scalar(), max_size=3), low_high), max_size=2))


def study_docs(model: Path, data: Path) -> st.SearchStrategy[dict]:
    """Study documents: mostly near a valid file (one or a few keys wrong), some anything."""
    study = st.fixed_dictionaries(
        {"workload": st.one_of(st.sampled_from(["mlp-digits", "cnn-digits", str(model), "nosuch", "x.npz"]),
                               _scalar())},
        optional={"name": st.one_of(st.sampled_from(["fz", "a.b", "-x", "../x", "", "x" * 201]), _scalar()),
                  "trials": _scalar(), "timeout_s": _scalar(), "description": _scalar(),
                  "data": st.sampled_from([str(data), "missing.npz", str(model)]), "bogus": _scalar()})
    hardware = st.dictionaries(st.sampled_from(["rows", "cols", "adc_bits", "cell_bits", "tech", "mapping",
                                                "cols_per_adc", "bogus", "weight_bits"]), _scalar(), max_size=3)
    protection = st.dictionaries(st.sampled_from(["row_prune", "dup_copies", "vote", "msb_embed", "bogus",
                                                  "row_prune_layers"]), _scalar(), max_size=2)
    faults_table = st.dictionaries(st.sampled_from(["sa0_rate", "sa1_rate", "n_chips", "seed", "fault_model",
                                                    "name", "variation", "read_noise", "bogus"]),
                                   _scalar(), max_size=3)
    faults = st.one_of(faults_table, st.lists(faults_table, max_size=3))
    search = st.dictionaries(st.sampled_from(SEARCH_NAMES), _search_value(), max_size=3)
    objectives = st.dictionaries(st.sampled_from(["accuracy_mean", "energy_pj", "area_mm2", "accuracy_ci95",
                                                  "latency_ns", "seed", "rows", "bogus", "crossbars"]),
                                 st.one_of(st.sampled_from(["maximize", "minimize", "max"]), _scalar()), max_size=3)
    constraints = st.dictionaries(st.sampled_from(["accuracy_mean", "energy_pj", "bogus", "rows"]),
                                  st.one_of(st.sampled_from([">= 0.5", "<= 1e9", ">= 1.5", "> 1", "0.5",
                                                             ">= nan", "<= -1"]), _scalar()), max_size=2)
    sampler = st.fixed_dictionaries({"name": st.one_of(st.sampled_from(["nsga2", "tpe", "gp", "random", "grid",
                                                                        "cmaes"]), _scalar())},
                                    optional={"seed": _scalar(), "population_size": _scalar(), "bogus": _scalar(),
                                              "n_startup_trials": _scalar()})
    return st.fixed_dictionaries(
        {"study": study, "search": search},
        optional={"hardware": hardware, "protection": protection, "faults": faults, "objectives": objectives,
                  "constraints": constraints, "sampler": sampler, "bogus": st.dictionaries(st.text(max_size=3),
                                                                                           _scalar(), max_size=1)})


def _damaged_text(text: str) -> st.SearchStrategy[str]:
    """A valid study file's text with bytes cut, repeated or replaced."""
    @st.composite
    def damage(draw):
        data = bytearray(text.encode())
        for _ in range(draw(st.integers(1, 4))):
            at = draw(st.integers(0, max(0, len(data) - 1)))
            how = draw(st.sampled_from(["cut", "flip", "insert", "truncate"]))
            if how == "cut":
                del data[at:at + draw(st.integers(1, 20))]
            elif how == "flip" and data:
                data[min(at, len(data) - 1)] = draw(st.integers(0, 255))
            elif how == "insert":
                data[at:at] = draw(st.sampled_from([b"[", b"]", b"=", b"\"", b"\n[search]\n", b"\x00", b"\xff",
                                                    b"{", b"'''", b"\n[[faults]]\n", b"999999999999999999999"]))
            else:
                del data[at:]
        return data.decode("utf-8", "surrogateescape")
    return damage()


def run_study_kind(campaign: Campaign, n: int, monkeypatch) -> None:
    import dse.study

    def reached(*args, **kwargs):
        raise Reached

    monkeypatch.setattr(dse.study, "run_study", reached)  # dse run imports it when it runs
    base = (Path(__file__).resolve().parents[1] / "studies" / "quickstart.toml").read_text()

    @_settings(n)
    @seed(SEED + 2)
    @given(source=st.one_of(study_docs(campaign.model, campaign.data).map(toml_text), _damaged_text(base),
                            _damaged_text(STORED_STUDY)))
    def one(source):
        cwd = campaign.scratch("study")
        path = cwd / "fz.toml"
        path.write_bytes(source.encode("utf-8", "surrogateescape"))
        campaign.case("study", ["run", str(path), "--results", str(cwd / "results"), "--no-progress"],
                      [str(path)], cwd=cwd)
        shutil.rmtree(cwd, ignore_errors=True)

    one()


RUN_SPACE = {"adc_bits": {"low": 3, "high": 8}, "cell_bits": [1, 2, 4], "row_prune": {"low": 0.0, "high": 0.5},
             "dup_copies": [1, 2, 3], "rows": [32, 64, 128], "mapping": ["differential", "offset"],
             "adc_range": ["full", "calibrated"], "msb_embed": [0, 1], "compensate": [True, False]}


def run_run_kind(campaign: Campaign, n: int) -> None:
    """Tiny real studies: every one must finish (or refuse) and leave tables matching its trials."""
    @_settings(n)
    @seed(SEED + 3)
    @given(search=st.lists(st.sampled_from(sorted(RUN_SPACE)), min_size=1, max_size=3, unique=True),
           sampler=st.sampled_from(["random", "tpe", "nsga2", "grid"]), trials=st.integers(1, 2),
           objective=st.sampled_from(["accuracy_mean", "accuracy_ci95", "accuracy_min", "energy_pj"]),
           chips=st.integers(1, 2), rates=st.sampled_from([(0.0, 0.0), (0.01, 0.04), (0.2, 0.5)]))
    def one(search, sampler, trials, objective, chips, rates):
        cwd = campaign.scratch("run")
        space = {k: RUN_SPACE[k] for k in search}
        if sampler == "grid":
            space = {k: ({**v, "step": 0.25} if k == "row_prune" else v) for k, v in space.items()}
        doc = {"study": {"name": "fz", "workload": "mlp-digits", "trials": trials},
               "sampler": {"name": sampler, "seed": 1}, "hardware": {"cols": 64},
               "faults": {"sa0_rate": rates[0], "sa1_rate": rates[1], "n_chips": chips},
               "search": space, "objectives": {objective: "maximize" if "accuracy" in objective else "minimize",
                                               "area_mm2": "minimize"}}
        path = cwd / "fz.toml"
        path.write_text(toml_text(doc))

        def tables_match(outcome: Outcome) -> None:
            if outcome.code != 0:
                return
            import pandas as pd

            trials_table = pd.read_parquet(cwd / "results" / "fz" / "trials.parquet")
            if len(trials_table) > trials:
                raise Finding(f"run {doc}: {len(trials_table)} rows for a budget of {trials}")

        campaign.case("run", ["run", str(path), "--results", str(cwd / "results"), "--no-progress"],
                      [str(path), "fz"], cwd=cwd, after=tables_match)
        shutil.rmtree(cwd, ignore_errors=True)

    one()


# ------------------------------------------------------------------------------------------------
# kinds: model, data
# ------------------------------------------------------------------------------------------------

DTYPES = ["float32", "float64", "float16", "int8", "int64", "uint8", "bool", "complex64", "U3", "O"]


@st.composite
def arrays(draw, shape=None):
    shape = shape if shape is not None else tuple(draw(st.lists(st.integers(0, 9), max_size=4)))
    dtype = draw(st.sampled_from(DTYPES[:6] + DTYPES[:3] * 3 + DTYPES[6:]))
    fill = draw(st.sampled_from(["normal", "zeros", "nan", "inf", "huge", "int"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    base = {"normal": lambda: rng.normal(0, 0.5, shape), "zeros": lambda: np.zeros(shape),
            "nan": lambda: np.full(shape, np.nan), "inf": lambda: np.full(shape, np.inf),
            "huge": lambda: np.full(shape, 3e38), "int": lambda: rng.integers(-3, 4, shape)}[fill]()
    if dtype == "O":
        return np.array([None] * int(np.prod(shape)), dtype=object).reshape(shape)
    with np.errstate(all="ignore"):
        return base.astype(dtype)


LAYER_TYPES = ["linear", "conv2d", "relu", "maxpool2d", "avgpool2d", "flatten", "softmax", ""]


@st.composite
def model_files(draw, root: Path) -> Path:
    """A model file: layers from a small valid skeleton with some entries or arrays changed."""
    suffix = draw(st.sampled_from([".npz", ".npz", ".safetensors"]))
    c_in, c_out, hidden = 1, draw(st.integers(1, 4)), draw(st.integers(1, 12))
    layers = [{"type": "conv2d", "name": "conv", "weight": "cw", "bias": "cb", "padding": 1},
              {"type": "relu"}, {"type": "maxpool2d", "kernel": 2}, {"type": "flatten"},
              {"type": "linear", "name": "fc", "weight": "fw", "bias": "fb"},
              {"type": "relu"}, {"type": "linear", "name": "out", "weight": "ow"}]
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    tensors = {"cw": rng.normal(0, 0.3, (c_out, c_in, 3, 3)).astype(np.float32), "cb": np.zeros(c_out, np.float32),
               "fw": rng.normal(0, 0.3, (c_out * 16, hidden)).astype(np.float32),
               "fb": np.zeros(hidden, np.float32), "ow": rng.normal(0, 0.3, (hidden, 3)).astype(np.float32)}
    input_shape = [1, 8, 8]
    for _ in range(draw(st.integers(0, 3))):
        how = draw(st.sampled_from(["drop_layer", "layer_key", "array", "drop_array", "input_shape", "insert"]))
        if how == "drop_layer" and layers:
            del layers[draw(st.integers(0, len(layers) - 1))]
        elif how == "layer_key" and layers:
            entry = layers[draw(st.integers(0, len(layers) - 1))]
            key = draw(st.sampled_from(["type", "name", "weight", "bias", "stride", "padding", "kernel",
                                        "weight_layout", "bogus"]))
            entry[key] = draw(st.one_of(st.sampled_from(LAYER_TYPES + ["cw", "fw", "missing", "out_in", "in_out"]),
                                        st.integers(-2, 10**6), st.sampled_from([None, 1.5, [], {}, True])))
        elif how == "array":
            name = draw(st.sampled_from(sorted(tensors)))
            tensors[name] = draw(arrays(draw(st.sampled_from([None, tensors[name].shape]))))
        elif how == "drop_array" and tensors:
            tensors.pop(draw(st.sampled_from(sorted(tensors))))
        elif how == "input_shape":
            input_shape = draw(st.one_of(st.lists(st.integers(-1, 9), max_size=4), st.sampled_from([None, "x", 3])))
        else:
            layers.insert(draw(st.integers(0, len(layers))), {"type": draw(st.sampled_from(LAYER_TYPES))})
    path = Path(tempfile.mkdtemp(dir=root)) / f"m{suffix}"
    meta = {"layers": json.dumps(layers), "input_shape": json.dumps(input_shape)}
    tensors = {k: v for k, v in tensors.items() if v.dtype != object}
    try:
        if suffix == ".npz":
            np.savez(path, **tensors, **({} if draw(st.booleans()) and draw(st.booleans()) else
                                          {k: np.array(v) for k, v in meta.items()}))
        else:
            from safetensors.numpy import save

            path.write_bytes(save({k: np.ascontiguousarray(v) for k, v in tensors.items()
                                   if v.dtype.kind in "fiub"}, metadata=meta))
    except Exception:  # noqa: BLE001 - a dtype the writer cannot store: write a damaged file instead
        path.write_bytes(b"PK\x03\x04not really")
    if draw(st.integers(0, 9)) == 0:  # damaged bytes
        data = bytearray(path.read_bytes())
        at = draw(st.integers(0, max(0, len(data) - 1)))
        del data[at:at + draw(st.integers(1, 64))]
        path.write_bytes(bytes(data))
    return path


@st.composite
def data_files(draw, root: Path) -> Path:
    """An .npz data file for the campaign's valid model: x (N, 1, 8, 8), y (N,) labels 0..2, changed."""
    n = draw(st.sampled_from([0, 1, 9, 10, 11, 40]))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    entries = {"x": rng.random((n, 1, 8, 8)).astype(np.float32), "y": rng.integers(0, 3, n)}
    for _ in range(draw(st.integers(0, 3))):
        key = draw(st.sampled_from(["x", "y", "z"]))
        how = draw(st.sampled_from(["array", "drop", "labels", "shape"]))
        if how == "drop":
            entries.pop(key, None)
        elif how == "labels":
            entries["y"] = np.array(draw(st.lists(st.sampled_from([-1, 0, 1, 2, 3, 2**40, 0.5, np.nan]),
                                                  min_size=n, max_size=n)))
        elif how == "shape":
            entries[key] = draw(arrays(draw(st.sampled_from([(n, 64), (n, 1, 8), (n, 2, 8, 8), (n + 1,),
                                                             (n, 1, 8, 8), ()]))))
        else:
            entries[key] = draw(arrays())
    path = Path(tempfile.mkdtemp(dir=root)) / "d.npz"
    try:
        np.savez(path, **{k: v for k, v in entries.items() if v.dtype != object})
    except Exception:  # noqa: BLE001
        path.write_bytes(b"not an npz")
    if any(v.dtype == object for v in entries.values()):  # pickled objects must be refused, not loaded
        with zipfile.ZipFile(path, "a") as zf:
            buffer = io.BytesIO()
            np.save(buffer, np.array([None, 1], dtype=object), allow_pickle=True)
            zf.writestr("x.npy" if "x" not in entries or entries["x"].dtype == object else "y.npy", buffer.getvalue())
    return path


def _eval_argv(model: Path, data: Path, extra: list[str]) -> list[str]:
    return ["eval", "--workload", str(model), "--data", str(data), "--max-test", "12", "--chips", "1", "--json",
            "--sa0", "0.01", "--sa1", "0.04", *extra]


def run_model_kind(campaign: Campaign, n: int) -> None:
    root = campaign.scratch("models")

    @_settings(n)
    @seed(SEED + 4)
    @given(data=st.data())
    def one(data):
        model = data.draw(model_files(root))
        cwd = campaign.scratch("model")
        campaign.case("model", _eval_argv(model, campaign.data, []),
                      [str(model), model.name, "workload", "data", "layer"], cwd=cwd, watch=[model.parent])
        shutil.rmtree(cwd, ignore_errors=True)
        shutil.rmtree(model.parent, ignore_errors=True)

    one()


def run_data_kind(campaign: Campaign, n: int) -> None:
    root = campaign.scratch("datas")

    @_settings(n)
    @seed(SEED + 5)
    @given(data=st.data())
    def one(data):
        path = data.draw(data_files(root))
        cwd = campaign.scratch("data")
        campaign.case("data", _eval_argv(campaign.model, path, []),
                      [str(path), path.name, "data", " x", " y", "x ", "y ", "label"], cwd=cwd,
                      watch=[path.parent])
        shutil.rmtree(cwd, ignore_errors=True)
        shutil.rmtree(path.parent, ignore_errors=True)

    one()


# ------------------------------------------------------------------------------------------------
# kind: jsonl
# ------------------------------------------------------------------------------------------------

def _json_values() -> st.SearchStrategy:
    return st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-3, 5), st.floats(), st.text(max_size=8),
                                  st.sampled_from(["positive", "negative", "entailment", "neutral",
                                                   "contradiction", "-"])),
                        lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                st.dictionaries(st.text(max_size=4), inner, max_size=3)),
                        max_leaves=6)


def jsonl_lines() -> st.SearchStrategy[bytes]:
    good = st.fixed_dictionaries({"text": st.text(min_size=1, max_size=20),
                                  "sentence1": st.text(min_size=1, max_size=9), "sentence2": st.text(min_size=1, max_size=9),
                                  "label": st.sampled_from(["positive", "negative", "entailment", "neutral",
                                                            "contradiction", 0, 1, 2])})
    record = st.fixed_dictionaries({}, optional={"text": _json_values(), "sentence1": _json_values(),
                                                 "sentence2": _json_values(), "label": _json_values()})
    bad = st.one_of(record.map(lambda r: json.dumps(r).encode()), _json_values().map(lambda v: json.dumps(v).encode()),
                    st.binary(max_size=20), st.sampled_from([b"", b"   ", b"{", b"\xff\xfe", b'{"text": "a\x00"}',
                                                             b"\r", b"\x1c", b"\xe2\x80\xa8", b"[]", b"null"]))
    line = st.one_of(good.map(lambda r: json.dumps(r, ensure_ascii=False).encode()), good.map(
        lambda r: json.dumps(r).encode()), bad)
    return st.lists(line, max_size=8).map(lambda lines: b"\n".join(lines))


def run_jsonl_kind(campaign: Campaign, n: int) -> None:
    """read_jsonl: the examples, or a DataError naming FILE:LINE (or FILE) in one line."""
    from dse.workloads.text_data import TASKS, read_jsonl

    root = campaign.scratch("jsonl")

    @_settings(n)
    @seed(SEED + 6)
    @given(raw=jsonl_lines(), task=st.sampled_from(sorted(TASKS)))
    def one(raw, task):
        path = root / "t.jsonl"
        path.write_bytes(raw)
        start = time.perf_counter()
        try:
            result = read_jsonl(path, TASKS[task])
        except ValueError as exc:
            message = str(exc)
            if "\n" in message or not message.startswith(str(path)):
                raise Finding(f"jsonl {raw!r}: refusal {message!r} is not one line naming the file") from None
            campaign.outcomes["jsonl", "refused"] += 1
        except Exception:  # noqa: BLE001
            raise Finding(f"jsonl {raw!r}: {traceback.format_exc()}") from None
        else:
            if len(result.texts) != len(result.labels) or not len(result.texts):
                raise Finding(f"jsonl {raw!r}: {len(result.texts)} texts, {len(result.labels)} labels")
            campaign.outcomes["jsonl", "ok"] += 1
        campaign.counts["jsonl"] += 1
        campaign.seconds["jsonl"] += time.perf_counter() - start

    one()


# ------------------------------------------------------------------------------------------------
# kind: damaged results folders
# ------------------------------------------------------------------------------------------------

def run_damaged_kind(campaign: Campaign, n: int) -> None:
    files = sorted(str(p.relative_to(campaign.stored)) for p in campaign.stored.rglob("*") if p.is_file())

    @_settings(n)
    @seed(SEED + 7)
    @given(target=st.sampled_from(files), how=st.sampled_from(["truncate", "flip", "empty", "folder", "delete",
                                                               "garbage", "append"]),
           at=st.floats(0, 1), command=st.sampled_from(["show", "query", "pareto", "run", "query-layers"]))
    def one(target, how, at, command):
        cwd = campaign.scratch("damaged")
        folder = cwd / "results" / "stored-fuzz"
        shutil.copytree(campaign.stored, folder)
        path = folder / target
        data = path.read_bytes()
        cut = min(int(at * len(data)), max(0, len(data) - 1))
        if how == "truncate":
            path.write_bytes(data[:cut])
        elif how == "flip":
            path.write_bytes(data[:cut] + bytes([data[cut] ^ 0x5A]) + data[cut + 1:] if data else b"\x00")
        elif how == "empty":
            path.write_bytes(b"")
        elif how == "folder":
            path.unlink()
            path.mkdir()
        elif how == "delete":
            path.unlink()
        elif how == "garbage":  # from the case's own numbers, so that a rerun of the case sees the same bytes
            path.write_bytes(random.Random(f"{target} {at}").randbytes(64))
        else:
            path.write_bytes(data + b'{"op_code": 99, "worker_id": "x"\n')
        names = [target, Path(target).name, str(folder), "stored-fuzz", "journal", "parquet", "_study.toml"]
        if command == "run":
            study = cwd / "stored-fuzz.toml"
            study.write_text(STORED_STUDY)
            snapshot = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}

            def nothing_lost(outcome: Outcome) -> None:
                _check_nothing_lost(folder, snapshot, outcome)

            campaign.case("damaged", ["run", str(study), "--results", str(cwd / "results"), "--no-progress"],
                          names, cwd=cwd, after=nothing_lost)
        else:
            argv = {"show": ["show", str(folder)], "query": ["query", str(folder), "adc_bits > 4"],
                    "query-layers": ["query", str(folder), "--layers"],
                    "pareto": ["pareto", str(folder), "-o", str(cwd / "p.png")]}[command]
            campaign.case("damaged", argv, names, cwd=cwd, watch=[folder])
        shutil.rmtree(cwd, ignore_errors=True)

    one()


REGENERATED = {"trials.parquet", "_layers/layers.parquet", "_study.toml", "_pareto.png"}


def _check_nothing_lost(folder: Path, snapshot: dict[Path, bytes], outcome: Outcome) -> None:
    """After ``dse run`` on a damaged folder: every stored file is unchanged, regenerated from the journal
    (the tables), or (the journal) kept whole: grown at its end only, its old bytes kept in a backup, or only
    a cut-short last entry dropped."""
    journal = folder / "_optuna.journal"
    backups = [p.read_bytes() for p in folder.glob("_optuna.journal.damaged-*")]
    cuts = [p.read_bytes() for p in folder.glob("_optuna.journal.cut-*")]  # a dropped last entry, then salvaged
    backups += [damaged + cut for damaged in backups for cut in cuts]
    for path, old in snapshot.items():
        name = str(path.relative_to(folder))
        if name in REGENERATED or not old:
            continue
        new = path.read_bytes() if path.is_file() else None
        if new == old:
            continue
        # the journal: grown at its end, kept whole in a backup, or rid of a cut-short last entry (what a
        # killed writer leaves, which Optuna cannot read: repair_journal drops it) and then grown
        complete = old[:old.rfind(b"\n") + 1]
        if path == journal and new is not None and (new.startswith(old.rstrip(b"\n")) or old in backups
                                                    or (complete and new.startswith(complete))):
            continue
        if path.name.endswith(".lock"):
            continue
        raise Finding(f"damaged: dse run (exit {outcome.code}) changed {name} without keeping its old bytes")


# ------------------------------------------------------------------------------------------------
# kind: eval (real runs of mlp-digits)
# ------------------------------------------------------------------------------------------------

EVAL_FLAGS = {"--rows": ["16", "32", "64", "128", "1", "0"], "--cols": ["8", "32", "64", "128"],
              "--cell-bits": ["1", "2", "3", "4", "8"], "--weight-bits": ["2", "4", "8", "16"],
              "--input-bits": ["1", "4", "8"], "--dac-bits": ["1", "2", "4", "8"], "--adc-bits": ["1", "4", "8", "24"],
              "--adc-range": ["full", "calibrated"], "--mapping": ["differential", "offset"],
              "--cols-per-adc": ["1", "8", "64", "200"], "--sa0": ["0", "0.02", "0.5", "1"],
              "--sa1": ["0", "0.09", "0.5"], "--fault-model": ["iid", "column"], "--chips": ["1", "2", "3"],
              "--protect": ["none", "prune", "spare-cols", "remap"], "--row-prune": ["0", "0.3", "0.9"],
              "--dup-copies": ["1", "2", "3"], "--msb-embed": ["0", "1"], "--compensate": ["true", "false"],
              "--variation": ["0", "0.05", "0.5"], "--read-noise": ["0", "0.02"], "--on-off-ratio": ["2", "10", "inf"],
              "--adc-offset": ["0", "0.5"], "--drift-t-s": ["0", "100"], "--seed": ["0", "7"],
              "--prune-method": ["magnitude"], "--tech": ["default", "isaac"]}


def run_eval_kind(campaign: Campaign, n: int) -> None:
    @_settings(n)
    @seed(SEED + 8)
    @given(flags=st.dictionaries(st.sampled_from(sorted(EVAL_FLAGS)), st.integers(0, 5), max_size=6))
    def one(flags):
        extra = []
        for flag, index in flags.items():
            extra += [flag, EVAL_FLAGS[flag][index % len(EVAL_FLAGS[flag])]]
        argv = ["eval", "--workload", "mlp-digits", "--max-test", "16", "--json", *extra]
        if "--chips" not in flags:
            argv += ["--chips", "1"]
        cwd = campaign.scratch("eval")

        def finite(outcome: Outcome) -> None:
            if outcome.code == 0:
                result = json.loads(outcome.out)
                accuracy = result["accuracy_mean"]
                if not (0.0 <= accuracy <= 1.0):
                    raise Finding(f"eval {argv}: accuracy_mean {accuracy}")

        campaign.case("eval", argv, [f.lstrip("-") for f in extra[::2]] + _field_names() + ["protect", "workload"],
                      cwd=cwd, after=finite)
        shutil.rmtree(cwd, ignore_errors=True)

    one()


KINDS = {"query": run_query, "flags": run_flags, "study": run_study_kind, "jsonl": run_jsonl_kind,
         "model": run_model_kind, "data": run_data_kind, "damaged": run_damaged_kind, "eval": run_eval_kind,
         "run": run_run_kind}
NEEDS_MONKEYPATCH = {"flags", "study"}


def campaign(root: Path, budget: dict[str, int], monkeypatch) -> Campaign:
    """Run every kind with its budget of cases; raises Finding on the first case that breaks the rules."""
    camp = Campaign(root)
    for kind, n in budget.items():
        if not n:
            continue
        with monkeypatch.context() as patch:
            try:
                if kind in NEEDS_MONKEYPATCH:
                    KINDS[kind](camp, n, patch)
                else:
                    KINDS[kind](camp, n)
            except Finding as finding:  # the counts so far go with the finding (docs/fuzz.md records both)
                raise Finding(f"{finding}\n\ncases before the finding:\n{camp.report()}") from None
        print(f"{kind}: {camp.counts[kind]} cases, {camp.seconds[kind]:.1f} s", flush=True)
    return camp


if __name__ == "__main__":  # python tests/fuzz_campaign.py [KIND=N ...]: every kind, findings listed, not stopped
    import sys

    import pytest

    budget = {kind: int(count) for kind, _, count in (item.partition("=") for item in sys.argv[1:])} or SLOW_BUDGET
    with tempfile.TemporaryDirectory(prefix="dse-fuzz-") as tmp:
        camp = Campaign(Path(tmp))
        for kind, n in budget.items():
            patch = pytest.MonkeyPatch()
            try:
                KINDS[kind](camp, n, patch) if kind in NEEDS_MONKEYPATCH else KINDS[kind](camp, n)
            except Exception as finding:  # noqa: BLE001 - a Finding, or a fault of the harness itself: report, go on
                print(f"FINDING in {kind} after {camp.counts[kind]} cases: {str(finding)[:3000]}", flush=True)
            finally:
                patch.undo()
            print(camp.report(), flush=True)
