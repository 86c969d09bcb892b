"""The package declares its licence, the licence file travels with it, and its sources are public."""
from importlib.metadata import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_license_file_and_metadata_agree():
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License")
    assert "reram-dse contributors" in text
    assert metadata("reram-dse")["License-Expression"] == "MIT"


def test_no_project_file_points_outside_the_repository_for_its_sources():
    """Users get this repository only: every source a file cites must be public, never a local brief."""
    import subprocess
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    offending = []
    for name in tracked:
        path = ROOT / name
        if path.suffix not in {".py", ".md", ".toml", ".txt", ".cfg", ""} or not path.is_file():
            continue
        text = path.read_text(errors="ignore")
        if any(marker in text for marker in LOCAL_BRIEFS):
            offending.append(name)
    assert not offending, offending


# Spelled in pieces so that this file does not itself name them.
LOCAL_BRIEFS = tuple("".join(parts) for parts in (("..", "/shared"), ("/work", "/shared"), ("domain", ".md"),
                                                   ("shared", "/spec")))
