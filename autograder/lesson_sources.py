"""Keep each lesson's notebook and its jupytext ``.py`` twin identical, and the notebook clean.

Lessons live in ``solutions/<assignment>/<assignment>.ipynb`` (what nbgrader reads) with a
``py:percent`` twin next to it (what reviewers diff and ruff lints). Either may be edited;
``python autograder/lesson_sources.py from-py`` (or ``from-ipynb``) rewrites the other, and
``check`` fails when they drift or when a notebook carries outputs. Cell ids are derived from
the position, so regenerating never produces a diff by itself.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path
from typing import Any

import jupytext
import nbformat
from nbformat import NotebookNode

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "solutions"


def discover_assignments() -> tuple[str, ...]:
    """Every ``solutions/<name>/<name>.ipynb``: adding a lesson folder is all it takes."""
    found = (p.name for p in SOLUTIONS.iterdir() if (p / f"{p.name}.ipynb").is_file())
    return tuple(sorted(found))


ASSIGNMENTS = discover_assignments()
KERNELSPEC = {"display_name": "Session Lab (Python 3)", "language": "python", "name": "sessionlab"}
# The .py twin starts with a ruff directive (notebook code uses top-level await, long nbgrader
# cell headers, bare last expressions); it is not a cell of the notebook.
RUFF_LINE = "# ruff: noqa: E501, F704"
KEPT_METADATA = ("nbgrader", "tags")


def paths(assignment: str) -> tuple[Path, Path]:
    folder = SOLUTIONS / assignment
    return folder / f"{assignment}.ipynb", folder / f"{assignment}.py"


def clean(nb: NotebookNode) -> NotebookNode:
    """No outputs, no execution counts, only nbgrader/tags metadata, positional cell ids."""
    cells = [c for c in nb.cells if not (c.cell_type == "code" and c.source.strip() == RUFF_LINE)]
    out = nbformat.v4.new_notebook()
    out.metadata = {
        "kernelspec": dict(KERNELSPEC),
        "language_info": {"name": "python"},
    }
    for index, cell in enumerate(cells):
        meta: dict[str, Any] = {k: cell.metadata[k] for k in KEPT_METADATA if k in cell.metadata}
        if cell.cell_type == "code":
            new = nbformat.v4.new_code_cell(cell.source, metadata=meta)
        elif cell.cell_type == "markdown":
            new = nbformat.v4.new_markdown_cell(cell.source, metadata=meta)
        else:
            new = nbformat.v4.new_raw_cell(cell.source, metadata=meta)
        new.id = f"cell-{index:02d}"
        out.cells.append(new)
    return out


def from_py(py: Path) -> NotebookNode:
    """The clean notebook a ``py:percent`` twin describes."""
    return clean(jupytext.read(py, fmt="py:percent"))


def to_py_text(nb: NotebookNode) -> str:
    """The ``py:percent`` text for a notebook, with the ruff directive after the header."""
    nb = clean(nb)
    nb.metadata.pop("language_info", None)
    text = jupytext.writes(nb, fmt="py:percent")
    header_end = text.index("# ---\n", 5) + len("# ---\n")
    return text[:header_end] + f"\n{RUFF_LINE}\n" + text[header_end:]


def signature(nb: NotebookNode) -> list[tuple[str, str, str]]:
    """What must agree between the twins: cell type, source and kept metadata."""
    return [
        (c.cell_type, c.source.strip(), repr({k: c.metadata.get(k) for k in KEPT_METADATA}))
        for c in clean(nb).cells
    ]


def problems(assignment: str) -> list[str]:
    """Why this lesson's sources are not in a releasable state (empty list: all good)."""
    ipynb, py = paths(assignment)
    found: list[str] = []
    nb = nbformat.read(ipynb, as_version=4)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count")):
            found.append(f"{ipynb.name} cell {index} has outputs or an execution count")
    if py.exists() and signature(nb) != signature(from_py(py)):
        found.append(f"{ipynb.name} and {py.name} differ: run from-py or from-ipynb")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["check", "from-py", "from-ipynb"])
    parser.add_argument("assignments", nargs="*", default=list(ASSIGNMENTS))
    args = parser.parse_args(argv)
    failed = False
    for assignment in args.assignments:
        ipynb, py = paths(assignment)
        if args.action != "from-py" and not ipynb.exists():
            print(f"{ipynb} is missing", file=sys.stderr)
            failed = True
            continue
        if args.action == "from-py":
            nbformat.write(from_py(py), ipynb)
            print(f"wrote {ipynb.relative_to(ROOT)}")
        elif args.action == "from-ipynb":
            py.write_text(to_py_text(nbformat.read(ipynb, as_version=4)))
            ruff = Path(sys.executable).with_name("ruff")
            if ruff.exists():  # keep the twin as `ruff format` wants it (blank lines only)
                subprocess.run([str(ruff), "format", "--quiet", str(py)], check=False)
            print(f"wrote {py.relative_to(ROOT)}")
        else:
            for problem in problems(assignment):
                print(problem, file=sys.stderr)
                failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
