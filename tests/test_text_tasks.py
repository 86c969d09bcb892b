"""The text benchmarks on the encoder (minilm-mr, minilm-snli), end to end on the test fixtures.

The workloads are built here from a few fixture lines (tests/data, sampled from the real files), in a
temporary cache, so the suite never needs the full data; the full benchmarks are measured by the
commands in docs/text-tasks.md. Skipped without the transformer extra, like tests/test_transformer.py.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dse.cli import main
from dse.config import FaultScenario, HardwareConfig
from dse.mapping import map_network
from dse.workloads.workload import Workload
from dse.simulate import chip_layers, evaluate, run_network
from dse.workloads import text_data, text_tasks
from dse.workloads.transformer import float_linear

from test_transformer import needs_model

layer_inputs = Workload.layer_inputs  # (workload, x): each weight layer's float inputs

FIXTURES = Path(__file__).parent / "data"
LOSSLESS = HardwareConfig(adc_bits=9)


def _fixture_splits(data: text_data.TextSet, sizes=(12, 4, 2, 4)) -> text_data.TextSplits:
    bounds = np.cumsum((0, *sizes))
    train, validation, calibration, test = (data.take(np.arange(a, b)) for a, b in zip(bounds[:-1], bounds[1:]))
    return text_data.TextSplits(train=train, validation=validation, calibration=calibration, test=test)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("text-task-cache")


@pytest.fixture(scope="module")
def mr(cache):
    splits = _fixture_splits(text_data.parse_mr((FIXTURES / "mr_fixture.txt").read_bytes()))
    return text_tasks.task_workload("minilm-mr", cache_dir=cache, splits=splits)


@pytest.fixture(scope="module")
def snli(cache):
    splits = _fixture_splits(text_data.parse_snli((FIXTURES / "snli_fixture.jsonl").read_bytes()), (15, 3, 2, 3))
    return text_tasks.task_workload("minilm-snli", cache_dir=cache, splits=splits)


@needs_model
def test_mr_workload_shape_choices_and_crossbar_view(mr):
    assert len(mr.layers) == 37 and mr.layers[-1].name == "head"
    assert mr.layers[-1].matrix().shape == (384, 2)
    assert set(mr.smoothing) == set(range(37))  # the head's inputs are smoothed like every other layer's
    assert mr.choices["head_c"] in text_tasks.HEAD_C_GRID
    assert mr.choices["encoder_alpha"] in text_tasks.ENCODER_ALPHA_GRID
    assert mr.choices["head_alpha"] in text_tasks.HEAD_ALPHA_GRID
    # the chosen strengths are the best-scored ones, and the head's factors are its own alpha's
    cosine = mr.choices["encoder_alpha_validation_cosine"]
    assert cosine[str(mr.choices["encoder_alpha"])] == max(cosine.values())
    error = mr.choices["head_alpha_validation_logit_error"]
    assert error[str(mr.choices["head_alpha"])] == min(error.values())
    layers = mr.crossbar_layers()
    tokens = (mr.x_test != 0).sum(axis=1).mean()
    assert layers[-1].mvms_per_inference == 1
    assert layers[0].mvms_per_inference == round(tokens)
    info = mr.info()
    assert "head" in info.layers and "head" not in info.col_layers  # the classes stay


@needs_model
def test_stored_embeddings_are_the_float_path_and_stop_when_the_encoder_changes(mr):
    rows = text_tasks.sentence_rows(mr.x_test)
    stored = mr.stored_embeddings(rows)
    assert stored is not None
    computed = text_tasks.encode(mr, rows)  # the smoothed encoder, computed afresh
    np.testing.assert_allclose(computed, stored, rtol=0, atol=1e-9)
    np.testing.assert_allclose(mr.forward(mr.x_test), mr.forward_with(mr.x_test, lambda i, layer, x: layer.forward(x)),
                               rtol=0, atol=1e-9)
    import dataclasses

    changed = dataclasses.replace(mr, layers=tuple(type(l)(l.matrix().copy(), l.bias, name=l.name) for l in mr.layers))
    assert changed.stored_embeddings(rows) is None  # e.g. a pruned, fine-tuned encoder: computed, not looked up


@needs_model
def test_lossless_hardware_is_the_quantised_network_exactly(mr):
    """The crossbars with a lossless ADC compute what the validation-time model of them (the one that
    chose the smoothing strength) computes: same logits to float rounding."""
    net = map_network(mr, LOSSLESS)
    hardware = run_network(net, chip_layers(net, None, None), mr.x_test)
    model = mr.forward_with(mr.x_test, text_tasks.quantised_linear(mr, layer_inputs(mr, mr.x_calib), LOSSLESS))
    np.testing.assert_allclose(hardware, model, rtol=1e-9, atol=1e-9)
    result = evaluate(mr, LOSSLESS, FaultScenario(n_chips=2, sa0_rate=0.0, sa1_rate=0.0), mapped=net)
    assert result.float_accuracy == mr.accuracy()
    assert result.ideal_accuracy == mr.score(hardware, mr.y_test)
    faulty = evaluate(mr, HardwareConfig(), FaultScenario(n_chips=1, sa0_rate=0.0175, sa1_rate=0.0904), max_test=2)
    assert faulty.layers["output_error"].gt(0.05).all()  # every one of the 37 layers sees its faults


@needs_model
def test_head_and_smoothing_come_from_the_cache_the_second_time(mr, cache, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("refitted although cached")

    monkeypatch.setattr(text_tasks, "fit_standardised_head", refuse)
    splits = _fixture_splits(text_data.parse_mr((FIXTURES / "mr_fixture.txt").read_bytes()))
    again = text_tasks.task_workload("minilm-mr", cache_dir=cache, splits=splits)
    for a, b in zip(again.layers, mr.layers):
        np.testing.assert_array_equal(a.matrix(), b.matrix())
    assert again.choices == mr.choices and again.float_accuracy == mr.float_accuracy
    assert len(list(cache.glob("minilm-mr-embeddings-*.npy"))) == 4  # one per split


@needs_model
@pytest.mark.slow
def test_snli_pairs_keep_premise_and_hypothesis_of_each_row(snli):
    assert snli.x_test.ndim == 3 and snli.x_test.shape[1] == 2
    assert snli.layers[-1].matrix().shape == (4 * 384, 3)
    bare = text_tasks.bare_encoder()
    u = text_tasks.encode(bare, snli.x_test[:, 0])
    v = text_tasks.encode(bare, snli.x_test[:, 1])
    head = snli.layers[-1]
    features = text_tasks.senteval_features(u, v) / snli.smoothing[snli.head_index]
    np.testing.assert_allclose(snli.forward(snli.x_test), head.forward(features), rtol=0, atol=1e-8)
    with pytest.raises(ValueError, match=r"\(pairs, 2, tokens\)"):
        snli.forward(snli.x_test[:, 0])


@needs_model
def test_bring_your_own_jsonl_replaces_the_test_split_only(mr, tmp_path):
    good = tmp_path / "mine.jsonl"
    good.write_text('{"text": "A wonderful, moving film.", "label": "positive"}\n'
                    '{"text": "Dull and far too long.", "label": 0}\n')
    mine = text_tasks.read_task_data(mr, good)
    assert mine.y_test.tolist() == [1, 0] and mine.x_test.shape[0] == 2
    np.testing.assert_array_equal(mine.x_calib, mr.x_calib)
    assert mine.layers is mr.layers
    assert 0.0 <= mine.accuracy() <= 1.0
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "fine", "label": 1}\n{"text": "", "label": 1}\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:2: field 'text' must be a non-empty string"):
        text_tasks.read_task_data(mr, bad)


def test_data_flag_is_refused_for_workloads_without_text_and_for_missing_files(tmp_path, capsys):
    assert main(["eval", "--workload", "mlp-digits", "--data", str(tmp_path / "x.jsonl")]) == 2
    assert "minilm-mr, minilm-snli" in capsys.readouterr().err
    assert main(["eval", "--workload", "minilm-mr", "--data", str(tmp_path / "missing.jsonl")]) == 2
    err = capsys.readouterr().err
    assert "missing.jsonl" in err and "does not exist" in err and len(err.strip().splitlines()) == 1


def test_length_chunks_cover_every_sentence_once_in_length_order():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 30, 200)
    ids = np.zeros((200, 30), dtype=np.int64)
    for row, n in enumerate(lengths):
        ids[row, :n] = rng.integers(1, 1000, n)
    chunks = text_tasks.length_chunks(ids, chunk=16)
    joined = np.concatenate(chunks)
    assert sorted(joined.tolist()) == list(range(200))
    assert np.all(np.diff(lengths[joined]) >= 0)
    unique, inverse = text_tasks.unique_sentences(np.concatenate([ids, ids[:5]]))
    assert len(unique) == len({row.tobytes() for row in ids}) and (inverse[200:] == inverse[:5]).all()


STUDY = """
[study]
name = "mine"
workload = "minilm-mr"
data = "DATA"
max_test = 50

[faults]
sa0_rate = 0.0175
sa1_rate = 0.0904
n_chips = 2

[search]
adc_bits = [7, 8]

[objectives]
accuracy_mean = "maximize"
energy_pj = "minimize"
"""


def test_study_data_key_checks_every_line_and_max_test_bounds_the_test(tmp_path, monkeypatch):
    from dse.study.parse import StudyFileError, load_study
    from dse.study.run import run_study

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "fine", "label": "positive"}\n{"text": "meh", "label": "mixed"}\n')
    path = tmp_path / "study.toml"
    path.write_text(STUDY.replace("DATA", "bad.jsonl"))
    with pytest.raises(StudyFileError, match=r"study.data: .*bad.jsonl:2: unknown label 'mixed'"):
        load_study(path)
    path.write_text(STUDY.replace("DATA", "bad.txt"))
    with pytest.raises(StudyFileError, match=r"study.data: .*JSON Lines"):
        load_study(path)
    good = tmp_path / "good.jsonl"
    good.write_text('{"text": "fine", "label": "positive"}\n')
    path.write_text(STUDY.replace("DATA", "good.jsonl"))
    spec = load_study(path)
    assert spec.data_path == str(good.resolve()) and spec.max_test == 50
    owner = spec.owner()
    assert "good.jsonl" in owner["workload"] and owner["max_test"] == 50
    path.write_text(STUDY.replace("DATA", "good.jsonl").replace("max_test = 50", "max_test = 0"))
    with pytest.raises(StudyFileError, match="study.max_test"):
        load_study(path)
    seen = []

    def objective(workload, hw, faults, protection, *, analog=None, data=None, max_test=None):
        seen.append((workload, data, max_test))
        raise ValueError("stop here")  # an invalid design: the study goes on, nothing is evaluated

    path.write_text(STUDY.replace("DATA", "good.jsonl"))
    run_study(load_study(path), results=tmp_path / "results", objective=objective, progress=False)
    assert seen and set(seen) == {("minilm-mr", str(good.resolve()), 50)}


@needs_model
@pytest.mark.slow
def test_pair_backward_matches_finite_differences(snli):
    """The gradient through the head, the pair features and the encoder (what pruning trains with)."""
    import copy
    import dataclasses

    work = dataclasses.replace(snli, layers=tuple(copy.deepcopy(list(snli.layers))))
    x, y = work.x_test[:2], work.y_test[:2]

    def loss() -> float:
        return work.loss(work.forward_train(x), y)[0]

    work.backward(work.loss(work.forward_train(x), y)[1])
    for index, (r, c) in ((work.head_index, (5, 1)), (work.head_index, (1300, 2)), (4, (3, 7)), (2, (10, 11))):
        layer = work.layers[index]
        analytic = layer.grads["weight"][r, c]
        w = layer.params["weight"]
        step = 1e-5 * max(1.0, abs(w[r, c]))
        w[r, c] += step
        up = loss()
        w[r, c] -= 2 * step
        down = loss()
        w[r, c] += step
        assert analytic == pytest.approx((up - down) / (2 * step), rel=1e-4, abs=1e-8)


@needs_model
def test_pruning_covers_the_head_rows_and_keeps_its_classes(mr, tmp_path):
    from dse.pruning import PruneRecipe, prune

    recipe = PruneRecipe(gate_epochs=0, finetune_epochs=1, batch_size=4, learning_rate=1e-5)
    pruned = prune(mr, 0.3, 0.3, "magnitude", recipe=recipe, cache_dir=tmp_path)
    head = mr.head_index
    assert len(pruned.keep_rows[head]) == round(0.7 * 384) and len(pruned.keep_cols[head]) == 2
    assert len(pruned.keep_cols[0]) == round(0.7 * 384) and len(pruned.keep_rows[5]) == round(0.7 * 1536)
    work = pruned.workload
    assert work.stored_embeddings(text_tasks.sentence_rows(work.x_test)) is None  # its own encoder now
    np.testing.assert_array_equal(work.x_train, mr.x_train)
    assert 0.0 <= work.float_accuracy <= 1.0
