"""Is an answer the student's own code, or the course's importable reference under a new name?

Six lessons ask for a class or function the course already ships as a reference
(``sessionlab.monitor``, ``sessionlab.capstone``, ...). The rule stated in every one of them:
**reading** the reference is allowed (importing it, printing its source, running it in a demo),
**submitting** it is not: an alias, a subclass, a wrapper, a helper that uses it, a global that
holds one of its objects or an import of the answer's name all score 0.

Why one rule for all: the lessons used to carry six similar walkers in their hidden tests, each
catching a different subset of the same tricks. This is the most thorough of them (the
capstone's), parameterised per lesson by an :class:`OwnWorkRule`:

* it reads the notebook's code **as submitted** (the grader's copy of the cells), never the
  student's running kernel, so no patch of a module, of ``inspect`` or of a global there can
  hide a wrapper;
* it follows **everything the answer reaches**, scope by scope with :mod:`symtable`: the
  answer's bases, decorators and methods, every notebook function, class or global they read,
  what those read in turn, and top-level statements that patch one of them
  (``Answer.method = other``). A method's parameter ``pool`` is not the lesson's global
  ``pool``; a method that reads the global is;
* a name is the reference when an import binds it from a reference module (or a package
  above one: ``import sessionlab.x`` binds all of ``sessionlab``), when it is one of the
  reference's names, or when a top-level assignment builds it from another such name
  (``Engine = Reference``, ``handler = SessionHandler(...)``);
* code built from strings hides what it uses (``eval``, ``importlib``, ``getattr`` with a
  computed name): not in anything the answer reaches; a lesson may also forbid some of these
  words anywhere in the notebook (its visible text says so).

The check is text analysis: it never imports or runs the student's code. Its answer is a sorted
list of one-line problems, empty when the answer is the student's own work.
"""

from __future__ import annotations

import ast
import builtins
import re
import symtable
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

# Words that hide what code uses. ``name(`` means "reads the name" (a call, or ``f = eval``),
# found in the syntax tree; the others are found in the code's text (docstrings left out).
HIDDEN_CODE = (
    "import_module", "__import__(", "importlib", "sys.modules", "__builtins__", "eval(",
    "exec(", "compile(", "globals(", "vars(", "locals(", "breakpoint(", "get_ipython(",
    "run_cell", "__dict__", "__subclasses__", "__globals__", "get_objects", "get_referrers",
    "builtins.",
)  # fmt: skip
# Words a lesson forbids anywhere in the notebook: imports by a name computed at run time.
DYNAMIC_IMPORTS = ("import_module", "__import__", "importlib", "sys.modules", "__builtins__")
# Names every kernel has without a definition in the notebook.
_KERNEL_NAMES = frozenset(dir(builtins)) | {"display", "In", "Out", "get_ipython"}


@dataclass(frozen=True)
class OwnWorkRule:
    """One lesson's own-work rule.

    ``answers``: the names the student must write (``kind``: as a class or a function).
    ``reference_modules``: modules whose imports bind the reference (submodules included).
    ``reference_names``: the reference's names, whatever module they are imported from; the
    answer's code may not even name them (a ``getattr`` with one, a string holding one).
    ``allowed``: the lesson's parts a student may use even though they come from a reference
    module (bound names such as ``TranscriptClient``, or modules such as
    ``sessionlab.bot.client``); the check neither flags nor follows them.
    ``hidden_code``: words of code built from strings, forbidden in what the answer reaches.
    ``forbidden_anywhere``: words forbidden anywhere in the notebook (the lesson says so).
    """

    answers: tuple[str, ...]
    kind: Literal["class", "function"]
    reference_modules: tuple[str, ...]
    reference_names: tuple[str, ...] = ()
    allowed: tuple[str, ...] = ()
    hidden_code: tuple[str, ...] = HIDDEN_CODE
    forbidden_anywhere: tuple[str, ...] = DYNAMIC_IMPORTS


def own_work_problems(cells: Sequence[str], rule: OwnWorkRule) -> list[str]:
    """Why the notebook's answers are not the student's own code (empty: they are).

    ``cells`` are the notebook's code cells as submitted (see
    :func:`sessionlab.lessons.child_runs.notebook_cells`).
    """
    return _Notebook(cells, rule).problems()


def class_methods(cells: Sequence[str], name: str) -> set[str]:
    """The methods the notebook's class ``name`` and its notebook base classes define
    (a lesson grading optional methods asks which ones the student wrote)."""
    classes: dict[str, ast.ClassDef] = {}
    for tree in _trees(cells):
        for node in tree.body:
            if isinstance(node, ast.ClassDef):
                classes[node.name] = node
    methods: set[str] = set()
    seen: set[str] = set()
    todo = [name]
    while todo:
        current = todo.pop()
        if current in seen or current not in classes:
            continue
        seen.add(current)
        body = classes[current].body
        methods |= {n.name for n in body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
        todo += [ast.unparse(base) for base in classes[current].bases]
    return methods


def _plain_python(source: str) -> str:
    """A cell as plain Python: IPython magics (``%%capture``) translated when IPython is there."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:
        return source
    return str(TransformerManager().transform_cell(source))


def _trees(cells: Iterable[str]) -> list[ast.Module]:
    """The cells' syntax trees; a cell that does not parse runs nothing, so it is skipped."""
    trees = []
    flags = ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    for cell in cells:
        try:
            tree = compile(_plain_python(cell), "<cell>", "exec", flags)
        except (SyntaxError, ValueError):
            continue
        if isinstance(tree, ast.Module):
            trees.append(tree)
    return trees


def _module_reads(node: ast.stmt) -> set[str]:
    """Names the top-level statement ``node`` reads from the notebook's top level, scope by
    scope: a method's parameter ``prompt`` is not the top-level ``prompt`` of a demo loop."""
    code = ast.unparse(node)
    try:
        table = symtable.symtable(code, "<cell>", "exec")
    except SyntaxError:  # top-level await in a demo: every name it reads, roughly
        return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
    names: set[str] = set()
    tables = [(table, True)]
    while tables:
        current, top = tables.pop()
        for symbol in current.get_symbols():
            if symbol.is_referenced() and (top or symbol.is_global()):
                names.add(symbol.get_name())
        tables += [(child, False) for child in current.get_children()]
    return names


def _without_docstrings(node: ast.stmt) -> str:
    """The statement's code without its docstrings: a docstring that mentions the reference
    ("unlike SessionMonitor, ...") runs nothing."""
    copy = ast.parse(ast.unparse(node))
    for sub in ast.walk(copy):
        if isinstance(sub, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Module):
            body = sub.body
            first = body[0] if body else None
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                body[0] = ast.Pass()
    return ast.unparse(copy)


def _patched_names(node: ast.stmt) -> set[str]:
    """Top-level names a statement changes without rebinding them: ``Answer.load = other``,
    ``setattr(Answer, "load", other)``: the change becomes part of ``Answer``."""
    names: set[str] = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Attribute | ast.Subscript) and isinstance(sub.ctx, ast.Store):
            root: ast.expr = sub
            while isinstance(root, ast.Attribute | ast.Subscript):
                root = root.value
            if isinstance(root, ast.Name):
                names.add(root.id)
        elif (
            isinstance(sub, ast.Call)
            and isinstance(sub.func, ast.Name)
            and sub.func.id in ("setattr", "delattr")
            and sub.args
            and isinstance(sub.args[0], ast.Name)
        ):
            names.add(sub.args[0].id)
    return names


class _Notebook:
    """The notebook's top level as the rule sees it: what each name is bound to, and which
    names are the reference."""

    def __init__(self, cells: Sequence[str], rule: OwnWorkRule) -> None:
        self.rule = rule
        self.code = "\n".join(cells)
        self.trees = _trees(cells)
        self.aliases: set[str] = set()  # names that are the reference
        self.imported: set[str] = set()  # every name an import binds
        self.defs: dict[str, list[ast.stmt]] = {}  # def and class statements, by name
        self.assigned: dict[str, list[ast.stmt]] = {}  # other top-level bindings, by name
        self.patches: dict[str, list[ast.stmt]] = {}  # statements changing a name in place
        self.bound = set(_KERNEL_NAMES)
        self._read_top_level()
        self._spread_aliases()

    def _read_top_level(self) -> None:
        for tree in self.trees:
            for node in tree.body:
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                    self.defs.setdefault(node.name, []).append(node)
                elif not isinstance(node, ast.Import | ast.ImportFrom):
                    for sub in ast.walk(node):
                        if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
                            self.assigned.setdefault(sub.id, []).append(node)
                    for name in _patched_names(node):
                        self.patches.setdefault(name, []).append(node)
            for part in ast.walk(tree):
                if isinstance(part, ast.Import | ast.ImportFrom):
                    for alias in part.names:
                        name = alias.asname or alias.name.split(".")[0]
                        self.bound.add(name)
                        self.imported.add(name)
                        if self._binds_reference(part, alias):
                            self.aliases.add(name)
                elif isinstance(part, ast.Name) and not isinstance(part.ctx, ast.Load):
                    self.bound.add(part.id)
                elif isinstance(part, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                    self.bound.add(part.name)
                elif isinstance(part, ast.arg):
                    self.bound.add(part.arg)
                elif isinstance(part, ast.ExceptHandler) and part.name:
                    self.bound.add(part.name)

    def _binds_reference(self, node: ast.Import | ast.ImportFrom, alias: ast.alias) -> bool:
        """Does this import bind the reference: a reference module, a package above one (its
        attributes reach the reference), or one of the reference's names?"""
        bound = alias.asname or alias.name.split(".")[0]
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
            full = f"{module}.{alias.name}"
        else:
            module = full = alias.name if alias.asname else alias.name.split(".")[0]
        allowed = self.rule.allowed
        if bound in allowed or any(full == a or full.startswith(a + ".") for a in allowed):
            return False
        if alias.name in self.rule.reference_names:
            return True
        for reference in self.rule.reference_modules:
            inside = (reference, reference + ".")
            if full == reference or full.startswith(inside[1]) or module.startswith(inside):
                return True
            if reference.startswith(full + "."):  # a package above the reference
                return True
        return False

    def _spread_aliases(self) -> None:
        """``Engine = Reference`` or ``handler = Handler(...)`` make the name the reference."""
        changed = True
        while changed:
            changed = False
            for name, nodes in self.assigned.items():
                if name in self.aliases or name in self.rule.allowed:
                    continue
                if any(_module_reads(node) & self.aliases for node in nodes):
                    self.aliases.add(name)
                    changed = True

    def problems(self) -> list[str]:
        rule = self.rule
        found = [f"your notebook uses {w}" for w in rule.forbidden_anywhere if w in self.code]
        kinds = (ast.ClassDef,) if rule.kind == "class" else (ast.FunctionDef, ast.AsyncFunctionDef)
        written = "class" if rule.kind == "class" else "def"
        for answer in rule.answers:
            if not any(isinstance(node, kinds) for node in self.defs.get(answer, [])):
                found.append(f"no {written} {answer} is written in the notebook")
            if answer in self.imported:
                found.append(f"{answer} is imported, not written with {written}")
            if answer in self.assigned:
                found.append(f"{answer} is assigned, not written with {written}")
        seen: set[str] = set()
        todo = list(rule.answers)
        while todo:
            name = todo.pop()
            if name in seen or name in rule.allowed:
                continue
            seen.add(name)
            nodes = [
                *self.defs.get(name, []),
                *self.assigned.get(name, []),
                *self.patches.get(name, []),
            ]
            for node in nodes:
                used = _module_reads(node)
                found += self._node_problems(name, node, used)
                todo += sorted(used & (set(self.defs) | set(self.assigned)))
        return sorted(set(found))

    def _node_problems(self, name: str, node: ast.stmt, used: set[str]) -> list[str]:
        """What one statement that ``name`` is made of reveals."""
        found = [
            f"{name} uses {a}, which is or holds the reference" for a in sorted(used & self.aliases)
        ]
        text = _without_docstrings(node)
        for reference in self.rule.reference_names:
            if re.search(rf"\b{re.escape(reference)}\b", text):
                found.append(f"{name} names {reference}, a part of the reference")
        read = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
        for word in self.rule.hidden_code:
            hit = word[:-1] in read if word.endswith("(") else word in text
            if hit:
                found.append(f"{name} uses {word.rstrip('(')} (code built from strings)")
        for call in ast.walk(node):
            if (
                isinstance(call, ast.Call)
                and isinstance(call.func, ast.Name)
                and call.func.id in ("getattr", "setattr", "delattr")
                and len(call.args) > 1
                and not isinstance(call.args[1], ast.Constant)
            ):
                found.append(f"{name} looks up an attribute by a computed name")
        unknown = sorted(used - self.bound)
        found += [f"{name} uses {u}, which no code of the notebook defines" for u in unknown]
        return found
