"""One chip's stuck cells, split into what its post-fabrication test found and what it did not.

A protection that needs the tested fault map (``Protection.needs_fault_map``: test-aware votes, remap,
compensation) decides from the *known* map; the simulation applies every stuck cell. Two things make the
two differ (:class:`dse.config.FaultScenario`):

- test escapes: each fabrication fault is missed by the test with probability ``test_escape_rate``;
- post-test failures: each cell healthy at fabrication fails after the test and programming with
  probability ``post_test_rate``, SA0 : SA1 in the ratio ``sa0_rate : sa1_rate`` (always iid).

The fabrication map comes from the generator seeded by ``(seed, chip, layer)`` exactly as without these
effects; escapes and post-test failures each draw from their own stream ``(seed, chip, layer, tag)``,
so with both rates at 0 nothing extra is drawn and every chip is what it always was, bit for bit, and
raising one rate never moves a fabrication fault.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dse.config import FaultScenario
from kernels import sample_faults
from kernels.faults import HEALTHY

# Tags appended to (seed, chip, layer); dse.simulate.analog uses 1 to 3 and STUCK_SPREAD_STREAM.
TEST_ESCAPE_STREAM, POST_TEST_STREAM = 5, 6


@dataclass(frozen=True)
class ChipFaults:
    """The stuck cells of one layer of one chip, uint8 maps over its physical cells (0 healthy, SA0, SA1).

    actual  every stuck cell: what the crossbar computes with
    known   the cells the test reported stuck (a subset of ``actual``): what repair logic sees
    """

    actual: np.ndarray
    known: np.ndarray

    @property
    def unseen(self) -> np.ndarray:
        """Stuck cells the repair logic does not know of (escapes and post-test failures)."""
        return np.where(self.known == HEALTHY, self.actual, HEALTHY).astype(np.uint8)


def sample_chip_faults(shape: tuple[int, ...], faults: FaultScenario, chip: int, layer: int,
                       rows: int) -> ChipFaults:
    """Chip ``chip``'s stuck cells over a layer's physical cells of ``shape`` (module docstring)."""
    fabricated = sample_faults(shape, faults.sa0_rate, faults.sa1_rate,
                               np.random.default_rng([faults.seed, chip, layer]),
                               model=faults.fault_model, rows=rows)
    known = actual = fabricated
    if faults.test_escape_rate:
        rng = np.random.default_rng([faults.seed, chip, layer, TEST_ESCAPE_STREAM])
        escaped = rng.random(shape, dtype=np.float32) < np.float32(faults.test_escape_rate)
        known = np.where(escaped, HEALTHY, fabricated).astype(np.uint8)
    if faults.post_test_rate:
        sa0, sa1 = faults.post_test_rates
        later = sample_faults(shape, sa0, sa1, np.random.default_rng([faults.seed, chip, layer, POST_TEST_STREAM]))
        actual = np.where(fabricated == HEALTHY, later, fabricated).astype(np.uint8)
    return ChipFaults(actual=actual, known=known)
