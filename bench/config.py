"""Options stated once: a command's config dataclass declares each option's default and help on its field,
and the argparse parser is generated from it (the idea of lm-evaluation-harness's evaluate_config).
A field is an option when its metadata has "help"; models/ declares its training settings with plain
`dataclasses.field(metadata={"help": ...})`, since it may not import this floor.

    batch_size: int = option(32, "inputs per forward call")

`add_options(parser, Config)` adds `--batch-size` with that help and "(default: 32)"; `from_args(Config,
args)` builds the config from what was given, the dataclass filling in the rest. Argparse keeps every
parsed value None unless given, so a config file (`bench sweep --config`) can sit between the two."""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from pathlib import Path

from export.options import parse_assignment
from models.errors import UserError


def option(default=dataclasses.MISSING, help: str = "", *, flag: str | None = None, parse=None,
           choices=None, repeat: bool = False, metavar: str | None = None, default_factory=dataclasses.MISSING,
           required: bool = False, shown_default: str | None = None, positional: bool = False):
    """A dataclass field that is also a command-line option. `parse` converts the text (default: the
    field's type); `repeat` lets the option be given several times (lists are joined); `positional`: an
    argument without a flag (`bench best RUN`; a list field takes any number of them)."""
    meta = {"help": help, "flag": flag, "parse": parse, "choices": choices, "repeat": repeat,
            "metavar": metavar, "required": required, "shown_default": shown_default, "positional": positional}
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.replace(",", " ").split()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers separated by commas, got '{text}'") from None
    if not values:
        raise argparse.ArgumentTypeError("expected at least one integer")
    return values


def csv(text: str) -> list[str]:
    """Comma-separated values; commas inside [...] stay (a variant's options: onnx-int8[graph=fused])."""
    import re

    return [v.strip() for v in re.split(r",(?![^\[]*\])", text) if v.strip()]


def key_value(text: str) -> tuple[str, object]:
    try:
        return parse_assignment(text, "--option")
    except UserError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _default_text(f: dataclasses.Field) -> str | None:
    if f.metadata.get("shown_default"):
        return f.metadata["shown_default"]
    if f.default_factory is not dataclasses.MISSING:
        value = f.default_factory()
    elif f.default is dataclasses.MISSING or f.default is None or f.default is False:
        return None
    else:
        value = f.default
    if isinstance(value, list):
        return ",".join(map(str, value)) if value else None
    if isinstance(value, dict):
        return None
    return str(value)


def _scalar_type(hint):
    """The type argparse converts to: the non-None member of `X | None`, the item type of lists."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and args:
        hint = args[0]
    return hint


def add_options(parser, cls, skip: tuple[str, ...] = ()) -> None:
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        meta = f.metadata
        if "help" not in meta or f.name in skip:
            continue
        kind = _scalar_type(hints[f.name])
        shown = _default_text(f)
        text = (meta["help"] + (f" (default: {shown})" if shown else "")).replace("%", "%%")  # argparse formats help
        meta = {k: meta.get(k) for k in ("flag", "parse", "choices", "repeat", "metavar", "required", "positional")}
        if meta["positional"]:
            many = typing.get_origin(hints[f.name]) is list
            parser.add_argument(f.name, help=text, nargs="*" if many else None,
                                type=meta["parse"] or (Path if kind is Path else str), metavar=meta["metavar"])
            continue
        kwargs: dict = {"dest": f.name, "default": None, "help": text}
        if kind is bool:
            kwargs["action"] = "store_true"
        else:
            kwargs["type"] = meta["parse"] or (Path if kind is Path else kind if kind in (int, float, str) else str)
            if meta["repeat"]:
                kwargs["action"] = "append"
            if meta["choices"]:
                kwargs["choices"] = meta["choices"]
            flag = meta["flag"] or "--" + f.name.replace("_", "-")
            kwargs["metavar"] = meta["metavar"] or flag.lstrip("-").upper().replace("-", "_")
            if meta["required"]:
                kwargs["required"] = True
        parser.add_argument(meta["flag"] or "--" + f.name.replace("_", "-"), **kwargs)


def given(cls, args, skip: tuple[str, ...] = ()) -> dict:
    """The options of `cls` given on the command line, repeated lists joined, KEY=VALUE pairs as a dict."""
    out = {}
    for f in dataclasses.fields(cls):
        if "help" not in f.metadata or f.name in skip:
            continue
        value = getattr(args, f.name, None)
        if value is None:
            continue
        if f.metadata.get("repeat") and value and isinstance(value[0], list):
            value = [v for group in value for v in group]
        if f.metadata.get("parse") is key_value:
            value = dict(value)
        out[f.name] = value
    return out


def from_args(cls, args, skip: tuple[str, ...] = (), **extra):
    return cls(**{**given(cls, args, skip), **extra})


# --- options that several commands share, stated once ---------------------------------------------------

def model_option(help: str = "size (large, base, small, demo, a student), checkpoint directory or hub id"):
    return option(None, help, shown_default="demo")


def backend_option():
    return option("eager", "inference path (see `bench list`)")


def device_option():
    return option("cpu", "cpu or cuda")


def backend_options_option():
    return option(help="backend option, e.g. exporter=dynamo or keep_embedding_fp32=true (repeatable; "
                       "`bench list --options BACKEND` lists what a backend takes)",
                  flag="--option", parse=key_value, repeat=True, metavar="KEY=VALUE", default_factory=dict)


def threads_option():
    return option(None, "intra-op threads", shown_default="physical cores")


def langs_option():
    return option(None, "comma-separated ISO 639-1 codes", parse=csv, shown_default="all of the task's")


def data_dir_option():
    return option(None, "task files (XTREME's layout or the published formats)",
                  shown_default="the hub's google/xtreme")


def split_option():
    return option("test", "which split to score", choices=["test", "dev"])


def batching_option():
    return option(help="batching policies of the task-throughput passes, comma-separated: fixed, dynamic, sorted, "
                       "tokens (the first is scored; see bench/timing/batching.py)", parse=csv,
                  default_factory=lambda: ["sorted"])


def max_tokens_option():
    return option(None, "token budget per batch of the 'tokens' policy (rows x padded length)", shown_default="4096")


def max_examples_option():
    return option(None, "score each language's first N examples only (recorded; intervals widen)",
                  shown_default="all")
