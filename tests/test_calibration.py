"""Static quantisation's calibration text: what a spec draws, that it is never the scored text, and that a sweep
puts two calibrations of one backend side by side, per language, in records and the report."""

from __future__ import annotations

import json
import shutil

import pytest

from export.calibration import CalibrationSpec, calibration_texts
from models.taskdata.calibration_sources import SOURCES
from models.errors import UserError
from tests.test_cli import BENCH, SWEEP_FAST, assert_one_line_error, bench
from tests.conftest import heavy
from tests.test_sweep import _tatoeba_dir


def test_spec_draws_evenly_and_deterministically(calibration_data_dir):
    texts, record = calibration_texts("xnli:de+fr+zh:10", calibration_data_dir)
    assert record["per_language"] == {"de": 4, "fr": 3, "zh": 3} and len(texts) == 10
    assert {lang for lang, _ in texts} == {"de", "fr", "zh"}
    assert all("Zug" in t or "Buch" in t or "Preise" in t or "morgen" in t for lang, t in texts if lang == "de")
    again, record_again = calibration_texts("xnli:de+fr+zh:10", calibration_data_dir)
    assert again == texts and record_again["texts_sha256"] == record["texts_sha256"]
    english, english_record = calibration_texts("xnli:en:10", calibration_data_dir)
    assert english_record["texts_sha256"] != record["texts_sha256"] and {lang for lang, _ in english} == {"en"}
    everything = CalibrationSpec.parse("xnli:all:30")
    assert everything.languages == SOURCES["xnli"].languages and not everything.english_only


def test_calibration_text_joins_the_artifact_cache_key(calibration_data_dir, tiny_encoder, tmp_path, monkeypatch):
    """The same spec over other data is another artifact (and the same data the same one)."""
    from export.artifacts import artifact_dir
    from export.choice import BackendChoice
    from models.checkpoint import resolve_checkpoint

    checkpoint = resolve_checkpoint(str(tiny_encoder))
    choice = BackendChoice.resolve("onnx-static-int8", {"calibration": "xnli:de:8"})
    first = artifact_dir(choice, checkpoint)
    assert artifact_dir(choice, checkpoint) == first
    other = shutil.copytree(calibration_data_dir, tmp_path / "other")
    path = other / "xnli" / "dev-de.tsv"
    path.write_text(path.read_text(encoding="utf-8").replace("Zug", "Bus"), encoding="utf-8")
    monkeypatch.setenv("STILTS_BENCH_DATA_DIR", str(other))
    assert artifact_dir(choice, checkpoint) != first
    # a command's --data-dir is an argument, not the environment: given, it wins over the variable
    monkeypatch.setenv("STILTS_BENCH_DATA_DIR", str(calibration_data_dir))
    assert artifact_dir(choice, checkpoint, other.resolve()) != first


@heavy
def test_a_commands_data_dir_reaches_the_calibrating_export_as_an_argument(calibration_data_dir, tiny_encoder,
                                                                          tmp_path, monkeypatch):
    """`bench eval --data-dir D` with a static int8 path calibrates on D's text even where STILTS_BENCH_DATA_DIR
    names another directory (before, the directory travelled to the export process in that variable)."""
    from export.artifacts import ensure_artifact
    from models.checkpoint import resolve_checkpoint

    other = shutil.copytree(calibration_data_dir, tmp_path / "given")
    monkeypatch.setenv("STILTS_BENCH_DATA_DIR", str(calibration_data_dir))
    artifact = ensure_artifact("onnx-static-int8", resolve_checkpoint(str(tiny_encoder)), {"calibration": "xnli:en:8"},
                               data_dir=other.resolve())
    assert artifact.manifest["calibration"]["data_dir"] == str(other.resolve())


def test_calibration_asks_the_scored_text_table():
    """Dev text calibrates a test-split score (the quantiser never sees the scored inputs); SQuAD dev holds
    XQuAD's paragraphs whatever the split; PAN-X's training sentences are no task's evaluation text."""
    from export.calibration import check_not_scored

    check_not_scored("xnli:all:128", "xnli", "test")
    check_not_scored("panx:en:64", "panx", "test", ["en"])
    with pytest.raises(UserError, match="squad is xquad every split"):
        check_not_scored("squad:en:64", "xquad", "test", ["de"])
    with pytest.raises(UserError, match="pawsx dev"):
        check_not_scored("pawsx:en:64", "pawsx", "dev", ["ko"])


@pytest.mark.parametrize("spec, fragment", [
    ("xnli:en", "malformed"), ("tatoeba:en:10", "unknown calibration source"), ("xnli:xx:10", "no language xx"),
    ("xnli:en:0", "1..4096"), ("xnli:en:many", "1..4096"), ("squad:de:10", "no language de"),
])
def test_bad_specs_are_one_line_errors(spec, fragment):
    with pytest.raises(UserError, match=fragment):
        CalibrationSpec.parse(spec)


def test_scored_text_is_refused_before_any_work(tiny_classifier, tmp_path):
    proc = bench("eval", "--model", tiny_classifier, "--backend", "onnx-static-int8", "--task", "xnli",
                 "--split", "dev", "--data-dir", tmp_path)
    assert_one_line_error(proc, "calibration source xnli is xnli dev (ar), text that scoring xnli dev reads", "pawsx")
    # XNLI's languages translate one English set: English calibration text spoils German scores too
    proc = bench("eval", "--model", tiny_classifier, "--backend", "openvino-int8", "--task", "xnli", "--split", "dev",
                 "--langs", "de", "--option", "calibration=xnli:en:16", "--data-dir", tmp_path)
    assert_one_line_error(proc, "calibration source xnli is xnli dev (en)")
    proc = bench("sweep", "--models", tiny_classifier, "--backends", "onnx-static-int8[calibration=tatoeba:en:8]",
                 "--tasks", "tatoeba", "--out", tmp_path / "run")
    assert_one_line_error(proc, "unknown calibration source 'tatoeba'")
    assert not (tmp_path / "run" / "results.jsonl").exists()


@pytest.mark.slow
@heavy
def test_sweep_compares_calibration_languages_per_target_language(tiny_encoder, tmp_path, calibration_data_dir):
    data = _tatoeba_dir(tmp_path)
    shutil.copytree(calibration_data_dir / "xnli", data / "xnli")
    out = tmp_path / "run"
    english, mix = "onnx-static-int8[calibration=xnli:en:16]", "onnx-static-int8[calibration=xnli:all:30]"
    bench("sweep", "--models", tiny_encoder, "--backends", f"eager,{english},{mix},openvino-int8", "--tasks",
          "tatoeba", "--langs", "de", "--batch-sizes", "2", "--seq-lens", "16", "--data-dir", data, "--out", out,
          *SWEEP_FAST, check_rc=0)
    records = {r["backend"]: r for r in map(json.loads, (out / "results.jsonl").read_text().splitlines())}
    assert set(records) == {"eager", english, mix, "openvino-int8"}
    assert all(r["status"] == "ok" for r in records.values()), [r.get("error") for r in records.values()]
    assert records[english]["calibration"]["per_language"] == {"en": 16}
    assert records[english]["options"]["calibration"] == "xnli:en:16"
    assert sum(records[mix]["calibration"]["per_language"].values()) == 30
    assert records[mix]["calibration"]["data_dir"] == str(data.resolve())  # read where the task's data is
    assert records[english]["calibration"]["texts_sha256"] != records[mix]["calibration"]["texts_sha256"]
    assert records["openvino-int8"]["options"]["calibration"] == "xnli:all:128"  # the default: a multilingual mix
    for r in records.values():
        runtime = r["performance"][0]["runtime"]
        assert "cpu_acceleration" in runtime
    bench("report", out, check_rc=0)
    report = (out / "report" / "report.md").read_text()
    section = report[report.index("Calibration language and target language"):]
    assert "English only (xnli, 16 texts)" in section and "15-language mix (xnli, 30 texts)" in section
    assert "onnx-static-int8" in section and "openvino-int8" in section
