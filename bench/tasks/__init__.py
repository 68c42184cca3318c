"""XTREME tasks, one module per family; one lazy entry each (name -> "module:Class", imported when used).
Adding a task is one class in its family's module and one line here."""

from __future__ import annotations

from bench.tasks.base import Task
from models.registries import Registry

TASK_REGISTRY: Registry[type[Task]] = Registry("task", Task)
for _name, _entry in {
    "xnli": "bench.tasks.classification:XNLI",
    "pawsx": "bench.tasks.classification:PAWSX",
    "udpos": "bench.tasks.tagging:UDPOS",
    "panx": "bench.tasks.tagging:PANX",
    "xquad": "bench.tasks.qa:XQuAD",
    "mlqa": "bench.tasks.qa:MLQA",
    "tydiqa": "bench.tasks.qa:TyDiQA",
    "bucc2018": "bench.tasks.retrieval:BUCC",
    "tatoeba": "bench.tasks.retrieval:Tatoeba",
}.items():
    TASK_REGISTRY.register(_name, _entry)
TASK_NAMES = TASK_REGISTRY.names()


def get_task(name: str) -> Task:
    return TASK_REGISTRY.get(name)()


class _LazyTasks(dict):
    """`TASKS[name]` instantiates on first use, so listing tasks imports only the light task modules."""

    def __missing__(self, name):
        self[name] = get_task(name)
        return self[name]

    def items(self):
        return [(n, self[n]) for n in TASK_NAMES]


TASKS = _LazyTasks()
