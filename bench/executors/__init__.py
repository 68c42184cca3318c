"""Where sweep cells run: a cell's plan (plan), the cell process itself (cell), and the executors that launch cells.
An executor is one module behind `bench.executors.base.Executor` plus one line here."""

from __future__ import annotations

from bench.executors.base import Executor
from models.registries import Registry

EXECUTORS: Registry[type[Executor]] = Registry("executor", Executor)
EXECUTORS.register("local", "bench.executors.local:LocalExecutor")
EXECUTORS.register("ray", "bench.executors.ray_cluster:RayExecutor")


def get_executor(name: str, **settings) -> Executor:
    return EXECUTORS.get(name)(**settings)
