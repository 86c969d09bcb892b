"""The sentence benchmark of the ``minilm-l6`` workload: 300 short original sentences in 10 topics
(``dse/workloads/data/sentences.json``), their seeded splits, and the retrieval metrics of embeddings
(paraphrase and topic nearest neighbours)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SENTENCES_FILE = Path(__file__).with_name("data") / "sentences.json"


def row_key(row: np.ndarray) -> bytes:
    """A token-id row without its padding, as a dictionary key (the same sentence, whatever its length)."""
    row = np.asarray(row, dtype=np.int64)
    return row[row != 0].tobytes()


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    na = np.linalg.norm(a, axis=1)
    nb = np.linalg.norm(b, axis=1)
    return np.sum(a * b, axis=1) / np.maximum(na * nb, 1e-300)


def retrieval_metrics(embeddings: np.ndarray, labels: np.ndarray, pairs: np.ndarray) -> dict[str, float]:
    """Nearest neighbour by cosine among ``embeddings`` (itself excluded):

    paraphrase_top1  over sentences whose pair partner is present: fraction whose nearest is the partner
                     (NaN when no pair is complete)
    topic_nn_top1    fraction whose nearest has the same label (NaN for fewer than two sentences)
    """
    e = np.asarray(embeddings, dtype=np.float64)
    n = len(e)
    if n < 2:
        return {"paraphrase_top1": float("nan"), "topic_nn_top1": float("nan")}
    unit = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-300)
    sim = unit @ unit.T
    np.fill_diagonal(sim, -np.inf)
    nearest = sim.argmax(axis=1)
    pairs = np.asarray(pairs)
    paired = pairs >= 0
    counts = np.bincount(pairs[paired]) if paired.any() else np.zeros(0, dtype=np.int64)
    complete = paired & (counts[np.where(paired, pairs, 0)] == 2) if paired.any() else paired
    para = float(np.mean(pairs[nearest[complete]] == pairs[complete])) if complete.any() else float("nan")
    return {"paraphrase_top1": para, "topic_nn_top1": float(np.mean(labels[nearest] == labels))}


@dataclass(frozen=True)
class SentenceSplit:
    """Sentences of one split: text, topic label, paraphrase-pair id (-1 for singles)."""

    text: tuple[str, ...]
    label: np.ndarray
    pair: np.ndarray


def sentence_splits(path: Path = SENTENCES_FILE, test_singles: int = 6, test_pairs: int = 2,
                    calib_singles: int = 3, seed: int = 0) -> dict[str, SentenceSplit]:
    """Split the sentence file into train / calib / test, per topic and seeded.

    Per topic (in file order) the singles and the pairs are shuffled with ``default_rng(seed)``; the test
    split takes ``test_pairs`` pairs and ``test_singles`` singles, calibration the next ``calib_singles``
    singles, training the rest. Pairs are never split. The test split is interleaved over topics (pairs
    first, each pair adjacent), so any prefix of it (``--max-test``) covers the topics evenly and keeps
    pairs whole. Defaults: 170 train, 30 calibration, 100 test sentences (20 pairs in test).
    """
    topics = json.loads(path.read_text())["topics"]
    rng = np.random.default_rng(seed)
    parts: dict[str, list[tuple[str, int, int]]] = {"train": [], "calib": [], "test": []}
    test_rounds: list[list[list[tuple[str, int, int]]]] = []
    pair_id = 0
    for label, (topic, entry) in enumerate(topics.items()):
        singles = [entry["sentences"][i] for i in rng.permutation(len(entry["sentences"]))]
        pair_list = [entry["paraphrases"][i] for i in rng.permutation(len(entry["paraphrases"]))]
        if len(singles) < test_singles + calib_singles + 1 or len(pair_list) < test_pairs:
            raise ValueError(f"{path}: topic {topic!r} has too few sentences for the split")
        items = []
        for a, b in pair_list:
            items.append([(a, label, pair_id), (b, label, pair_id)])
            pair_id += 1
        test_items = items[:test_pairs] + [[(s, label, -1)] for s in singles[:test_singles]]
        test_rounds.append(test_items)
        parts["calib"] += [(s, label, -1) for s in singles[test_singles : test_singles + calib_singles]]
        parts["train"] += [(s, label, -1) for s in singles[test_singles + calib_singles :]]
        parts["train"] += [row for item in items[test_pairs:] for row in item]
    for r in range(max(len(t) for t in test_rounds)):
        for items in test_rounds:
            if r < len(items):
                parts["test"] += items[r]
    return {
        name: SentenceSplit(tuple(r[0] for r in rows), np.array([r[1] for r in rows], dtype=np.int64),
                            np.array([r[2] for r in rows], dtype=np.int64))
        for name, rows in parts.items()
    }


def topic_names(path: Path = SENTENCES_FILE) -> tuple[str, ...]:
    return tuple(json.loads(path.read_text())["topics"])


# --- loading ----------------------------------------------------------------------------------------


# Held out of the training split to choose the workload's hyperparameters (SmoothQuant alpha, the pruning
# recipe: dse.experiments.minilm_choice); its own seed, so the train / calib / test split stays as it was.
VALIDATION_SEED = 1


def validation_split(train: SentenceSplit, singles: int = 3, pairs: int = 1,
                     seed: int = VALIDATION_SEED) -> tuple[SentenceSplit, SentenceSplit]:
    """(fit, validation): ``train`` (of :func:`sentence_splits`) with ``singles`` singles and ``pairs``
    paraphrase pairs per topic moved to a validation split, chosen with ``default_rng(seed)``.

    Pairs are never split. Validation takes, per topic in label order, its pairs (each pair adjacent) then
    its singles. Defaults: 50 validation sentences (10 pairs) and 120 left to fit, out of the 170 training
    sentences; calibration and test are untouched, so the three are disjoint from it by construction.
    """
    rng = np.random.default_rng(seed)
    chosen: list[int] = []
    for label in np.unique(train.label):
        single_rows = np.flatnonzero((train.label == label) & (train.pair < 0))
        pair_ids = np.unique(train.pair[(train.label == label) & (train.pair >= 0)])
        if len(single_rows) <= singles or len(pair_ids) < pairs:
            raise ValueError(f"topic {label} has too few training sentences for a validation split")
        for pair in pair_ids[rng.permutation(len(pair_ids))[:pairs]]:
            chosen += list(np.flatnonzero(train.pair == pair))
        chosen += list(single_rows[rng.permutation(len(single_rows))[:singles]])
    rest = np.setdiff1d(np.arange(len(train.text)), chosen)

    def take(rows) -> SentenceSplit:
        rows = np.asarray(rows, dtype=np.int64)
        return SentenceSplit(tuple(train.text[i] for i in rows), train.label[rows], train.pair[rows])

    return take(rest), take(chosen)


def selection_splits(**split_args) -> dict[str, SentenceSplit]:
    """The splits hyperparameters are chosen on: ``train`` the fit part of :func:`validation_split`,
    ``calib`` the usual calibration split, and the validation split in the ``test`` slot (so a workload
    built on them evaluates on validation). The real test split is not in it."""
    splits = sentence_splits(**split_args)
    fit, validation = validation_split(splits["train"])
    return {"train": fit, "calib": splits["calib"], "test": validation}
