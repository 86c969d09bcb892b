"""The fuzz campaign (tests/fuzz_campaign.py, docs/fuzz.md): a few hundred cases here, the full one with -m slow."""
from __future__ import annotations

import pytest

import fuzz_campaign


def test_fuzz_campaign_quick(tmp_path, monkeypatch):
    result = fuzz_campaign.campaign(tmp_path, fuzz_campaign.QUICK_BUDGET, monkeypatch)
    print(result.report())
    assert set(result.counts) == set(fuzz_campaign.QUICK_BUDGET)  # every kind ran
    assert sum(result.counts.values()) >= 300


@pytest.mark.slow
def test_fuzz_campaign_full(tmp_path, monkeypatch):
    """The documented campaign: >= 10,000 cases across every kind, fixed seed (docs/fuzz.md has the
    command, the counts by kind, the wall time and the findings)."""
    result = fuzz_campaign.campaign(tmp_path, fuzz_campaign.SLOW_BUDGET, monkeypatch)
    print(result.report())
    assert set(result.counts) == set(fuzz_campaign.SLOW_BUDGET)
    assert sum(result.counts.values()) >= 10_000
