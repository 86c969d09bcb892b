"""Workloads: layer gradients, the crossbar view of convolutions, training, built-ins, cache, model files."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from dse.workloads import Workload, list_workloads, load_model_file, load_workload, save_model_file
from dse.workloads import builtin, data, model_file
from dse.workloads.layers import (
    AvgPool2d, Conv2d, Flatten, Linear, MaxPool2d, ReLU, backward_all, forward_all, softmax_cross_entropy,
)
from dse.workloads.training import TrainingRecipe, train


@pytest.fixture(scope="session")
def workload_cache(request):
    """A cache that survives between test runs (pytest's own cache folder), so built-ins train once."""
    return request.config.cache.mkdir("reram-dse-workloads")


@pytest.fixture(scope="session")
def mlp(workload_cache) -> Workload:
    return load_workload("mlp-digits", cache_dir=workload_cache)


@pytest.fixture(scope="session")
def cnn(workload_cache) -> Workload:
    return load_workload("cnn-digits", cache_dir=workload_cache)


# --- gradients ------------------------------------------------------------------------------------

def numeric_gradient(loss, array: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central finite differences of the scalar ``loss()`` with respect to every element of ``array`` (in place)."""
    grad = np.zeros_like(array)
    for index in np.ndindex(array.shape):
        original = array[index]
        array[index] = original + eps
        plus = loss()
        array[index] = original - eps
        minus = loss()
        array[index] = original
        grad[index] = (plus - minus) / (2 * eps)
    return grad


def check_gradients(layer, x: np.ndarray) -> None:
    """Backward of ``sum(forward(x) * r)`` for a random ``r`` against finite differences, input and parameters."""
    r = np.random.default_rng(1).normal(size=layer.forward(x).shape)

    def loss() -> float:
        return float(np.sum(layer.forward(x) * r))

    layer.forward(x, train=True)
    grad_x = layer.backward(r)
    analytic = {key: value.copy() for key, value in layer.grads.items()}
    assert grad_x.shape == x.shape
    np.testing.assert_allclose(grad_x, numeric_gradient(loss, x), rtol=1e-6, atol=1e-8)
    assert set(analytic) == set(layer.params)
    for key, param in layer.params.items():
        np.testing.assert_allclose(analytic[key], numeric_gradient(loss, param), rtol=1e-6, atol=1e-8,
                                   err_msg=f"{layer.name}.{key}")


rng = np.random.default_rng(0)
GRADIENT_CASES = {
    "linear": (lambda: Linear(rng.normal(size=(5, 3)), rng.normal(size=3)), (4, 5)),
    "linear-on-sequence": (lambda: Linear(rng.normal(size=(5, 3)), rng.normal(size=3)), (2, 3, 5)),
    "conv-pad1": (lambda: Conv2d(rng.normal(size=(3, 2, 3, 3)), rng.normal(size=3), padding=1), (2, 2, 5, 4)),
    "conv-stride2": (lambda: Conv2d(rng.normal(size=(2, 3, 2, 3)), rng.normal(size=2), stride=2), (2, 3, 6, 7)),
    "relu": (ReLU, (3, 2, 4, 4)),
    "maxpool2": (lambda: MaxPool2d(2), (2, 3, 4, 6)),
    "maxpool3-overlapping": (lambda: MaxPool2d(3, stride=1), (2, 2, 5, 5)),
    "avgpool2": (lambda: AvgPool2d(2), (2, 3, 5, 4)),
    "avgpool3-overlapping": (lambda: AvgPool2d(3, stride=2), (1, 2, 7, 7)),
    "flatten": (Flatten, (2, 3, 2, 2)),
}


@pytest.mark.parametrize("case", GRADIENT_CASES)
def test_layer_gradients_match_finite_differences(case):
    make, x_shape = GRADIENT_CASES[case]
    check_gradients(make(), np.random.default_rng(2).normal(size=x_shape))


def test_softmax_cross_entropy_gradient_and_value():
    logits = np.random.default_rng(3).normal(size=(4, 5))
    labels = np.array([0, 4, 2, 2])
    loss, grad = softmax_cross_entropy(logits, labels)
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert loss == pytest.approx(-np.mean(np.log(probs[np.arange(4), labels])))
    numeric = numeric_gradient(lambda: softmax_cross_entropy(logits, labels)[0], logits)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-9)
    # Huge logits must not overflow.
    assert np.isfinite(softmax_cross_entropy(logits * 1e4, labels)[0])


def test_network_backward_matches_finite_differences():
    layers = [Conv2d(rng.normal(size=(2, 1, 3, 3)), padding=1), ReLU(), MaxPool2d(2), Flatten(),
              Linear(rng.normal(size=(8, 3)), rng.normal(size=3))]
    x = np.random.default_rng(4).normal(size=(3, 1, 4, 4))
    labels = np.array([0, 2, 1])
    loss, grad = softmax_cross_entropy(forward_all(layers, x, train=True), labels)
    grad_x = backward_all(layers, grad)
    numeric = numeric_gradient(lambda: softmax_cross_entropy(forward_all(layers, x), labels)[0], x)
    np.testing.assert_allclose(grad_x, numeric, rtol=1e-5, atol=1e-8)


# --- the crossbar view ----------------------------------------------------------------------------

def direct_convolution(x, weight, bias, stride, padding):
    """The textbook loop: every output pixel as a sum over its receptive field."""
    n, _, h, w = x.shape
    out_ch, _, kh, kw = weight.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    h_out, w_out = (h + 2 * padding - kh) // stride + 1, (w + 2 * padding - kw) // stride + 1
    y = np.zeros((n, out_ch, h_out, w_out))
    for s in range(n):
        for o in range(out_ch):
            for i in range(h_out):
                for j in range(w_out):
                    field = xp[s, :, i * stride : i * stride + kh, j * stride : j * stride + kw]
                    y[s, o, i, j] = np.sum(field * weight[o]) + bias[o]
    return y


@pytest.mark.parametrize("stride, padding, x_shape, kernel", [
    (1, 1, (2, 3, 8, 8), (3, 3)),
    (1, 0, (1, 2, 5, 7), (2, 3)),
    (2, 1, (3, 1, 9, 6), (3, 3)),
    (3, 2, (2, 2, 7, 7), (4, 4)),
])
def test_conv_im2col_matrix_fold_equals_direct_convolution(stride, padding, x_shape, kernel):
    g = np.random.default_rng(5)
    weight = g.normal(size=(4, x_shape[1], *kernel))
    bias = g.normal(size=4)
    conv = Conv2d(weight, bias, stride=stride, padding=padding, name="conv")
    x = g.normal(size=x_shape)
    expected = direct_convolution(x, weight, bias, stride, padding)

    cols = conv.im2col(x)
    _, h_out, w_out = conv.output_shape(x_shape[1:])
    assert cols.shape == (x_shape[0] * h_out * w_out, x_shape[1] * kernel[0] * kernel[1])
    assert conv.matrix().shape == (cols.shape[1], 4)
    assert conv.mvms_per_inference(x_shape[1:]) == h_out * w_out
    folded = conv.fold(cols @ conv.matrix() + conv.bias, x_shape[0], (h_out, w_out))
    np.testing.assert_allclose(folded, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(conv.forward(x), expected, rtol=1e-12, atol=1e-12)


def test_conv_fold_infers_square_outputs_and_refuses_to_guess_otherwise():
    conv = Conv2d(np.ones((2, 1, 3, 3)), padding=1)
    y_rows = np.arange(2 * 16 * 2, dtype=float).reshape(32, 2)
    assert conv.fold(y_rows, 2).shape == (2, 2, 4, 4)
    with pytest.raises(ValueError, match="out_hw"):
        conv.fold(y_rows[:24], 2)  # 12 positions per sample: not square


def test_linear_crossbar_view_matches_forward():
    layer = Linear(rng.normal(size=(6, 4)), rng.normal(size=4), name="fc")
    x = rng.normal(size=(5, 6))
    assert layer.matrix() is layer.weight and layer.matrix().shape == (6, 4)
    np.testing.assert_array_equal(layer.fold(layer.im2col(x) @ layer.matrix() + layer.bias, 5), layer.forward(x))
    assert layer.mvms_per_inference((6,)) == 1
    assert layer.mvms_per_inference((7, 6)) == 7  # a sequence of 7 tokens


# --- training ---------------------------------------------------------------------------------------

def tiny_problem(seed: int = 0):
    g = np.random.default_rng(seed)
    x = g.normal(size=(120, 6))
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64) + (x[:, 2] > 1)
    return x, y


def tiny_network(seed: int):
    g = np.random.default_rng(seed)
    return [Linear.initialised(6, 16, g, "fc1"), ReLU(), Linear.initialised(16, 3, g, "fc2")]


def test_training_is_deterministic_per_seed_and_learns():
    x, y = tiny_problem()
    recipe = TrainingRecipe(epochs=5, batch_size=16, learning_rate=1e-2, seed=7)
    runs = []
    for seed in (7, 7, 8):
        layers = tiny_network(seed)
        losses = train(layers, x, y, dataclasses.replace(recipe, seed=seed))
        runs.append((layers, losses))
    (a, losses_a), (b, losses_b), (c, _) = runs
    for la, lb, lc in zip(a, b, c):
        for key in la.params:
            np.testing.assert_array_equal(la.params[key], lb.params[key])
    assert losses_a == losses_b
    assert not np.array_equal(a[0].weight, c[0].weight)
    assert losses_a[-1] < 0.7 * losses_a[0]


# --- built-in workloads -------------------------------------------------------------------------------

def test_list_and_unknown_workload():
    assert list_workloads() == ["mlp-digits", "cnn-digits", "minilm-l6", "minilm-mr", "minilm-snli"]
    with pytest.raises(ValueError, match="allowed: mlp-digits, cnn-digits, minilm-l6"):
        load_workload("resnet-50")


@pytest.mark.parametrize("name", ["mlp", "cnn"])
def test_builtin_reaches_97_percent(name, request):
    workload = request.getfixturevalue(name)
    assert workload.float_accuracy >= 0.97
    assert workload.float_accuracy == workload.accuracy(workload.x_test, workload.y_test)


def test_builtin_splits_are_disjoint_scaled_and_shaped(mlp, cnn):
    assert (len(mlp.x_train), len(mlp.x_calib), len(mlp.x_test)) == (1293, 144, 360)
    rows = {tuple(r) for r in mlp.x_test}
    assert not rows & {tuple(r) for r in mlp.x_calib}
    assert mlp.x_train.min() >= 0.0 and mlp.x_train.max() == 1.0 and mlp.x_train.dtype == np.float64
    assert cnn.input_shape == (1, 8, 8) and cnn.x_test.shape == (360, 1, 8, 8)
    np.testing.assert_array_equal(cnn.x_test.reshape(360, 64), mlp.x_test)  # same split for both
    assert mlp.n_classes == cnn.n_classes == 10


def test_builtin_crossbar_layers(mlp, cnn):
    shapes = [(c.name, c.in_features, c.out_features, c.mvms_per_inference) for c in mlp.crossbar_layers()]
    assert shapes == [("fc1", 64, 256, 1), ("fc2", 256, 128, 1), ("fc3", 128, 10, 1)]
    shapes = [(c.name, c.in_features, c.out_features, c.mvms_per_inference) for c in cnn.crossbar_layers()]
    assert shapes == [("conv1", 9, 16, 64), ("conv2", 144, 32, 16), ("fc", 128, 10, 1)]
    for info in cnn.crossbar_layers():
        assert cnn.layers[info.index].name == info.name


def test_forward_in_chunks_equals_one_pass(cnn):
    x = np.concatenate([cnn.x_test] * 3)  # more than one inference chunk
    # Close, not equal: BLAS blocks a matrix product differently for different row counts.
    np.testing.assert_allclose(cnn.forward(x), np.concatenate([forward_all(cnn.layers, cnn.x_test)] * 3),
                               rtol=1e-12, atol=1e-12)


# --- the training cache ----------------------------------------------------------------------------

def tiny_workload(cache_dir, seed=0):
    x, y = tiny_problem()
    splits = data.split(x, y)
    recipe = TrainingRecipe(epochs=3, batch_size=16, learning_rate=1e-2, seed=seed)
    return builtin.trained_workload("tiny", tiny_network, splits, recipe, cache_dir)


def test_cache_hit_returns_identical_weights_without_training(tmp_path, monkeypatch):
    first = tiny_workload(tmp_path)
    assert len(list(tmp_path.glob("tiny-*.npz"))) == 1

    def no_training(*args, **kwargs):
        raise AssertionError("a cache hit must not train")

    monkeypatch.setattr(builtin, "train", no_training)
    second = tiny_workload(tmp_path)
    assert first.weights().keys() == second.weights().keys()
    for key, value in first.weights().items():
        np.testing.assert_array_equal(value, second.weights()[key])
    assert second.float_accuracy == first.float_accuracy
    with pytest.raises(AssertionError, match="must not train"):
        tiny_workload(tmp_path, seed=1)  # another seed is another key: trains


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_corrupt_cache_file_is_retrained(tmp_path, damage):
    first = tiny_workload(tmp_path)
    (path,) = tmp_path.glob("tiny-*.npz")
    content = path.read_bytes()
    path.write_bytes({"garbage": b"not a zip file at all", "truncated": content[: len(content) // 2],
                      "empty": b""}[damage])
    with pytest.warns(UserWarning, match="retraining"):
        again = tiny_workload(tmp_path)
    for key, value in first.weights().items():
        np.testing.assert_array_equal(value, again.weights()[key])
    assert path.read_bytes() == content  # rewritten whole, bit-identical
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary file left behind


def test_cache_file_with_wrong_key_is_retrained(tmp_path):
    tiny_workload(tmp_path)
    (path,) = tmp_path.glob("tiny-*.npz")
    arrays, metadata = model_file.read_arrays(path)
    np.savez(path, **arrays, **{**metadata, "cache_key": np.array("0" * 64)})
    with pytest.warns(UserWarning, match="cache key"):
        tiny_workload(tmp_path)


def test_cache_dir_default_and_environment(monkeypatch, tmp_path):
    monkeypatch.delenv(builtin.CACHE_ENV, raising=False)
    assert builtin.default_cache_dir() == Path.home() / ".cache" / "reram-dse" / "workloads"
    monkeypatch.setenv(builtin.CACHE_ENV, str(tmp_path))
    assert builtin.default_cache_dir() == tmp_path / "workloads"


def test_cache_key_covers_data_and_architecture():
    x, y = tiny_problem()
    splits = data.split(x, y)
    recipe = TrainingRecipe()
    layers = tiny_network(0)
    key = builtin.cache_key("tiny", layers, (6,), splits, recipe)
    assert key == builtin.cache_key("tiny", tiny_network(1), (6,), splits, recipe)  # weights are not the key
    other_data = data.split(x[::-1].copy(), y[::-1].copy())
    assert key != builtin.cache_key("tiny", layers, (6,), other_data, recipe)
    wider = [Linear.initialised(6, 17, rng, "fc1"), ReLU(), Linear.initialised(17, 3, rng, "fc2")]
    assert key != builtin.cache_key("tiny", wider, (6,), splits, recipe)
    assert key != builtin.cache_key("tiny", layers, (6,), splits, TrainingRecipe(lr_decay=0.9))


# --- model files ------------------------------------------------------------------------------------

def all_digits(workload):
    """The whole digits set in its original order, shaped for ``workload`` (so the default split matches)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return (bunch.data / 16.0).reshape(-1, *workload.input_shape), bunch.target


@pytest.mark.parametrize("name", ["mlp", "cnn"])
def test_npz_round_trip_gives_identical_predictions(name, request, tmp_path):
    workload = request.getfixturevalue(name)
    path = save_model_file(workload, tmp_path / f"{name}.npz")
    loaded = load_model_file(path, *all_digits(workload))
    assert loaded.name == name and loaded.input_shape == workload.input_shape
    np.testing.assert_array_equal(loaded.forward(workload.x_test), workload.forward(workload.x_test))
    assert [c for c in loaded.crossbar_layers()] == workload.crossbar_layers()
    # The default split of load_model_file is the built-ins' split.
    np.testing.assert_array_equal(loaded.x_test, workload.x_test)
    np.testing.assert_array_equal(loaded.y_calib, workload.y_calib)
    assert loaded.float_accuracy == workload.float_accuracy


def test_safetensors_round_trip_or_clear_install_hint(mlp, tmp_path):
    try:
        import safetensors  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="pip install safetensors"):
            save_model_file(mlp, tmp_path / "mlp.safetensors")
        (tmp_path / "m.safetensors").write_bytes(b"x")
        with pytest.raises(ImportError, match="pip install safetensors"):
            load_model_file(tmp_path / "m.safetensors", *all_digits(mlp))
        return
    path = save_model_file(mlp, tmp_path / "mlp.safetensors")
    loaded = load_model_file(path, *all_digits(mlp))
    np.testing.assert_array_equal(loaded.forward(mlp.x_test), mlp.forward(mlp.x_test))


def small_model():
    """A valid hand-written model file's contents: (layer list, arrays), input (1, 6, 6), 3 classes."""
    g = np.random.default_rng(6)
    layers = [
        {"type": "conv2d", "name": "conv", "weight": "conv.w", "bias": "conv.b", "stride": 1, "padding": 1},
        {"type": "relu"},
        {"type": "maxpool2d", "kernel": 2},
        {"type": "flatten"},
        {"type": "linear", "name": "fc1", "weight": "fc1.w", "bias": "fc1.b"},
        {"type": "relu"},
        {"type": "linear", "name": "fc2", "weight": "fc2.w"},
    ]
    arrays = {"conv.w": g.normal(size=(2, 1, 3, 3)), "conv.b": g.normal(size=2),
              "fc1.w": g.normal(size=(18, 4)), "fc1.b": g.normal(size=4), "fc2.w": g.normal(size=(4, 3))}
    return layers, arrays


def small_data(n=30):
    g = np.random.default_rng(7)
    return g.uniform(size=(n, 1, 6, 6)), g.integers(0, 3, size=n)


def write_npz(path, layers, arrays, **extra):
    np.savez(path, layers=json.dumps(layers), **arrays, **extra)
    return path


def test_hand_written_model_file_loads_and_matches_manual_forward(tmp_path):
    layers, arrays = small_model()
    x, y = small_data()
    workload = load_model_file(write_npz(tmp_path / "small.npz", layers, arrays), x, y, name="mine")
    assert workload.name == "mine" and workload.n_classes == 3
    assert [c.name for c in workload.crossbar_layers()] == ["conv", "fc1", "fc2"]
    assert len(workload.x_test) + len(workload.x_calib) + len(workload.x_train) == 30
    conv = direct_convolution(x, arrays["conv.w"], arrays["conv.b"], 1, 1)
    pooled = np.maximum(conv, 0).reshape(30, 2, 3, 2, 3, 2).max(axis=(3, 5)).reshape(30, 18)
    expected = np.maximum(pooled @ arrays["fc1.w"] + arrays["fc1.b"], 0) @ arrays["fc2.w"]
    np.testing.assert_allclose(workload.forward(x), expected, rtol=1e-12, atol=1e-12)


def test_pytorch_weight_layout_is_transposed_on_load(tmp_path):
    layers, arrays = small_model()
    x, y = small_data()
    reference = load_model_file(write_npz(tmp_path / "a.npz", layers, arrays), x, y)
    layers[6]["weight_layout"] = "out_in"
    arrays["fc2.w"] = arrays["fc2.w"].T.copy()
    torch_style = load_model_file(write_npz(tmp_path / "b.npz", layers, arrays), x, y)
    np.testing.assert_array_equal(torch_style.forward(x), reference.forward(x))


def _set(layers_arrays, change):
    layers, arrays = layers_arrays
    change(layers, arrays)
    return layers, arrays


BROKEN_MODELS = {
    "missing array": (lambda l, a: a.pop("fc1.w"), r"layer 4 \('fc1', linear\): weight array 'fc1.w' is missing"),
    "wrong shape": (lambda l, a: a.update({"fc1.w": np.ones((16, 4))}),
                    r"layer 4 \('fc1', linear\): expects 16 input features .* shape \(18,\)"),
    "wrong channels": (lambda l, a: a.update({"conv.w": np.ones((2, 3, 3, 3))}),
                       r"layer 0 \('conv', conv2d\): expects 3 input channels"),
    "bias shape": (lambda l, a: a.update({"fc1.b": np.ones(5)}), r"layer 4 \('fc1', linear\): bias array 'fc1.b'"),
    "nan weight": (lambda l, a: a["fc2.w"].__setitem__((0, 1), np.nan),
                   r"layer 6 \('fc2', linear\): weight array 'fc2.w' holds 1 NaN/inf"),
    "inf bias": (lambda l, a: a["conv.b"].__setitem__(0, np.inf), r"layer 0 \('conv', conv2d\): bias array 'conv.b'"),
    "unknown type": (lambda l, a: l[1].update({"type": "gelu"}), r"layer 1 \('gelu1', gelu\): unknown layer type"),
    "typo key": (lambda l, a: l[0].update({"pad": 1}), r"layer 0 \('conv', conv2d\): unknown key\(s\) pad"),
    "missing kernel": (lambda l, a: l[2].pop("kernel"), r"layer 2 \('maxpool2d2', maxpool2d\): missing key\(s\) kernel"),
    "bad stride": (lambda l, a: l[0].update({"stride": 0}), r"layer 0 \('conv', conv2d\): stride must be an integer >= 1"),
    "duplicate name": (lambda l, a: l[6].update({"name": "fc1"}), r"layer 6 \('fc1', linear\): name already used by layer 4"),
    "not a classifier": (lambda l, a: l.__delitem__(slice(3, 7)), r"layer 2 .* a classifier must end in a vector"),
    "pool too big": (lambda l, a: l[2].update({"kernel": 7}), r"layer 2 \('maxpool2d2', maxpool2d\): pooling kernel 7"),
    "string weight": (lambda l, a: a.update({"fc2.w": np.array([["a"] * 3] * 4)}),
                      r"layer 6 \('fc2', linear\): weight array 'fc2.w' has non-numeric dtype"),
    # consistent shapes, but a (2, 2004, 2004) activation per sample: refused before running anything
    "huge activation": (lambda l, a: (l[0].update({"padding": 1000}), l[2].update({"kernel": 668})),
                        r"layer 0 \('conv', conv2d\) needs 36144144 values per sample, more than 4194304"),
}


@pytest.mark.parametrize("case", BROKEN_MODELS)
def test_model_file_validation_names_the_offending_layer(case, tmp_path, monkeypatch):
    change, message = BROKEN_MODELS[case]
    layers, arrays = small_model()
    change(layers, arrays)
    path = write_npz(tmp_path / "broken.npz", layers, arrays)
    monkeypatch.setattr(model_file, "split", lambda *a, **k: pytest.fail("validation must come before any work"))
    with pytest.raises(ValueError, match=message):
        load_model_file(path, *small_data())


BROKEN_DATA = {
    "length mismatch": (lambda x, y: (x, y[:-1]), r"x and y lengths differ: x has 30 samples, y has 29"),
    "label out of range": (lambda x, y: (x, np.where(np.arange(30) == 5, 3, y)), r"y: label 3 is out of range.*0\.\.2"),
    "negative label": (lambda x, y: (x, np.where(np.arange(30) == 5, -1, y)), r"y: label -1 is out of range"),
    "float labels": (lambda x, y: (x, y + 0.5), r"y: labels must be integer class indices"),
    "nan input": (lambda x, y: (np.where(x > 0.99, np.nan, x), y), r"x: holds \d+ NaN/inf"),
    "wrong input shape": (lambda x, y: (x.reshape(30, 36), y), r"layer 0 \('conv', conv2d\): expects a \(channels, height, width\) image"),
    "too few samples": (lambda x, y: (x[:5], y[:5]), r"x: 5 samples; need at least 10"),
}


@pytest.mark.parametrize("case", BROKEN_DATA)
def test_model_file_validation_of_data(case, tmp_path, monkeypatch):
    change, message = BROKEN_DATA[case]
    path = write_npz(tmp_path / "small.npz", *small_model())
    monkeypatch.setattr(model_file, "split", lambda *a, **k: pytest.fail("validation must come before any work"))
    with pytest.raises(ValueError, match=message):
        load_model_file(path, *change(*small_data()))


def test_model_file_level_errors(tmp_path, mlp):
    x, y = small_data()
    _, arrays = small_model()
    np.savez(tmp_path / "nolayers.npz", **arrays)
    with pytest.raises(ValueError, match="no 'layers' entry"):
        load_model_file(tmp_path / "nolayers.npz", x, y)
    np.savez(tmp_path / "badjson.npz", layers="[{'type': 'relu'}]", **arrays)
    with pytest.raises(ValueError, match="'layers' is not valid JSON"):
        load_model_file(tmp_path / "badjson.npz", x, y)
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(ValueError, match="not a readable .npz file"):
        load_model_file(tmp_path / "junk.npz", x, y)
    with pytest.raises(ValueError, match=r"end in \.npz or \.safetensors"):
        load_model_file(tmp_path / "model.pt", x, y)
    with pytest.raises(FileNotFoundError):
        load_model_file(tmp_path / "absent.npz", x, y)
    path = save_model_file(mlp, tmp_path / "mlp.npz")  # records input_shape (64,)
    with pytest.raises(ValueError, match=r"expects inputs of shape \(64,\), but x has per-sample shape \(1, 6, 6\)"):
        load_model_file(path, x, y)
