"""The package declares its licence, and the licence file travels with it."""
from importlib.metadata import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_license_file_and_metadata_agree():
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License")
    assert "reram-dse contributors" in text
    assert metadata("reram-dse")["License-Expression"] == "MIT"
