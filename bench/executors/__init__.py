"""Where sweep cells run. An executor is one module behind `bench.executors.base.Executor` plus one line here."""

EXECUTORS = {
    "local": "bench.executors.local:LocalExecutor",
    "ray": "bench.executors.ray_cluster:RayExecutor",
}


def get_executor(name: str, **settings):
    import importlib

    from models.errors import UserError

    if name not in EXECUTORS:
        raise UserError(f"unknown executor '{name}'; choose from {', '.join(EXECUTORS)}")
    module, cls = EXECUTORS[name].split(":")
    return getattr(importlib.import_module(module), cls)(**settings)
