"""The digital vote after the ADC: how a group's copies (duplication, MSB embedding) become one value.

A *group* (:class:`kernels.bitlines.BitlineGroups`) is one logical bit line and its copies; after each
copy's column sum is converted, :func:`vote_group` combines the converted partial sums: the first copy,
their mean, the median of three, or the copy the post-fabrication test picked (test-aware). The CPU
kernels (:mod:`kernels.crossbar`, :mod:`kernels.analog`) inline it; :mod:`kernels.cuda.mvm` has the same
float64 operations on the device.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from kernels.names import VOTES

# How a group's copies are combined (the digital vote after the ADC): the votes a protection names
# (kernels.names.VOTES: median, mean, test-aware) and "first", the one copy of an unprotected group.
VOTE_FIRST, VOTE_MEAN, VOTE_MEDIAN, VOTE_PICK = 0, 1, 2, 3
VOTE_MODES = {"first": VOTE_FIRST, **dict(zip(VOTES, (VOTE_MEDIAN, VOTE_MEAN, VOTE_PICK)))}


@njit(cache=True, inline="always")
def vote_group(values, members, sizes, vote, pick, t, g):  # pragma: no cover - compiled
    """The voted value of group ``g`` in row tile ``t``, from its copies' partial sums ``values`` (B,)."""
    size = sizes[g]
    if size == 1 or vote == VOTE_FIRST:
        return np.float64(values[members[g, 0]])
    if vote == VOTE_PICK:
        return np.float64(values[members[g, pick[t, g]]])
    if vote == VOTE_MEAN or size == 2:
        total = 0.0
        for m in range(size):
            total += values[members[g, m]]
        return total / size
    a0 = values[members[g, 0]]  # median of three
    a1 = values[members[g, 1]]
    a2 = values[members[g, 2]]
    return np.float64(max(min(a0, a1), min(max(a0, a1), a2)))
