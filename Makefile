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

.PHONY: help setup lab instructor browser hub test lint demo doctor bench bench-grade bench-grade-nbgrader clean distclean

help:
	@echo "make lab | instructor | hub | test | demo | doctor | bench | bench-grade | bench-grade-nbgrader | grade | grade-demo | lint | clean"

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed: run make PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[course,agent,bot,hub,workers,dev]"
	$(BIN)/python -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Session Lab (Python 3)" >/dev/null
	@touch $@

$(CLI_STAMP): $(STAMP) src/sessionlab/claude_clis.py
	$(BIN)/sessionlab cli install
	@touch $@

setup: $(STAMP) $(CLI_STAMP)

lab: setup
	$(BIN)/sessionlab lab $(LAB_ARGS)

# The instructor's view: JupyterLab on autograder/ with the Formgrader (docs/classroom.md).
instructor: setup
	$(BIN)/sessionlab lab --instructor --port 8889 $(LAB_ARGS)

# A JupyterHub for a class on this Linux server (root): make hub STUDENTS=30 (docs/classroom.md).
STUDENTS ?= 5
HUB_ARGS ?=
hub: setup
	$(BIN)/sessionlab hub serve --students $(STUDENTS) $(HUB_ARGS)

# ruff, the type checker, the import layers (pyproject.toml [tool.importlinter]) and the
# package-layout checks (one name per concept, no private imports across modules).
lint: setup
	$(BIN)/ruff check src tests autograder solutions
	$(BIN)/ruff format --check src tests autograder solutions
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/test_package_layout.py

test: setup lint browser
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The browser tests drive Debian's chromium through Playwright (never `playwright install`).
CHROMIUM ?= /usr/bin/chromium
browser:
	@test -x $(CHROMIUM) || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) ; } || \
	  echo "no browser at $(CHROMIUM): the browser tests will be skipped (install it: sudo apt-get install chromium)"

demo: setup
	$(BIN)/sessionlab demo

doctor: setup
	$(BIN)/sessionlab doctor

bench: setup
	$(BIN)/sessionlab bench monitor

# Seconds per notebook and speed-up for 1, 2, 4, 8 local workers and 2 Celery workers on the
# 30-student demo class, one run (~15 min on 2 cores); BENCH_ARGS="--subset" for the 19.
BENCH_ARGS ?=
bench-grade: setup
	$(BIN)/python autograder/bench_workers.py $(BENCH_ARGS)

# Seconds per notebook: nbgrader alone vs sessionlab grade, same notebooks, one run (~3 min).
bench-grade-nbgrader: setup
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

# The synthetic class (42 notebooks of lesson 03) graded into a temporary folder
# (GRADE_ARGS="--workers 8" or "--broker redis://127.0.0.1:6379/0" to choose the workers).
GRADE_ARGS ?=
grade-demo: setup
	rm -rf .course/grade-demo && mkdir -p .course/grade-demo
	$(BIN)/python autograder/demo/generate.py .course/grade-demo/submissions
	$(BIN)/sessionlab grade 03-monitor --submissions .course/grade-demo/submissions --out .course/grade-demo/out --cell-timeout 60 $(GRADE_ARGS) || true
	SESSIONLAB_DEMO_RESULTS=.course/grade-demo/out $(BIN)/python -m pytest tests/grading/test_demo_class.py -q -m slow
