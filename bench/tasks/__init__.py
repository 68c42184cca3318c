"""XTREME tasks, one module per family. Registry: name -> "module:Class" (imported when used).
Adding a task is one class in its family's module and one line here."""

from __future__ import annotations

import importlib

from models.errors import UserError

_TASKS = {
    "xnli": "bench.tasks.classification:XNLI",
    "pawsx": "bench.tasks.classification:PAWSX",
    "udpos": "bench.tasks.tagging:UDPOS",
    "panx": "bench.tasks.tagging:PANX",
    "xquad": "bench.tasks.qa:XQuAD",
    "mlqa": "bench.tasks.qa:MLQA",
    "tydiqa": "bench.tasks.qa:TyDiQA",
    "bucc2018": "bench.tasks.retrieval:BUCC",
    "tatoeba": "bench.tasks.retrieval:Tatoeba",
}
TASK_NAMES = tuple(_TASKS)


def get_task(name: str):
    if name not in _TASKS:
        raise UserError(f"unknown task '{name}'; use one of {', '.join(_TASKS)}")
    module, cls = _TASKS[name].split(":")
    return getattr(importlib.import_module(module), cls)()


class _LazyTasks(dict):
    """`TASKS[name]` instantiates on first use, so listing tasks imports only the light task modules."""

    def __missing__(self, name):
        self[name] = get_task(name)
        return self[name]

    def items(self):
        return [(n, self[n]) for n in TASK_NAMES]


TASKS = _LazyTasks()
