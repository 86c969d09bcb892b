"""Data sets and the fixed train / calibration / test split every workload uses."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split


@dataclass(frozen=True)
class Splits:
    """Disjoint train, calibration and test slices of one data set (x float64, y int64)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_calib: np.ndarray
    y_calib: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    def arrays(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def _split_off(x, y, fraction: float, seed: int):
    """(kept x, split-off x, kept y, split-off y); stratified by class when every class allows it."""
    try:
        return train_test_split(x, y, test_size=fraction, stratify=y, random_state=seed)
    except ValueError:
        # A class with a single sample (or fewer test slots than classes) cannot be stratified.
        return train_test_split(x, y, test_size=fraction, random_state=seed)


def split(x: np.ndarray, y: np.ndarray, test_fraction: float = 0.2, calib_fraction: float = 0.1,
          seed: int = 0) -> Splits:
    """Seeded split: ``test_fraction`` of all samples for test, then ``calib_fraction`` of the rest
    for calibration, the remainder for training. Stratified by class where possible.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y).astype(np.int64)
    x_rest, x_test, y_rest, y_test = _split_off(x, y, test_fraction, seed)
    x_train, x_calib, y_train, y_calib = _split_off(x_rest, y_rest, calib_fraction, seed)
    return Splits(x_train, y_train, x_calib, y_calib, x_test, y_test)


def digits(image: bool) -> Splits:
    """scikit-learn's bundled 8x8 handwritten digits (1797 samples, 10 classes, no download).

    Pixels are scaled from 0..16 to [0, 1]. ``image=True`` gives inputs (N, 1, 8, 8), else (N, 64).
    Split: 20 % test (stratified, random_state 0), then 10 % of the rest for calibration:
    1293 train, 144 calibration, 360 test samples.
    """
    bunch = load_digits()
    x = bunch.data / 16.0
    if image:
        x = x.reshape(-1, 1, 8, 8)
    return split(x, bunch.target, test_fraction=0.2, calib_fraction=0.1, seed=0)


def fingerprint(splits: Splits) -> str:
    """SHA-256 over every split's shape, dtype and bytes: changes whenever the data the model sees changes."""
    digest = hashlib.sha256()
    for name, array in splits.arrays().items():
        array = np.ascontiguousarray(array)
        digest.update(f"{name}{array.shape}{array.dtype.str}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()
