# Session Engineering Lab: the single entry point.
#   make lab     set everything up, start the course model, open JupyterLab on notebooks/
#   make test    set up if needed, then lint and run the whole test suite
#   make demo    headless run of the core story, prints a short report
# Every target is idempotent: when nothing changed, set-up is a no-op.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.sessionlab-setup
CLI_STAMP := .course/cli/.installed
KERNEL := sessionlab
LAB_ARGS ?=
PYTEST_ARGS ?=

.PHONY: help setup lab test lint demo doctor bench bench-grade clean distclean

help:
	@echo "make lab | test | demo | doctor | bench | bench-grade | grade | grade-demo | lint | clean"

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed: run make PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[course,agent,bot,dev]"
	$(BIN)/python -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Session Lab (Python 3)" >/dev/null
	@touch $@

$(CLI_STAMP): $(STAMP) src/sessionlab/claude_clis.py
	$(BIN)/sessionlab cli install
	@touch $@

setup: $(STAMP) $(CLI_STAMP)

lab: setup
	$(BIN)/sessionlab lab $(LAB_ARGS)

# ruff, the type checker, the import layers (pyproject.toml [tool.importlinter]) and the
# package-layout checks (one name per concept, no private imports across modules).
lint: setup
	$(BIN)/ruff check src tests autograder solutions
	$(BIN)/ruff format --check src tests autograder solutions
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/test_package_layout.py

test: setup lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

demo: setup
	$(BIN)/sessionlab demo

doctor: setup
	$(BIN)/sessionlab doctor

bench: setup
	$(BIN)/sessionlab bench monitor

# Seconds per notebook: nbgrader alone vs sessionlab grade, same notebooks, one run (~3 min).
bench-grade: setup
	$(BIN)/python autograder/bench_grading.py

clean:
	rm -rf .course/sandbox bench-results .pytest_cache .ruff_cache

distclean: clean
	rm -rf $(VENV) .course

# --- Lessons and nbgrader (see docs/instructors.md) ---
.PHONY: release roundtrip nbval

release: setup
	$(BIN)/python autograder/lesson_sources.py check
	$(BIN)/python autograder/course_cycle.py release

roundtrip: setup
	$(BIN)/python autograder/course_cycle.py roundtrip

nbval: setup
	$(BIN)/python -m pytest --nbval-lax --nbval-kernel-name=$(KERNEL) --nbval-cell-timeout=120 solutions/

# --- Grading a class (docs/grading.md) ---
.PHONY: grade grade-demo
ASSIGNMENT ?= 03-monitor
SUBMISSIONS ?=

grade: setup
	@test -n "$(SUBMISSIONS)" || { echo "usage: make grade ASSIGNMENT=03-monitor SUBMISSIONS=path/to/folder-or.zip"; exit 2; }
	$(BIN)/sessionlab grade $(ASSIGNMENT) --submissions $(SUBMISSIONS)

# The synthetic class (30 notebooks of lesson 03) graded into a temporary folder.
grade-demo: setup
	rm -rf .course/grade-demo && mkdir -p .course/grade-demo
	$(BIN)/python autograder/demo/generate.py .course/grade-demo/submissions
	$(BIN)/sessionlab grade 03-monitor --submissions .course/grade-demo/submissions --out .course/grade-demo/out --cell-timeout 60 || true
	SESSIONLAB_DEMO_RESULTS=.course/grade-demo/out $(BIN)/python -m pytest tests/grading/test_demo_class.py -q -m slow
