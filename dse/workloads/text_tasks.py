"""Real text benchmarks on the MiniLM encoder: ``minilm-mr`` (sentiment) and ``minilm-snli`` (inference).

Both run all-MiniLM-L6-v2 (``transformer.py``) with every one of its 36 linear layers on crossbars, plus a
task head that is a 37th crossbar layer:

- ``minilm-mr``: the sentence embedding ``u`` (384) -> 2 classes (0 negative, 1 positive);
- ``minilm-snli``: premise and hypothesis embedded separately (the same encoder, one pass over both), the
  SentEval / InferSent features ``[u, v, |u - v|, u * v]`` (1536) computed digitally -> 3 classes
  (0 entailment, 1 neutral, 2 contradiction).

The encoder is frozen (the pretrained weights); the head is a multinomial logistic regression on the
float features of the training split, its inputs standardised with the training mean and deviation
(folded into the head's weights and bias, so the crossbar layer is one ``x @ W + b``). Every
hyperparameter is chosen on the validation split, never the test split (:data:`HEAD_C_GRID`,
:data:`ENCODER_ALPHA_GRID`, :data:`HEAD_ALPHA_GRID`). Data, splits and sources: ``text_data.py``.

Inputs ``x`` are token ids padded with 0: (N, L) for single sentences, (N, 2, L) for pairs. The network's
output is the head's logits; accuracy is the argmax accuracy, as for the digits classifiers.

Cache (the workloads' cache directory, ``$RERAM_DSE_CACHE/workloads``):

- ``<task>-embeddings-<key>.npy``: float embeddings of the unique sentences of one split
  (``text_embeddings.py``);
- ``<workload>-head-<key>.npz``: the chosen hyperparameters, the smoothing factors and the head, keyed by
  those embeddings, the labels, the grids and :data:`HEAD_FORMAT`.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np

from dse.atomic import write_atomic
from dse.workloads.builtin import read_keyed_cache, register
from dse.workloads.layers import Linear
from dse.workloads.text_data import TASKS, DataError, TextSet, TextSplits, TextTask, load_mr, load_snli, read_jsonl
from dse.workloads.transformer import (
    BLOCKS,
    DISTILL_WEIGHT,
    LINEAR_KINDS,
    TransformerWorkload,
    float_linear,
)
from dse.workloads.sentences import row_key
from dse.workloads.text_embeddings import (  # noqa: F401  (also this module's API)
    bare_encoder,
    cached_embeddings,
    embeddings_key,
    encode,
    length_chunks,
    sentence_rows,
    tokenize_texts,
    unique_sentences,
)
from dse.workloads.workload import CrossbarLayer, WorkloadInfo

# --- the workloads ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class TaskSpec:
    """One text benchmark on the encoder.

    data          ``text_data`` task key (``mr``, ``snli``): loader, label names, JSON Lines fields
    pairs         whether an example is (sentence1, sentence2)
    train_limit   at most this many training examples for the head (the first of the seeded split):
                  encoding is the cost, one float pass per sentence on the shared CPUs
    """

    name: str
    data: str
    pairs: bool
    train_limit: int | None = None

    @property
    def task(self) -> TextTask:
        return TASKS[self.data]

    def splits(self) -> TextSplits:
        splits = load_mr() if self.data == "mr" else load_snli()
        if self.train_limit is not None and len(splits.train) > self.train_limit:
            splits = dataclasses.replace(splits, train=splits.train.take(np.arange(self.train_limit)))
        return splits


SPECS = {
    "minilm-mr": TaskSpec("minilm-mr", "mr", pairs=False),
    # 10,000 of the 94,866 training pairs (encoding is most of the cost; validation accuracy of the head
    # trained on 2,500 / 5,000 / 10,000 of them: docs/text-tasks.md).
    "minilm-snli": TaskSpec("minilm-snli", "snli", pairs=True, train_limit=10000),
}
# Inverse regularisation strengths tried for the head (on standardised features), chosen on validation.
HEAD_C_GRID = (0.0001, 0.0003, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
# SmoothQuant migration strengths tried (``transformer.smoothing_factors``): one for the encoder's 36
# layers, one for the head, whose SentEval inputs span two orders of magnitude (``u * v`` against ``u``)
# and want far less migration than the encoder's LayerNorm outliers. Each is chosen on validation by the
# fidelity of the ideal quantised network (8-bit weights and inputs, lossless ADC) to the float one, not
# by its accuracy, which on 512 SNLI validation pairs moves by noise: one alpha for both chose 0.25 there
# (0.699 against 0.695 at 0.5), where the embeddings' cosine to the float ones is 0.977 against 0.997 at
# 0.8 (first 300 validation pairs). Ties go to the first value.
ENCODER_ALPHA_GRID = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
HEAD_ALPHA_GRID = (0.0, 0.1, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75)
ALPHA_VALIDATION_EXAMPLES = 512  # the first validation examples judge each encoder alpha (a quantised pass each)
# Calibration examples kept by the workload (``x_calib``): activation and ADC ranges, smoothing. Every
# linear layer's inputs over them are held in memory while mapping (tokens x features, float64).
CALIB_EXAMPLES = 128

def senteval_features(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``[u, v, |u - v|, u * v]`` (Conneau et al., EMNLP 2017; Reimers & Gurevych, EMNLP 2019)."""
    return np.concatenate([u, v, np.abs(u - v), u * v], axis=1)


@dataclass(frozen=True, eq=False, repr=False)
class TextTaskWorkload(TransformerWorkload):
    """The encoder's 36 linear layers plus the task head (``layers[-1]``, named ``head``) on crossbars.

    pairs            inputs are (N, 2, L) sentence pairs, the head reads SentEval features
    labels           class names, indexed by label
    x_val, y_val     the validation split (hyperparameters were chosen on it)
    choices          the chosen hyperparameters and their validation scores (for reports)
    teacher          (keys, embeddings) of every sentence of every split under the pretrained encoder,
                     valid while ``layers[:-1]`` is ``teacher_layers`` (pruning replaces the layers)
    """

    pairs: bool = False
    labels: tuple[str, ...] = ()
    x_val: np.ndarray | None = None
    y_val: np.ndarray | None = None
    choices: dict = field(default_factory=dict)
    teacher_layers: tuple | None = None

    metric_names: ClassVar[tuple[str, ...]] = ()

    def __repr__(self) -> str:
        return (f"TextTaskWorkload({self.name!r}, {len(self.layers)} crossbar matrices, "
                f"{len(self.x_train)}/{len(self.x_val)}/{len(self.x_calib)}/{len(self.x_test)} "
                f"train/validation/calibration/test examples, float accuracy {self.float_accuracy:.2%})")

    def __getstate__(self):  # workers judge outputs only; the stored embeddings stay in the parent
        state = dict(self.__dict__)
        state["_cache"] = {}
        state["teacher"] = None
        return state

    @property
    def blocks(self) -> int:
        return (len(self.layers) - 1) // len(LINEAR_KINDS)

    @property
    def head_index(self) -> int:
        return len(self.layers) - 1

    @property
    def n_classes(self) -> int:
        return len(self.labels)

    def output_shape(self):
        return (self.n_classes,)

    def forward_with(self, x: np.ndarray, linear, fuse: bool = False) -> np.ndarray:
        """Head logits (N, classes) of token ids ``x``; every linear layer (the head included) computed by
        ``linear(index, layer, rows)``. Sentences run in length-sorted chunks."""
        return self._logits(self._embed(x, linear), linear)

    def _embed(self, x: np.ndarray, linear) -> np.ndarray:
        x = self._check_inputs(x)
        rows = sentence_rows(x)
        if linear is float_linear:
            stored = self.stored_embeddings(rows)
            if stored is not None:
                return stored
        return encode(self, rows, linear)

    def _check_inputs(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        want = 3 if self.pairs else 2
        if x.ndim != want or not np.issubdtype(x.dtype, np.integer) or (self.pairs and x.shape[1] != 2):
            shape = "(pairs, 2, tokens)" if self.pairs else "(sentences, tokens)"
            raise ValueError(f"{self.name}: inputs are token ids {shape}, got {x.dtype} {x.shape}")
        return x

    def features(self, embeddings: np.ndarray) -> np.ndarray:
        """The head's inputs from the sentence embeddings (pairs: first sentences, then second ones)."""
        if not self.pairs:
            return embeddings
        n = len(embeddings) // 2
        return senteval_features(embeddings[:n], embeddings[n:])

    def _logits(self, embeddings: np.ndarray, linear) -> np.ndarray:
        feats = self.features(embeddings)
        f = self.smoothing.get(self.head_index)
        return linear(self.head_index, self.layers[-1], feats if f is None else feats / f)

    def stored_embeddings(self, rows: np.ndarray) -> np.ndarray | None:
        """The pretrained encoder's stored float embeddings of sentence rows, when the encoder is still
        the pretrained one and every sentence is stored; else None."""
        if self.teacher is None or self.teacher_layers is None or self.layers[:-1] != self.teacher_layers:
            return None
        lookup = self._cache.get("teacher_index")
        if lookup is None:
            lookup = {key: i for i, key in enumerate(self.teacher[0])}
            self._cache["teacher_index"] = lookup
        keys = [row_key(row) for row in rows]
        if not all(key in lookup for key in keys):
            return None
        return self.teacher[1][[lookup[key] for key in keys]]

    # -- training (structured pruning fine-tunes encoder and head together) -----------------------------

    def forward_train(self, x: np.ndarray) -> np.ndarray:
        """Float logits of ``x`` with every linear layer caching its input, for :meth:`backward`."""
        rows = sentence_rows(self._check_inputs(x))
        tape: dict = {}
        embeddings = self._run(rows, lambda index, layer, r: layer.forward(r, train=True), tape)
        tape["rows"] = rows
        self._cache["tape"] = tape
        feats = self.features(embeddings)
        f = self.smoothing.get(self.head_index)
        return self.layers[-1].forward(feats if f is None else feats / f, train=True)

    def loss(self, logits: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        """Cross-entropy of the head (mean over the batch) plus ``DISTILL_WEIGHT`` times the mean cosine
        distance of the embeddings to the pretrained encoder's (``teacher``); the gradient returned is the
        logits'; the distillation term's gradient joins in :meth:`backward`."""
        from dse.workloads.layers import softmax_cross_entropy

        ce, grad = softmax_cross_entropy(logits, y)
        tape = self._cache["tape"]
        teacher = self.teacher_embeddings(tape["rows"])
        if teacher is None:
            tape["distill_grad"] = None
            return ce, grad
        embeddings = tape["embedding"]
        distance = 1.0 - np.sum(embeddings * teacher, axis=1)  # unit vectors
        tape["distill_grad"] = -DISTILL_WEIGHT * teacher / len(embeddings)
        return ce + DISTILL_WEIGHT * float(distance.mean()), grad

    def backward(self, grad_logits: np.ndarray, on_layer=None) -> None:
        """Back-propagate d loss / d logits of the last :meth:`forward_train` through the head, the pair
        features and the encoder into every linear layer's ``grads``."""
        tape = self._cache.get("tape")
        if tape is None or "rows" not in tape:
            raise RuntimeError(f"{self.name}: backward() needs a forward_train(x) first")
        head = self.layers[-1]
        if on_layer is not None:
            on_layer(self.head_index, head, grad_logits)
        grad = head.backward(grad_logits)
        f = self.smoothing.get(self.head_index)
        grad = grad if f is None else grad / f
        if self.pairs:
            e = tape["embedding"]
            n, d = len(e) // 2, e.shape[1]
            u, v = e[:n], e[n:]
            g_u, g_v, g_abs, g_prod = (grad[:, k * d : (k + 1) * d] for k in range(4))
            sign = np.sign(u - v)
            grad = np.concatenate([g_u + sign * g_abs + v * g_prod, g_v - sign * g_abs + u * g_prod])
        if tape.get("distill_grad") is not None:
            grad = grad + tape["distill_grad"]
        super().backward(grad, on_layer)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Float logits (N, classes)."""
        x = np.ascontiguousarray(x)
        key = hashlib.sha256(x.tobytes() + str(x.shape).encode()).hexdigest()
        if key not in self._cache:
            self._cache[key] = self.forward_with(x, float_linear)
        return self._cache[key].copy()

    def float_embeddings(self, x: np.ndarray) -> np.ndarray:
        return self._embed(x, float_linear)

    def score(self, outputs: np.ndarray, y: np.ndarray) -> float:
        return float(np.mean(np.asarray(outputs).argmax(axis=-1) == y))

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.forward(x).argmax(axis=-1)

    def accuracy(self, x: np.ndarray | None = None, y: np.ndarray | None = None) -> float:
        if x is None:
            x, y = self.x_test, self.y_test
        return self.score(self.forward(x), y)

    def metrics(self, outputs, x, y) -> dict[str, float]:
        return {}

    def info(self) -> WorkloadInfo:
        return task_info([layer.name for layer in self.layers])

    def tokens_per_sentence(self, x: np.ndarray | None = None) -> float:
        """Mean tokens per example (both sentences of a pair)."""
        x = self.x_test if x is None else x
        tokens = (np.asarray(x) != 0).sum(axis=-1)
        return float(np.mean(tokens if tokens.ndim == 1 else tokens.sum(axis=1)))

    def crossbar_layers(self) -> list[CrossbarLayer]:
        """The encoder's 36 matrices at the mean tokens of a test example (rounded), the head once."""
        mvms = max(1, int(round(self.tokens_per_sentence())))
        return [CrossbarLayer(i, layer.name, layer.in_features, layer.out_features,
                              1 if i == self.head_index else mvms)
                for i, layer in enumerate(self.layers)]

    def with_test(self, texts: TextSet, tokenizer=None) -> "TextTaskWorkload":
        """This workload with ``texts`` (bring-your-own labelled text) as its test split; calibration,
        head and hyperparameters stay the workload's own."""
        from dse.workloads.transformer import load_tokenizer

        x = tokenize_texts(tokenizer or load_tokenizer(), texts.texts, self.pairs)
        return dataclasses.replace(self, x_test=x, y_test=texts.labels, float_accuracy=float("nan"))


def task_info(names) -> WorkloadInfo:
    """As :func:`transformer.transformer_info`, and the head keeps its columns (the classes)."""
    names = tuple(names)
    cols = tuple(n for n in names if not n.endswith(".key") and n != HEAD_NAME)
    return WorkloadInfo(names, cols, ())


HEAD_NAME = "head"
ENCODER_NAMES = tuple(f"block{b}.{kind}" for b in range(BLOCKS) for kind in LINEAR_KINDS)


# --- building: head and smoothing chosen on validation ------------------------------------------------

# Bump when the fitting or the selection changes what the head file holds (the key covers the data, the
# embeddings, the grids and the calibration rules, not the source: an edit elsewhere here keeps the cache).
HEAD_FORMAT = 2


def fit_standardised_head(train: np.ndarray, labels: np.ndarray, c: float, classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Logistic regression on standardised features, folded back: (weight (F, classes), bias (classes,))
    acting on the raw features. Binary tasks get the two-column softmax form (logits ``[0, z]``)."""
    from sklearn.linear_model import LogisticRegression

    if len(np.unique(labels)) != classes:
        raise ValueError(f"the head's training examples hold labels {sorted(set(labels.tolist()))}, "
                         f"not every one of the {classes} classes")
    mean = train.mean(axis=0)
    std = train.std(axis=0) + 1e-12
    model = LogisticRegression(C=c, max_iter=2000)
    model.fit((train - mean) / std, labels)
    weight, bias = model.coef_.T, model.intercept_
    if weight.shape[1] == 1:
        weight = np.concatenate([np.zeros_like(weight), weight], axis=1)
        bias = np.concatenate([[0.0], bias])
    weight = weight / std[:, None]
    return weight, bias - mean @ weight


def _accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(logits.argmax(axis=1) == labels))


def quantised_linear(workload: TextTaskWorkload, calib_inputs: dict[int, np.ndarray], hw):
    """A ``linear`` callback computing each layer as the ideal crossbar does with a lossless ADC: per-column
    ``weight_bits`` weights, inputs quantised with the scale the mapping calibrates
    (``kernels.quantize.input_quantisation``) from ``calib_inputs`` (``workload.layer_inputs(x_calib)``: what
    each layer receives, smoothing applied), exact integer products (float64 holds them exactly)."""
    from kernels.quantize import input_quantisation, quantize_activations, quantize_weights

    prepared = {}
    for index, cols in calib_inputs.items():
        layer = workload.layers[index]
        w_int, w_scale = quantize_weights(layer.matrix(), hw.weight_bits, per_column=True)
        x_scale, signed = input_quantisation(cols, hw.input_bits, hw.dac_bits, layer.name)
        prepared[index] = (w_int.astype(np.float64), x_scale * w_scale, x_scale, signed)

    def linear(index, layer, rows):
        w_int, scale, x_scale, signed = prepared[index]
        x_int = quantize_activations(rows, x_scale, hw.input_bits, signed).astype(np.float64)
        return (x_int @ w_int) * scale + layer.bias

    return linear


def _head_cache_key(spec: TaskSpec, keys: list[str], labels: list[np.ndarray]) -> str:
    from kernels.quantize import ACTIVATION_PERCENTILE

    digest = hashlib.sha256()
    for array in labels:
        digest.update(np.ascontiguousarray(array, dtype=np.int64).tobytes())
    described = {"format": HEAD_FORMAT, "spec": dataclasses.asdict(spec), "embeddings": keys,
                 "c": HEAD_C_GRID, "encoder_alpha": ENCODER_ALPHA_GRID,
                 "head_alpha": HEAD_ALPHA_GRID, "alpha_examples": ALPHA_VALIDATION_EXAMPLES,
                 "calib": CALIB_EXAMPLES, "percentile": ACTIVATION_PERCENTILE, "content": digest.hexdigest()}
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()


def _read_head(path: Path, key: str):
    def parse(data):
        choices = json.loads(str(data["choices"]))
        smoothing = {int(k.split(".")[1]): data[k].astype(np.float64) for k in data.files if k.startswith("smooth.")}
        return choices, data["head_weight"].astype(np.float64), data["head_bias"].astype(np.float64), smoothing

    return read_keyed_cache(path, key, parse, "refitting the head")


def _write_head(path: Path, key: str, choices: dict, weight, bias, smoothing: dict) -> None:
    arrays = {f"smooth.{i}": f for i, f in smoothing.items()}
    write_atomic(path, lambda handle: np.savez(handle, cache_key=np.array(key), choices=np.array(json.dumps(choices)),
                                                head_weight=weight, head_bias=bias, **arrays))


def task_workload(name: str, cache_dir: Path | None = None, root: Path | None = None,
                  splits: TextSplits | None = None) -> TextTaskWorkload:
    """The workload ``name`` (:data:`SPECS`) over ``splits`` (default: the task's own,
    :meth:`TaskSpec.splits`), built on first use and cached (module docstring).

    The head's ``C`` is the :data:`HEAD_C_GRID` value of best validation accuracy on float features (ties:
    the stronger regularisation); the SmoothQuant strengths of encoder and head come from
    :func:`choose_smoothing` (validation fidelity of the ideal quantised network, default
    :class:`~dse.config.HardwareConfig`).
    """
    from dse.config import HardwareConfig
    from dse.workloads.builtin import default_cache_dir
    from dse.workloads.transformer import load_tokenizer, model_dir

    spec = SPECS[name]
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    root = root or model_dir()
    encoder = bare_encoder(root)
    tokenizer = load_tokenizer(root)
    splits = splits or spec.splits()
    parts = {"train": splits.train, "validation": splits.validation,
             "calibration": splits.calibration.take(np.arange(min(CALIB_EXAMPLES, len(splits.calibration)))),
             "test": splits.test}
    xs = {part: tokenize_texts(tokenizer, texts.texts, spec.pairs) for part, texts in parts.items()}
    rows = {part: sentence_rows(x) for part, x in xs.items()}
    embeddings = {part: cached_embeddings(encoder, rows[part], cache_dir, name) for part in parts}
    ys = {part: texts.labels for part, texts in parts.items()}
    keys = [embeddings_key(unique_sentences(rows[part])[0]) for part in parts]
    head_key = _head_cache_key(spec, keys, list(ys.values()))
    head_path = cache_dir / f"{name}-head-{head_key[:16]}.npz"

    def build(head_weight, head_bias, smoothing, choices) -> TextTaskWorkload:
        head = Linear(head_weight, head_bias, name=HEAD_NAME)
        if smoothing:
            layers = tuple(Linear(layer.matrix() * smoothing[i][:, None], layer.bias, name=layer.name)
                           for i, layer in enumerate((*encoder.layers, head)))
        else:
            layers = (*encoder.layers, head)
        every = [rows[part] for part in parts]
        teacher_rows, inverse = unique_sentences(np.concatenate([_pad(r, max(a.shape[1] for a in every)) for r in every]))
        stacked = np.concatenate([embeddings[part] for part in parts])
        first = np.full(len(teacher_rows), -1)
        first[inverse[::-1]] = np.arange(len(inverse))[::-1]
        teacher = (tuple(row_key(row) for row in teacher_rows), stacked[first])
        return TextTaskWorkload(
            name=name, layers=layers, input_shape=xs["test"].shape[1:], x_train=xs["train"], y_train=ys["train"],
            x_calib=xs["calibration"], y_calib=ys["calibration"], x_test=xs["test"], y_test=ys["test"],
            float_accuracy=_accuracy(spec_features(spec, embeddings["test"]) @ head_weight + head_bias, ys["test"]),
            digital=encoder.digital, heads=encoder.heads, eps=encoder.eps, smoothing=dict(smoothing),
            teacher=teacher, teacher_layers=layers[:-1], pairs=spec.pairs, labels=spec.task.labels,
            x_val=xs["validation"], y_val=ys["validation"], choices=choices)

    cached = _read_head(head_path, head_key)
    if cached is not None:
        choices, weight, bias, smoothing = cached
        return build(weight, bias, smoothing, choices)

    feats = {part: spec_features(spec, embeddings[part]) for part in parts}
    c_scores = {}
    for c in HEAD_C_GRID:
        weight, bias = fit_standardised_head(feats["train"], ys["train"], c, len(spec.task.labels))
        c_scores[c] = _accuracy(feats["validation"] @ weight + bias, ys["validation"])
    best_c = max(HEAD_C_GRID, key=lambda c: (c_scores[c], -c))  # ties: the stronger regularisation
    weight, bias = fit_standardised_head(feats["train"], ys["train"], best_c, len(spec.task.labels))
    plain = build(weight, bias, {}, {})
    smoothing, choices = choose_smoothing(plain, xs["validation"], feats["validation"], HardwareConfig())
    choices = {"head_c": best_c, "head_c_validation_accuracy": {str(c): s for c, s in c_scores.items()}, **choices,
               "train_examples": len(parts["train"]), "calibration_examples": len(parts["calibration"])}
    try:
        _write_head(head_path, head_key, choices, weight, bias, smoothing)
    except OSError as error:  # a read-only cache only costs the fitting next time
        print(f"could not cache the {name} head at {head_path}: {error}", file=sys.stderr)
    return build(weight, bias, smoothing, choices)


def choose_smoothing(plain: TextTaskWorkload, x_val: np.ndarray, feats_val: np.ndarray, hw) -> tuple[dict, dict]:
    """(smoothing factors by layer, choices) for the unsmoothed workload ``plain``: the encoder's alpha
    from :data:`ENCODER_ALPHA_GRID` of best mean cosine of the ideal quantised (:func:`quantised_linear`)
    sentence embeddings to the float ones over the sentences of the first
    :data:`ALPHA_VALIDATION_EXAMPLES` validation examples; the head's from :data:`HEAD_ALPHA_GRID` of least
    relative logit error (``|quantised - float| / |float - its mean|``) on every validation example's
    float features ``feats_val``. Factors come from the calibration examples, as the mapping's scales do."""
    from dse.workloads.sentences import cosine_rows

    calib_inputs = plain.layer_inputs(plain.x_calib)
    head = plain.head_index
    peaks = {i: np.maximum(np.abs(cols).max(axis=0), 1e-5) for i, cols in calib_inputs.items()}
    weights = {i: np.maximum(np.abs(plain.layers[i].matrix()).max(axis=1), 1e-5) for i in peaks}

    def factors(i: int, alpha: float) -> np.ndarray:
        return peaks[i] ** alpha / weights[i] ** (1 - alpha)

    def smoothed(encoder_alpha: float, head_alpha: float) -> TextTaskWorkload:
        f = {i: factors(i, head_alpha if i == head else encoder_alpha) for i in peaks}
        layers = tuple(Linear(layer.matrix() * f[i][:, None], layer.bias, name=layer.name)
                       for i, layer in enumerate(plain.layers))
        return dataclasses.replace(plain, layers=layers, smoothing=f)

    sentences, _ = unique_sentences(sentence_rows(x_val[:ALPHA_VALIDATION_EXAMPLES]))
    reference = plain.stored_embeddings(sentences)
    reference = encode(plain, sentences) if reference is None else reference
    encoder_scores = {}
    for alpha in ENCODER_ALPHA_GRID:
        candidate = smoothed(alpha, 0.0)
        seen = {i: cols / candidate.smoothing[i] for i, cols in calib_inputs.items() if i != head}
        hardware = encode(candidate, sentences, quantised_linear(candidate, seen, hw))
        encoder_scores[alpha] = float(cosine_rows(hardware, reference).mean())
        print(f"{plain.name}: encoder smoothing alpha {alpha}: ideal validation cosine {encoder_scores[alpha]:.4f}",
              file=sys.stderr, flush=True)
    float_logits = feats_val @ plain.layers[head].matrix() + plain.layers[head].bias
    spread = np.linalg.norm(float_logits - float_logits.mean(axis=0))
    head_scores = {}
    for alpha in HEAD_ALPHA_GRID:
        candidate = smoothed(ENCODER_ALPHA_GRID[0], alpha)
        f = candidate.smoothing[head]
        linear = quantised_linear(candidate, {head: calib_inputs[head] / f}, hw)
        logits = linear(head, candidate.layers[head], feats_val / f)
        head_scores[alpha] = float(np.linalg.norm(logits - float_logits) / spread)
    best_encoder = max(ENCODER_ALPHA_GRID, key=lambda a: (encoder_scores[a], -ENCODER_ALPHA_GRID.index(a)))
    best_head = min(HEAD_ALPHA_GRID, key=lambda a: (head_scores[a], HEAD_ALPHA_GRID.index(a)))
    choices = {"encoder_alpha": best_encoder,
               "encoder_alpha_validation_cosine": {str(a): v for a, v in encoder_scores.items()},
               "head_alpha": best_head,
               "head_alpha_validation_logit_error": {str(a): v for a, v in head_scores.items()}}
    return smoothed(best_encoder, best_head).smoothing, choices


def spec_features(spec: TaskSpec, embeddings: np.ndarray) -> np.ndarray:
    if not spec.pairs:
        return embeddings
    n = len(embeddings) // 2
    return senteval_features(embeddings[:n], embeddings[n:])


def _pad(ids: np.ndarray, length: int) -> np.ndarray:
    out = np.zeros((len(ids), length), dtype=np.int64)
    out[:, : ids.shape[1]] = ids
    return out


def read_task_data(workload: TextTaskWorkload, path) -> TextTaskWorkload:
    """``workload`` with the JSON Lines file ``path`` (``text_data.read_jsonl``) as its test split."""
    try:
        texts = read_jsonl(path, SPECS[workload.name].task)
    except DataError as error:  # a user's file: the command line reports it in one line
        raise ValueError(str(error)) from None
    return workload.with_test(texts)


def _loader(name: str):
    def load(cache_dir: Path) -> TextTaskWorkload:
        try:
            return task_workload(name, cache_dir)
        except DataError as error:  # not fetched yet: the message says how
            raise ValueError(str(error)) from None
    return load


for _name in SPECS:
    register(_name, info=task_info((*ENCODER_NAMES, HEAD_NAME)), data=read_task_data)(_loader(_name))
