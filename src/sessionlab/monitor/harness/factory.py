"""How the harness builds a monitor, in this process or in a child process.

In-process checks accept any callable ``factory(project_dir, session_id) -> monitor``. The
``kill_restart`` check must build the monitor in a *child* process it can SIGKILL, so the
factory must be rebuildable there. :class:`FactorySpec` says how:

- ``"package.module:Name"`` (``target``): imported in the child (``spawn``); the safest form;
- ``source`` + ``name``: Python source executed in the child, then ``name`` is called. Use
  this for a notebook-defined monitor on a platform without ``fork``; the source must do
  its own imports;
- a class or function importable by its module and qualified name: turned into a target;
- anything else (a lambda, a class defined in ``__main__`` or a notebook): the child is
  ``fork``ed, so it inherits the object. Linux/macOS only, and forking a process that runs
  other threads (a Jupyter kernel does) is only as safe as those threads' locks.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MonitorFactory = Callable[[Path, str], Any]


@dataclass(frozen=True)
class FactorySpec:
    """A picklable recipe for a monitor: an import path, or source code plus a name."""

    target: str | None = None
    source: str | None = None
    name: str | None = None
    options: dict[str, Any] = field(default_factory=dict)

    def resolve(self) -> Callable[..., Any]:
        """The class or function this spec names (imports or executes as needed)."""
        if self.target:
            module_name, _, qualname = self.target.partition(":")
            obj: Any = importlib.import_module(module_name)
            for part in qualname.split("."):
                obj = getattr(obj, part)
            return obj
        if self.source and self.name:
            namespace: dict[str, Any] = {"__name__": "sessionlab_harness_source"}
            exec(compile(self.source, f"<monitor source {self.name}>", "exec"), namespace)
            return namespace[self.name]
        raise ValueError("FactorySpec needs target='pkg.mod:Name' or source=... and name=...")

    def __call__(self, project_dir: Path, session_id: str) -> Any:
        return self.resolve()(project_dir, session_id, **self.options)

    def describe(self) -> str:
        return self.target or f"<source {self.name}>"


@dataclass(frozen=True)
class Factory:
    """What the harness uses: an in-process callable and, if possible, a picklable spec."""

    build: MonitorFactory
    spec: FactorySpec | None
    label: str


def _importable(obj: Any) -> str | None:
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None)
    if not module or not qualname or module == "__main__" or "<" in qualname:
        return None
    try:
        found: Any = importlib.import_module(module)
        for part in qualname.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError):
        return None
    return f"{module}:{qualname}" if found is obj else None


def as_factory(obj: Any) -> Factory:
    """Normalise what a user passed to ``run_harness`` into a :class:`Factory`."""
    if isinstance(obj, Factory):
        return obj
    if isinstance(obj, FactorySpec):
        return Factory(build=obj, spec=obj, label=obj.describe())
    if isinstance(obj, str):
        spec = FactorySpec(target=obj)
        return Factory(build=spec, spec=spec, label=obj)
    if not callable(obj):
        raise TypeError(f"monitor factory must be callable or 'pkg.mod:Name', got {obj!r}")
    label = getattr(obj, "__qualname__", None) or type(obj).__name__
    target = _importable(obj)
    if target:
        return Factory(build=obj, spec=FactorySpec(target=target), label=target)
    # Not importable by name (``__main__``, a notebook, a lambda): no spec, so the child is
    # forked and inherits the object with everything it refers to. Its source alone would
    # not do: it usually names imports and helpers defined elsewhere in the notebook.
    return Factory(build=obj, spec=None, label=label)
