"""Backend options: one typed dataclass per backend module gives validation and help."""

from __future__ import annotations

import dataclasses

import pytest

from export.choice import resolve_options
from export.options import describe, parse_assignment, validate
from export.registry import BACKENDS, get_backend
from models.errors import UserError


@pytest.mark.parametrize("name", list(BACKENDS))
def test_every_backend_describes_and_accepts_its_own_defaults(name):
    backend = get_backend(name)
    options = backend.Options
    assert dataclasses.is_dataclass(options) and options.__dataclass_params__.frozen
    rows = describe(options)
    assert [r[0] for r in rows] == [f.name for f in dataclasses.fields(options)]
    assert all(r[3] for r in rows), "every option has a line of help"
    defaults = {f.name: f.default for f in dataclasses.fields(options)}
    assert {k: v for k, v in resolve_options(backend, defaults, "cpu").items() if k != "device"} == defaults


def test_values_are_checked_against_type_choices_and_range():
    onnx_int8 = get_backend("onnx-int8")
    typed = validate(onnx_int8.Options, "onnx-int8", {"graph": "fused", "opset": 18, "layer": 3})
    assert (typed.graph, typed.opset, typed.layer, typed.per_channel) == ("fused", 18, 3, True)
    for given, message in [({"graph": "fuse"}, "option graph must be one of plain, fused, not 'fuse'"),
                           ({"opset": 13}, "option opset must be between 14 and 21, not 13"),
                           ({"per_channel": 1}, "option per_channel takes true or false, not 1"),
                           ({"layer": -2}, "option layer must be >= 0, not -2"),
                           ({"graf": "fused"}, "backend onnx-int8 has no option graf (its options: ")]:
        with pytest.raises(UserError, match=message.replace("(", r"\(")):
            validate(onnx_int8.Options, "onnx-int8", given)
    with pytest.raises(UserError, match="calibration"):  # a check inside the value: the backend's own
        resolve_options(get_backend("onnx-static-int8"), {"calibration": "xnli:en"}, "cpu")


def test_one_parser_for_key_value_pairs():
    assert parse_assignment("opset=18", "--option") == ("opset", 18)
    assert parse_assignment("per_channel=false", "--option") == ("per_channel", False)
    assert parse_assignment(" calibration = xnli:en:128", "--option") == ("calibration", "xnli:en:128")
    with pytest.raises(UserError, match="variant 'onnx\\[x\\]': 'x' is not KEY=VALUE"):
        parse_assignment("x", "variant 'onnx[x]'")
