"""The manager: the worker loop (`loop.py`), one attempt of a job (`attempt.py`) and the
registry of workers (`registry.py`)."""

from orchestra.manager.attempt import AttemptConfig, AttemptRunner
from orchestra.manager.loop import Manager, ManagerConfig
from orchestra.manager.registry import WorkerRegistry, new_worker_id

__all__ = [
    "AttemptConfig",
    "AttemptRunner",
    "Manager",
    "ManagerConfig",
    "WorkerRegistry",
    "new_worker_id",
]
