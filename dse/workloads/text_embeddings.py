"""Float sentence embeddings of the text benchmarks: encoded in length-sorted chunks, each unique sentence
once, cached on disk (``<task>-embeddings-<key>.npy``, keyed by the weight file's SHA-256, the token ids and
:data:`EMBED_FORMAT`; the float path itself is pinned against PyTorch by ``tests/test_transformer.py``).
Used by ``text_tasks.py``, which builds the workloads on them."""
from __future__ import annotations

import hashlib
import sys
import time
from pathlib import Path

import numpy as np

from dse.atomic import write_atomic
from dse.workloads.sentences import row_key
from dse.workloads.transformer import MODEL_SHA256, TransformerWorkload, float_linear

EMBED_FORMAT = 1
# Sentences per encoder pass, taken in order of length so a pass pads little: attention and softmax are
# (sentences, heads, L, L) in float64 and dominate a float pass at larger L.
CHUNK_SENTENCES = 64


def length_chunks(ids: np.ndarray, chunk: int = CHUNK_SENTENCES) -> list[np.ndarray]:
    """Row indices of ``ids`` (sentences, L) in chunks of ``chunk`` sentences of similar length."""
    lengths = (np.asarray(ids) != 0).sum(axis=1)
    order = np.argsort(lengths, kind="stable")
    return [order[i : i + chunk] for i in range(0, len(order), chunk)]


def encode(encoder: TransformerWorkload, ids: np.ndarray, linear=float_linear, progress: str | None = None) -> np.ndarray:
    """Sentence embeddings (sentences, hidden) of token ids (sentences, L), computed in length-sorted
    chunks (:func:`length_chunks`) by ``encoder``'s forward pass with ``linear`` for its linear layers."""
    ids = np.asarray(ids)
    out = np.empty((len(ids), encoder.hidden))
    start = time.perf_counter()
    chunks = length_chunks(ids)
    for number, rows in enumerate(chunks, start=1):
        out[rows] = encoder._run(ids[rows], linear, None)
        if progress and (number % 10 == 0 or number == len(chunks)):
            print(f"{progress}: {number * CHUNK_SENTENCES if number < len(chunks) else len(ids)}/{len(ids)} "
                  f"sentences, {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
    return out


def unique_sentences(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(unique sentence rows (U, L), inverse (N,) into them) of ``ids`` (N, L); SNLI premises repeat."""
    seen: dict[bytes, int] = {}
    inverse = np.empty(len(ids), dtype=np.int64)
    first = []
    for i, row in enumerate(np.asarray(ids)):
        key = row_key(row)
        if key not in seen:
            seen[key] = len(first)
            first.append(i)
        inverse[i] = seen[key]
    return np.asarray(ids)[first], inverse


def embeddings_key(ids: np.ndarray) -> str:
    ids = np.ascontiguousarray(ids, dtype=np.int64)
    digest = hashlib.sha256(f"{EMBED_FORMAT}:{MODEL_SHA256}:{ids.shape}".encode())
    digest.update(ids.tobytes())
    return digest.hexdigest()


def cached_embeddings(encoder: TransformerWorkload, ids: np.ndarray, cache_dir: Path, tag: str) -> np.ndarray:
    """Float embeddings (N, hidden) of the sentences ``ids`` (N, L), each unique sentence encoded once and
    the result cached as ``<tag>-embeddings-<key>.npy`` (written atomically; a damaged file is recomputed)."""
    unique, inverse = unique_sentences(ids)
    key = embeddings_key(unique)
    path = Path(cache_dir) / f"{tag}-embeddings-{key[:16]}.npy"
    table = None
    if path.exists():
        try:
            table = np.load(path, allow_pickle=False)
            if table.shape != (len(unique), encoder.hidden) or table.dtype != np.float64:
                raise ValueError(f"shape {table.shape} {table.dtype}, expected ({len(unique)}, {encoder.hidden}) float64")
        except (OSError, ValueError) as error:
            print(f"re-encoding: cache file {path} is unusable ({error})", file=sys.stderr)
            table = None
    if table is None:
        table = encode(encoder, unique, progress=f"{tag}: float embeddings")
        try:
            write_atomic(path, lambda handle: np.save(handle, table, allow_pickle=False))
        except OSError as error:  # a read-only cache only costs the encoding next time
            print(f"could not cache embeddings at {path}: {error}", file=sys.stderr)
    return table[inverse]


def bare_encoder(root: Path | None = None) -> TransformerWorkload:
    """The pretrained encoder alone (no data, no head): what the embedding cache encodes with."""
    from dse.workloads.transformer import load_encoder

    layers, digital, config = load_encoder(root)
    empty = np.zeros((0, 1), dtype=np.int64)
    none = np.zeros(0, dtype=np.int64)
    return TransformerWorkload(
        name="all-MiniLM-L6-v2", layers=tuple(layers), input_shape=(1,), x_train=empty, y_train=none,
        x_calib=empty, y_calib=none, x_test=empty, y_test=none, float_accuracy=float("nan"), digital=digital,
        heads=config["num_attention_heads"], eps=config["layer_norm_eps"])


def tokenize_texts(tokenizer, texts, pairs: bool) -> np.ndarray:
    """Token ids of a :class:`~dse.workloads.text_data.TextSet`'s texts: (N, L) for sentences, (N, 2, L)
    for (sentence1, sentence2) pairs, each sentence encoded on its own ([CLS] ... [SEP]), padded with 0."""
    from dse.workloads.transformer import tokenize

    if not pairs:
        return tokenize(tokenizer, texts)
    both = tokenize(tokenizer, [a for a, _ in texts] + [b for _, b in texts])
    n = len(texts)
    return np.stack([both[:n], both[n:]], axis=1)


def sentence_rows(x: np.ndarray) -> np.ndarray:
    """Every sentence of inputs ``x`` as rows (sentences, L): pairs (N, 2, L) give first all first
    sentences, then all second ones."""
    x = np.asarray(x)
    return x if x.ndim == 2 else np.concatenate([x[:, 0], x[:, 1]])
