"""Notebook surgery for grading: skip demonstrations, extract definitions, hide hidden tests.

Three jobs, all on ``nbformat`` notebooks and all without running anything:

* :func:`grading_plan` / :func:`reduce_for_grading`: a lesson's *demonstration* cells (the
  instructor's unmarked code cells: real chats, benchmark runs) cost most of a notebook's run
  time and earn no points. When the graded cells provably need nothing those cells compute
  (a static check of the names they bind and the graded code reads), grading keeps only their
  definitions (imports, ``def``, ``class``, literal constants). Otherwise the whole notebook
  runs, as nbgrader would.
* :func:`extract_definitions`: the same idea on a student's whole notebook, to load a class
  (``StudentMonitor``) without running the notebook.
* :func:`hidden_lines` / :func:`strip_hidden_tests` / :func:`leaked_lines`: feedback must not
  show hidden tests, neither their source nor a traceback or print-out that quotes them.
"""

from __future__ import annotations

import ast
import html
import re
from dataclasses import dataclass, field

import nbformat
from nbformat import NotebookNode

BEGIN_HIDDEN = "### BEGIN HIDDEN TESTS"
END_HIDDEN = "### END HIDDEN TESTS"
HIDDEN_PLACEHOLDER = "# (hidden tests: not shown in feedback)"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def nbgrader_meta(cell: NotebookNode) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def is_graded_cell(cell: NotebookNode) -> bool:
    """An nbgrader cell: answer, test or manually graded (never skipped, never reduced)."""
    meta = nbgrader_meta(cell)
    return bool(meta.get("solution") or meta.get("grade") or meta.get("task"))


def is_test_cell(cell: NotebookNode) -> bool:
    """An autograded test cell (code, graded, not an answer): visible and hidden tests."""
    meta = nbgrader_meta(cell)
    return cell.cell_type == "code" and bool(meta.get("grade")) and not meta.get("solution")


def python_source(source: str) -> str:
    """Cell source as plain Python (IPython magics and ``!`` lines translated)."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        return TransformerManager().transform_cell(source)
    except Exception:  # IPython missing or a transformer bug: parse as is
        return source


def is_definition(node: ast.stmt) -> bool:
    """Imports, functions, classes and assignments of plain literals (``CHECKS = [...]``)."""
    if isinstance(node, ast.Import | ast.ImportFrom | ast.FunctionDef | ast.AsyncFunctionDef):
        return True
    if isinstance(node, ast.ClassDef):
        return True
    if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
        try:
            ast.literal_eval(node.value)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            return False
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        return all(isinstance(t, ast.Name) for t in targets)
    return False


def split_definitions(source: str) -> tuple[str, set[str], set[str]] | None:
    """(kept source, names the dropped statements bind, names they read); None if unparsable."""
    code = python_source(source)
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None
    kept: list[str] = []
    dropped_binds: set[str] = set()
    dropped_loads: set[str] = set()
    for node in tree.body:
        if is_definition(node):
            kept.append(ast.get_source_segment(code, node) or "")
        else:
            for sub in ast.walk(node):
                if isinstance(sub, ast.Name):
                    (dropped_binds if isinstance(sub.ctx, ast.Store) else dropped_loads).add(sub.id)
    return "\n\n".join(k for k in kept if k), dropped_binds, dropped_loads


def source_names(source: str) -> tuple[set[str], set[str]]:
    """(names bound, names read) anywhere in ``source``; empty sets if it does not parse."""
    try:
        tree = ast.parse(python_source(source))
    except SyntaxError:
        return set(), set()
    bound: set[str] = set()
    read: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (bound if isinstance(node.ctx, ast.Store) else read).add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.add(node.name)
        elif isinstance(node, ast.alias):
            bound.add((node.asname or node.name).split(".")[0])
    return bound, read


def top_level_names(source: str) -> set[str]:
    """Names ``source`` binds in its module namespace: what a cell *defines*, without the
    locals and parameters of its functions (which :func:`source_names` counts as bound)."""
    try:
        tree = ast.parse(python_source(source))
    except SyntaxError:
        return set()
    names: set[str] = set()
    pending: list[ast.AST] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)  # its body is another scope
        elif isinstance(node, ast.alias):
            names.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif not isinstance(node, ast.Lambda | ast.comprehension):
            pending.extend(ast.iter_child_nodes(node))
    return names


@dataclass
class GradingPlan:
    """How to grade one assignment: reduce demonstration cells, or run everything (``full``)."""

    full: bool
    reason: str
    demo_sources: dict[str, str] = field(default_factory=dict)  # original -> reduced source
    test_reads: set[str] = field(default_factory=set)  # names the source's graded cells read

    def describe(self) -> str:
        if self.full:
            return f"whole notebook ({self.reason})"
        return f"graded cells + definitions of {len(self.demo_sources)} demonstration cells"


def grading_plan(source_nb: NotebookNode) -> GradingPlan:
    """Decide from the instructor's notebook whether demonstrations can be skipped safely.

    Unsafe when a graded cell (answer or test, hidden part included) or a kept definition
    reads a name that only a dropped demonstration statement binds: lesson 1's tests read
    ``lab`` and ``files``, made by real chats, so lesson 1 runs whole.
    """
    demo: dict[str, str] = {}
    dropped_binds: set[str] = set()
    kept_bound: set[str] = set()
    reads: set[str] = set()
    for cell in source_nb.cells:
        if cell.cell_type != "code":
            continue
        if is_graded_cell(cell):
            bound, read = source_names(cell.source)
            kept_bound |= bound
            reads |= read
            continue
        split = split_definitions(cell.source)
        if split is None:
            return GradingPlan(True, "a demonstration cell does not parse")
        kept, binds, _ = split
        demo[cell.source.strip()] = kept
        bound, read = source_names(kept)
        kept_bound |= bound
        reads |= read
        dropped_binds |= binds
    needed = sorted((reads & dropped_binds) - kept_bound)
    if needed:
        return GradingPlan(True, f"graded cells use {', '.join(needed[:4])} from demonstrations")
    return GradingPlan(False, "graded cells are self-contained", demo, reads)


def reduce_for_grading(submission: NotebookNode, plan: GradingPlan) -> NotebookNode:
    """The submission with unchanged demonstration cells cut down to their definitions.

    Only cells whose source is exactly the instructor's are reduced: a cell the student
    wrote or edited runs as written.
    """
    if plan.full:
        return submission
    out = nbformat.from_dict(submission)
    reduced_cells, reads = [], set(plan.test_reads)
    for cell in out.cells:
        if cell.cell_type != "code":
            continue
        reduced = None if is_graded_cell(cell) else plan.demo_sources.get(cell.source.strip())
        if reduced is None:
            reads |= source_names(cell.source)[1]
        else:
            reduced_cells.append(cell)
            cell.source = reduced
            reads |= source_names(without_imports(reduced))[1]
    for cell in reduced_cells:
        cell.source = prune_imports(cell.source, reads)
    out.cells = [c for c in out.cells if c.cell_type != "code" or c.source.strip()]
    return out


def without_imports(code: str) -> str:
    tree = ast.parse(code)
    tree.body = [n for n in tree.body if not isinstance(n, ast.Import | ast.ImportFrom)]
    return ast.unparse(tree)


def prune_imports(code: str, needed: set[str]) -> str:
    """Drop imported names nothing reads (lesson 3's set-up imports an SDK that takes 6 s).

    ``__future__`` imports stay; ``from m import a, b`` keeps only the names in ``needed``.
    """
    tree = ast.parse(code)
    body: list[ast.stmt] = []
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            if isinstance(node, ast.ImportFrom) and node.module == "__future__":
                body.append(node)
                continue
            names = [a for a in node.names if (a.asname or a.name).split(".")[0] in needed]
            if not names:
                continue
            node.names = names
        body.append(node)
    tree.body = body
    return ast.unparse(tree) if body else ""


def extract_definitions(nb: NotebookNode, *, skip_tests: bool = True) -> str:
    """Module source with every definition of the notebook, in order, and nothing that runs.

    Test cells are left out (they would run the tests, and their hidden part is not the
    student's); an answer cell's top-level calls (a student's own experiments) are dropped.
    """
    parts = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        meta = nbgrader_meta(cell)
        if skip_tests and meta.get("grade") and not meta.get("solution"):
            continue
        split = split_definitions(cell.source)
        if split is not None and split[0].strip():
            parts.append(split[0])
    code = "\n\n\n".join(parts)
    if not code:
        return "\n"
    return prune_imports(code, source_names(without_imports(code))[1]) + "\n"


def hidden_lines(source_nb: NotebookNode) -> list[str]:
    """Lines only hidden-test blocks contain (what feedback must never show).

    A line that also appears outside a hidden block (``with tempfile.TemporaryDirectory()``)
    (or is part of a public line) is public already: it would only make the leak check cry wolf.
    """
    hidden: list[str] = []
    public: set[str] = set()
    for cell in source_nb.cells:
        inside = False
        for line in cell.source.splitlines():
            text = line.strip()
            if text == BEGIN_HIDDEN:
                inside = True
            elif text == END_HIDDEN:
                inside = False
            elif inside:
                if len(text) >= 8 and not text.startswith("#"):
                    hidden.append(text)
            else:
                public.add(text)
    public_text = "\n".join(public)
    return [line for line in dict.fromkeys(hidden) if line not in public_text]


def _strip_block(source: str) -> str:
    lines, out, inside = source.splitlines(), [], False
    for line in lines:
        text = line.strip()
        if text == BEGIN_HIDDEN:
            inside = True
            out.append(HIDDEN_PLACEHOLDER)
        elif text == END_HIDDEN:
            inside = False
        elif not inside:
            out.append(line)
    return "\n".join(out)


def _scrub_text(text: str, secrets: set[str]) -> str:
    kept = []
    for line in text.splitlines(keepends=True):
        plain = _ANSI.sub("", line).strip()
        plain = re.sub(r"^(?:-*>\s*)?\d+\s", "", plain).strip()  # traceback "---> 12 code"
        if plain and (plain in secrets or any(s in plain for s in secrets if len(s) >= 20)):
            kept.append("[line of a hidden test removed]\n")
        else:
            kept.append(line)
    return "".join(kept)


def strip_hidden_tests(nb: NotebookNode, secrets: list[str]) -> NotebookNode:
    """A copy for feedback: hidden blocks replaced by a placeholder, outputs scrubbed.

    Tracebacks quote the failing line, and student code can print what it captured of a
    test cell, so every output line that repeats a hidden line is replaced too. Error
    names and messages stay: "a failing hidden case prints why" is intended feedback.
    """
    out = nbformat.from_dict(nb)
    secret_set = {*secrets, BEGIN_HIDDEN, END_HIDDEN}  # a traceback's context shows markers too
    for cell in out.cells:
        if BEGIN_HIDDEN in cell.source:
            cell.source = _strip_block(cell.source)
        for output in cell.get("outputs", []):
            if output.output_type == "stream":
                output.text = _scrub_text(output.text, secret_set)
            elif output.output_type == "error":
                output.traceback = [_scrub_text(t, secret_set) for t in output.traceback]
                output.evalue = _scrub_text(output.evalue, secret_set)
            elif "data" in output:
                for mime in ("text/plain", "text/html", "text/markdown"):
                    if mime in output.data:
                        output.data[mime] = _scrub_text(output.data[mime], secret_set)
    return out


def known_to_student(secrets: list[str], submission: NotebookNode) -> list[str]:
    """``secrets`` minus the lines the student's own notebook already contains.

    A student who copies the lesson's naive monitor writes ``except Exception as error:``,
    which a hidden test happens to contain too; their feedback shows their own code, which
    is no leak, and must not be withheld for it.
    """
    own = "\n".join(cell.source for cell in submission.cells)
    return [line for line in secrets if line not in own]


def leaked_lines(document: str, secrets: list[str]) -> list[str]:
    """Hidden-test lines that appear in an HTML (or text) document: must be empty."""
    text = html.unescape(_ANSI.sub("", re.sub(r"<[^>]+>", "", document)))
    return [s for s in secrets if len(s) >= 20 and s in text]
