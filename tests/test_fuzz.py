"""The fuzz campaign (tests/fuzz_campaign.py, docs/fuzz.md): a few hundred cases here, the full one with -m slow."""
from __future__ import annotations

import pytest

import fuzz_campaign


def test_fuzz_campaign_quick(tmp_path, monkeypatch):
    result = fuzz_campaign.campaign(tmp_path, fuzz_campaign.QUICK_BUDGET, monkeypatch)
    print(result.report())
    assert sum(result.counts.values()) >= 200


@pytest.mark.slow
def test_fuzz_campaign_full(tmp_path, monkeypatch):
    """The documented campaign: >= 10,000 cases across the kinds, fixed seed (docs/fuzz.md)."""
    result = fuzz_campaign.campaign(tmp_path, fuzz_campaign.SLOW_BUDGET, monkeypatch)
    print(result.report())
    assert sum(result.counts.values()) >= 10_000
