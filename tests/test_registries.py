"""The one registry type (models.registries): lazy entries, duplicates refused, base classes checked, a mistyped
name answered in one line with the nearest names — and every registry of the project is one."""

from __future__ import annotations

import subprocess
import sys

import pytest

from models.errors import UserError
from models.registries import Registry, near_misses
from tests.test_cli import assert_one_line_error, bench


def test_lazy_entries_duplicates_and_base_class():
    registry: Registry[type] = Registry("thing", base=Exception)
    registry.register("decoder", "json:JSONDecodeError")
    registry.register("wrong", "json:dumps")
    with pytest.raises(ValueError, match="registered twice"):
        registry.register("decoder", "json:JSONDecoder")
    with pytest.raises(ValueError, match="'module:object'"):
        registry.register("bad", "json.dumps")
    import json

    assert registry.get("decoder") is json.JSONDecodeError and list(registry) == ["decoder", "wrong"]
    with pytest.raises(TypeError, match="not a Exception"):
        registry.get("wrong")
    with pytest.raises(UserError, match=r"^unknown thing 'decodr'; did you mean 'decoder'\? \(choose from "):
        registry.get("decodr")


def test_near_misses_name_the_closest_and_its_ties_only():
    names = ["onnx", "onnx-int8", "onnx-opt", "onnx-static-int8", "openvino-int8"]
    assert near_misses("onnx-int88", names) == ["onnx-int8"]
    assert near_misses("zzz", names) == []


def test_a_backend_module_is_imported_only_when_used():
    code = ("import sys; from export.registry import BACKENDS; assert 'onnx-int8' in BACKENDS; "
            "assert 'export.onnx_int8' not in sys.modules and 'onnxruntime' not in sys.modules; "
            "from export.registry import get_backend; get_backend('onnx-int8'); assert 'export.onnx_int8' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


@pytest.mark.parametrize("args, fragments", [
    (["run", "--backend", "onnx-int88"], ["unknown backend 'onnx-int88'; did you mean 'onnx-int8'?"]),
    (["eval", "--task", "xnlii", "--model", "demo"], ["unknown task 'xnlii'; did you mean 'xnli'?"]),
    (["run", "--model", "dmeo"], ["unknown model 'dmeo'; did you mean 'demo'?"]),
    (["run", "--backend", "onnx-static-int8", "--option", "calibration=xnlii:en:8"],
     ["unknown calibration source 'xnlii'; did you mean 'xnli'?"]),
])
def test_mistyped_names_are_one_line_with_the_nearest_name(args, fragments):
    proc = bench(*args)
    assert proc.returncode == 2
    assert_one_line_error(proc, *fragments)
