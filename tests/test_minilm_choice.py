"""minilm-l6's hyperparameters come from a validation split carved from its training sentences: the split's
shape and disjointness, and that the defaults in the code are the ones the documented selection chose."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from dse.experiments import minilm_choice
from dse.experiments.report import TABLES, blocks
from dse.pruning.transformer import TRANSFORMER_RECIPE
from dse.workloads import minilm_hparams, transformer as tf
from dse.workloads.sentences import selection_splits, sentence_splits, validation_split

ROOT = Path(__file__).resolve().parents[1]


def test_validation_split_is_carved_from_train_and_disjoint_from_calibration_and_test():
    splits = sentence_splits()
    fit, validation = validation_split(splits["train"])
    assert (len(fit.text), len(validation.text)) == (120, 50)
    assert set(fit.text) | set(validation.text) == set(splits["train"].text)
    assert not set(fit.text) & set(validation.text)
    assert not set(validation.text) & (set(splits["calib"].text) | set(splits["test"].text))
    # per topic 3 singles and 1 whole, adjacent pair; labels and pair ids travel with their sentences
    assert np.bincount(validation.label).tolist() == [5] * 10
    pairs = validation.pair[validation.pair >= 0]
    assert len(pairs) == 20 and (np.bincount(pairs)[np.unique(pairs)] == 2).all()
    paired = np.flatnonzero(validation.pair >= 0)
    assert (validation.pair[paired[::2]] == validation.pair[paired[1::2]]).all()
    assert not set(pairs) & set(fit.pair[fit.pair >= 0])
    lookup = dict(zip(splits["train"].text, zip(splits["train"].label, splits["train"].pair)))
    assert all(lookup[t] == (label, pair) for t, label, pair in zip(validation.text, validation.label, validation.pair))
    again = validation_split(splits["train"])[1]
    assert again.text == validation.text  # seeded
    assert validation_split(splits["train"], seed=2)[1].text != validation.text


def test_selection_splits_hold_no_test_sentence():
    selection, splits = selection_splits(), sentence_splits()
    assert selection["calib"].text == splits["calib"].text
    assert not set(splits["test"].text) & {t for part in selection.values() for t in part.text}


def test_a_topic_too_small_for_the_validation_split_is_refused():
    train = sentence_splits()["train"]
    with pytest.raises(ValueError, match="too few training sentences"):
        validation_split(train, singles=11)


def test_the_defaults_are_what_the_documented_selection_chose():
    table = TABLES["docs-minilm-choice"]
    body = blocks((ROOT / table.path).read_text())[table.name]
    found = re.search(r"alpha (\S+), step (\S+), distillation weight (\S+?);", body)
    assert found, body
    alpha, step, weight = found.groups()
    assert (None if alpha == "none" else float(alpha)) == minilm_hparams.SMOOTH_ALPHA == tf.SMOOTH_ALPHA
    assert float(step) == minilm_hparams.PRUNE_LEARNING_RATE == TRANSFORMER_RECIPE.learning_rate
    assert float(weight) == minilm_hparams.DISTILL_WEIGHT == tf.TransformerWorkload.distill_weight
    assert "these are the defaults" in body and minilm_choice.SPLIT in body
