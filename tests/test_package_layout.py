"""The package stays navigable: one name per concept, one file name per role, no private reach-ins.

A newcomer reading a traceback or a lesson's import should know which class is meant without
looking at the module path (issue 11). These checks read the source with :mod:`ast`, so they
run in well under a second and are part of ``make lint``. Each check is also run against a
small planted tree, so a check that silently stopped finding anything would fail here.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "sessionlab"

# File names that may repeat because they play the same role in parallel packages.
SAME_ROLE_FILE_NAMES = {
    "__init__.py": "every package has one",
    "errors.py": "the errors of sessionlab (the root) and of sessionlab.isolation",
    "clock.py": "two clocks (lifecycle, isolation) until they become one (issue 11, step 2)",
}


def _modules(root: Path) -> list[Path]:
    return sorted(root.rglob("*.py"))


def _module_name(root: Path, path: Path) -> str:
    parts = [root.name, *path.relative_to(root).with_suffix("").parts]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def repeated_public_classes(root: Path) -> dict[str, list[str]]:
    """Public top-level class names defined in more than one module, with those modules."""
    where: dict[str, list[str]] = defaultdict(list)
    for path in _modules(root):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                where[node.name].append(_module_name(root, path))
    return {name: mods for name, mods in where.items() if len(mods) > 1}


def repeated_file_names(root: Path, allowed: dict[str, str]) -> dict[str, list[str]]:
    """File names used by more than one module, except the same-role names in ``allowed``."""
    where: dict[str, list[str]] = defaultdict(list)
    for path in _modules(root):
        where[path.name].append(str(path.relative_to(root)))
    return {n: p for n, p in where.items() if len(p) > 1 and n not in allowed}


def private_imports(root: Path) -> list[str]:
    """``from <other sessionlab module> import _name``: a reach into another module's insides."""
    found = []
    for path in _modules(root):
        here = _module_name(root, path)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ImportFrom) or node.level or not node.module:
                continue
            if node.module.split(".")[0] != root.name or node.module == here:
                continue
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.endswith("__"):
                    found.append(f"{here} imports {node.module}.{alias.name}")
    return found


def test_no_public_class_name_repeats_across_modules() -> None:
    assert repeated_public_classes(PACKAGE) == {}


def test_no_file_name_repeats_unless_it_is_the_same_role() -> None:
    assert repeated_file_names(PACKAGE, SAME_ROLE_FILE_NAMES) == {}


def test_no_module_imports_another_modules_private_names() -> None:
    assert private_imports(PACKAGE) == []


def test_the_checks_find_what_is_planted(tmp_path: Path) -> None:
    root = tmp_path / "sessionlab"
    (root / "a").mkdir(parents=True)
    (root / "b").mkdir()
    (root / "a" / "store.py").write_text("class Store: ...\nclass _Hidden: ...\n")
    (root / "b" / "store.py").write_text(
        "from sessionlab.a.store import _Hidden\nclass Store: ...\n"
    )
    (root / "b" / "ok.py").write_text("from sessionlab.b.ok import _self\nclass _Hidden: ...\n")
    assert repeated_public_classes(root) == {"Store": ["sessionlab.a.store", "sessionlab.b.store"]}
    assert repeated_file_names(root, {}) == {"store.py": ["a/store.py", "b/store.py"]}
    assert repeated_file_names(root, {"store.py": "same role"}) == {}
    assert private_imports(root) == ["sessionlab.b.store imports sessionlab.a.store._Hidden"]
