"""nbgrader's screens and exchange for `make lab`, and the hub's limits and accounts input."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from sessionlab.classroom.accounts import class_names
from sessionlab.classroom.exchange import (
    STUDENT_HIDDEN_PLUGINS,
    exchange_root,
    release_lessons,
    write_screen_config,
)
from sessionlab.classroom.limits import UserLimits, parse_memory
from sessionlab.errors import CourseError

REPO = Path(__file__).resolve().parents[1]


def test_student_screens_hide_instructor_panels_and_point_at_the_exchange(tmp_path: Path) -> None:
    screen = write_screen_config(tmp_path / "student", "student", tmp_path / "exchange")
    page = json.loads((screen.folder / "labconfig" / "page_config.json").read_text())
    assert set(STUDENT_HIDDEN_PLUGINS) <= set(page["disabledExtensions"])
    server = json.loads((screen.folder / "jupyter_server_config.json").read_text())
    assert server["ServerApp"]["jpserver_extensions"] == {
        "nbgrader.server_extensions.formgrader": False,
        "nbgrader.server_extensions.course_list": False,
    }
    teacher = write_screen_config(tmp_path / "instructor", "instructor", tmp_path / "exchange")
    page = json.loads((teacher.folder / "labconfig" / "page_config.json").read_text())
    assert not set(STUDENT_HIDDEN_PLUGINS) & set(page["disabledExtensions"])


def test_nbgrader_itself_reads_the_course_exchange(tmp_path: Path) -> None:
    """`nbgrader list` (a real nbgrader process) sees the released lessons, no system path."""
    exchange = tmp_path / "exchange"
    released = release_lessons(REPO / "autograder", ["01-fragmentation"], exchange)
    assert released == ["01-fragmentation"]
    assert release_lessons(REPO / "autograder", ["01-fragmentation"], exchange) == []
    screen = write_screen_config(tmp_path / "student", "student", exchange)
    done = subprocess.run(
        [sys.executable, "-m", "nbgrader", "list"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={"PATH": str(Path(sys.executable).parent), "HOME": str(tmp_path),
             "JUPYTER_CONFIG_PATH": str(screen.folder)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "01-fragmentation" in done.stdout + done.stderr
    assert "/usr/local/share/nbgrader" not in done.stdout + done.stderr


def test_the_course_config_finds_its_root_from_any_folder(tmp_path: Path) -> None:
    """The old relative root made `autograder/autograder` from inside autograder/."""
    from sessionlab.grading.workspace import load_course_config

    config = load_course_config(REPO / "autograder")
    assert Path(config.CourseDirectory.root) == (REPO / "autograder").resolve()
    assert Path(config.Exchange.root) == exchange_root()


def test_exchange_root_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("SESSIONLAB_EXCHANGE", str(tmp_path / "shared"))
    assert exchange_root() == (tmp_path / "shared").resolve()


def test_limits_parse_and_write_cgroup_files(tmp_path: Path) -> None:
    assert parse_memory("2G") == 2 << 30 and parse_memory("512M") == 512 << 20
    assert parse_memory("1048576") == 1 << 20
    for kind in ("memory", "cpu"):
        (tmp_path / kind).mkdir()
    limits = UserLimits("ana", 1 << 30, 0.5, root=tmp_path)  # a cgroup v1 layout
    limits.create()
    assert limits.written_limits() == (1 << 30, 0.5)


def test_class_names_are_checked() -> None:
    assert class_names(2, "student", "teacher") == [
        ("student01", "student"), ("student02", "student"), ("teacher", "instructor"),
    ]  # fmt: skip
    with pytest.raises(CourseError, match="not a valid account name"):
        class_names(1, "Bad Name", "teacher")
    with pytest.raises(CourseError, match="1 to 500"):
        class_names(0, "student", "teacher")


def test_environment_yml_installs_what_make_lab_installs() -> None:
    import re

    makefile = (REPO / "Makefile").read_text()
    environment = (REPO / "environment.yml").read_text()
    make_extras = re.search(r'pip install --quiet -e "\.\[([^\]]+)\]"', makefile)
    conda_extras = re.search(r'-e "\.\[([^\]]+)\]"', environment)
    assert make_extras is not None and conda_extras is not None
    assert set(conda_extras.group(1).split(",")) == set(make_extras.group(1).split(","))
    assert {"agent", "bot"} <= set(conda_extras.group(1).split(","))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--students", "0"], "use 1 to 500"),
        (["--students", "2", "--prefix", "Bad Name"], "not a valid account name"),
    ],
)
def test_hub_serve_refuses_bad_input_in_one_line(args: list[str], message: str) -> None:
    done = subprocess.run(
        [str(Path(sys.executable).parent / "sessionlab"), "hub", "serve", *args],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr


@pytest.mark.slow
def test_clis_in_a_private_checkout_are_copied_for_every_account(tmp_path: Path) -> None:
    """A checkout under a private folder (e.g. /root): the hub gives students a readable copy."""
    from sessionlab import claude_clis
    from sessionlab.classroom.install import readable_by_all, shared_cli_dir

    if not all(claude_clis.is_installed(name) for name in ("legacy", "current")):
        pytest.skip("the pinned CLIs are not installed (sessionlab cli install)")
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    private.chmod(0o700)
    installed = private / "cli"
    shutil.copytree(claude_clis.install_root(), installed, symlinks=True)
    data = Path(tempfile.mkdtemp(prefix="sessionlab-cli-test-", dir="/tmp"))
    data.chmod(0o755)
    try:
        target = shared_cli_dir(installed, Path(sys.executable).parent, data)
        assert target == data / "cli"
        launcher = target / claude_clis.pinned("legacy").version / "bin" / "claude"
        assert str(private) not in launcher.read_text()
        done = subprocess.run([str(launcher), "--version"], capture_output=True, text=True)
        assert claude_clis.pinned("legacy").version in done.stdout
        assert readable_by_all(launcher)
    finally:
        shutil.rmtree(data, ignore_errors=True)
