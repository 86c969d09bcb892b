"""The Python API (dse/api.py, docs/api.md): lazy names, what each call returns, the tutorial as written."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import dse

ROOT = Path(__file__).resolve().parents[1]


def test_import_dse_loads_no_numeric_stack():
    code = "import sys, dse\nprint(' '.join(sorted({m.split('.')[0] for m in sys.modules})))"
    loaded = set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                timeout=120).stdout.split())
    assert not loaded & {"numba", "numpy", "pandas", "optuna", "pyarrow", "kernels"}, loaded


def test_every_api_name_resolves_and_unknown_ones_fail():
    for name in dse.__all__:
        assert getattr(dse, name) is not None
    assert dse.HardwareConfig is __import__("dse.config", fromlist=["x"]).HardwareConfig
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        dse.nope  # noqa: B018


def test_evaluate_takes_a_preset_name_and_cost_matches_the_cost_model():
    from dse.cost import cost
    from dse.protection import PRESETS

    faults = dse.FaultScenario(sa0_rate=0.01, sa1_rate=0.05, n_chips=2, seed=3)
    result = dse.evaluate("mlp-digits", dse.HardwareConfig(adc_bits=6), faults, protection="spare-cols",
                          max_test=40)
    assert result.protection == PRESETS["spare-cols"]
    assert result.accuracy_per_chip.shape == (2,) and ((0 <= result.accuracy_per_chip) & (result.accuracy_per_chip <= 1)).all()
    report = dse.estimate_cost(result)
    assert report.energy_pj == cost(result.layouts, result.hw).energy_pj > 0
    assert dse.estimate_cost(result, adc_model="flash").adc_model == "flash"
    with pytest.raises(ValueError, match="protection must be one of none, prune"):
        dse.evaluate("mlp-digits", protection="zero-spcae")


def test_read_results_gives_both_tables_and_the_metadata(tmp_path):
    import pandas as pd
    import pyarrow as pa

    from dse.study.folder import LAYERS_FILE, TRIALS_FILE
    from dse.study.results import write_atomic

    (tmp_path / LAYERS_FILE).parent.mkdir(parents=True, exist_ok=True)
    meta = {b"dse": b'{"objectives": [["accuracy_mean", "maximize"]]}'}
    trials = pa.Table.from_pandas(pd.DataFrame({"trial_number": [0, 1], "accuracy_mean": [0.5, 0.9]}),
                                  preserve_index=False)
    write_atomic(trials.replace_schema_metadata({**(trials.schema.metadata or {}), **meta}), tmp_path / TRIALS_FILE)
    write_atomic(pa.table({"trial_number": [0, 0, 1], "name": ["a", "b", "a"]}), tmp_path / LAYERS_FILE)
    got = dse.read_results(tmp_path)
    trials_frame, layers_frame, metadata = got
    assert list(trials_frame.accuracy_mean) == [0.5, 0.9] and len(layers_frame) == 3
    assert got.trials is trials_frame and isinstance(metadata, dict)


@pytest.mark.slow
def test_the_tutorial_runs_as_written(tmp_path, monkeypatch):
    text = (ROOT / "docs" / "api.md").read_text()
    code = "\n".join(re.findall(r"```python\n(.*?)```", text, re.S))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "studies").symlink_to(ROOT / "studies")
    namespace: dict = {}
    exec(compile(code, "docs/api.md", "exec"), namespace)  # the docs' own cells, nothing else
    assert namespace["result"].accuracy_per_chip.shape == (8,)
    assert len(namespace["trials"]) == 8 and len(namespace["layers"]) == 8 * 3
    assert namespace["front"]["energy_pj"].is_monotonic_increasing
    assert (tmp_path / "results" / "tutorial" / "quickstart").is_dir()
