"""Real jailed Jupyter kernels: each has its own runtime folder, its own uid (about 15 s).

The security review chmod'ed the batch's shared socket folder (``/tmp/.ipc``) from a
notebook: every kernel started after it died, and every later student scored 0.
"""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from jupyter_client.manager import KernelManager

from sessionlab.grading.jail import capabilities
from sessionlab.grading.jail_settings import (
    KERNEL_NAME,
    grading_limits,
    prepare_runtime_dir,
    write_kernelspec,
)

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(
    not capabilities()["isolated"], reason="needs root and namespaces (documented fallback)"
)


@pytest.fixture
def runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """What ``sessionlab grade`` sets up: the jail's kernel spec, one runtime folder."""
    write_kernelspec(tmp_path / "jupyter", grading_limits(wall_s=60, tmp_mb=16))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    folder = prepare_runtime_dir(tmp_path / "rt")
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(folder))
    return folder


class Kernel:
    def __init__(self, runtime: Path) -> None:
        self.manager = KernelManager(
            kernel_name=KERNEL_NAME, transport="ipc", ip=str(runtime / "k")
        )
        self.manager.start_kernel()
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=60)

    def run(self, code: str) -> str:
        out: list[str] = []

        def hook(message: dict[str, dict[str, str]]) -> None:
            content = message["content"]
            out.append(content.get("text") or content.get("evalue") or "")

        self.client.execute_interactive(code, output_hook=hook, timeout=60)
        return "".join(out)

    def close(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)


@pytest.fixture
def kernels(runtime: Path) -> Iterator[list[Kernel]]:
    started: list[Kernel] = []
    yield started
    for kernel in started:
        kernel.close()


SABOTAGE = """
import os, shutil
for attack in (
    lambda: os.chmod("/tmp/.ipc", 0),
    lambda: os.rename("/tmp/.ipc", "/tmp/ipc-moved"),
    lambda: shutil.rmtree("/tmp/.ipc"),
    lambda: os.chmod("/tmp", 0),
):
    try:
        attack()
        print("done")
    except OSError as error:
        print("refused", error.errno)
written = 0
try:  # fill the runtime folder's file system
    while True:
        with open(f"/tmp/.ipc/fill-{written}", "wb") as handle:
            handle.write(b"x" * (1 << 20))
        written += 1
except OSError as error:
    print("full after", written, "MiB", error.errno)
print("sees the client's folder:", os.path.exists(RUNTIME))
"""


def test_runtime_folder_sabotage_harms_only_the_saboteur(
    runtime: Path, kernels: list[Kernel]
) -> None:
    saboteur = Kernel(runtime)
    kernels.append(saboteur)
    out = saboteur.run(f"RUNTIME = {str(runtime)!r}\n" + SABOTAGE)
    print(out)
    assert out.count("refused 1") >= 2, out  # chmod and rename: EPERM, not the owner
    assert "full after" in out and int(out.split("full after")[1].split()[0]) <= 16, out
    assert "sees the client's folder: False" in out, out
    saboteur.close()
    kernels.remove(saboteur)
    assert not [p for p in runtime.iterdir() if p.name.startswith("k-")], "links removed"
    nxt = Kernel(runtime)
    kernels.append(nxt)
    assert nxt.run("print(6 * 7)").strip() == "42"


def test_two_kernels_at_once_have_two_uids_and_two_socket_folders(
    runtime: Path, kernels: list[Kernel]
) -> None:
    kernels.extend([Kernel(runtime), Kernel(runtime)])
    code = "import os; print(os.getuid(), sorted(os.listdir('/tmp/.ipc')))"
    first, second = (k.run(code).split(" ", 1) for k in kernels)
    assert first[0] != second[0], "concurrent jails never share a uid"
    ports = [set(k.manager.ports) for k in kernels]
    assert not ports[0] & ports[1]
    for kernel, (_, names) in zip(kernels, (first, second), strict=True):
        assert names.strip() == str(sorted(f"k-{p}" for p in kernel.manager.ports)), names
    assert os.stat(runtime).st_mode & 0o777 == 0o700 and os.stat(runtime).st_uid == 0


def test_swapping_a_socket_for_a_link_to_a_host_socket_reaches_nothing(
    runtime: Path, kernels: list[Kernel]
) -> None:
    """The kernel's uid may write its socket folder: it replaces every socket name with a
    link to a host service's socket. The grader reaches the kernel through hard links in a
    root-only folder, so a client connecting afterwards still reaches the kernel, and the
    host service sees no connection."""
    service_dir = ROOT / ".course" / "scratch" / f"service-{os.getpid()}"
    service_dir.mkdir(parents=True, exist_ok=True)
    service = socket.socket(socket.AF_UNIX)
    service.bind(str(service_dir / "host.sock"))
    service.listen()
    service.settimeout(0.5)
    try:
        kernel = Kernel(runtime)
        kernels.append(kernel)
        out = kernel.run(
            f"""
import os
for name in os.listdir("/tmp/.ipc"):
    os.remove("/tmp/.ipc/" + name)
    os.symlink({str(service_dir / "host.sock")!r}, "/tmp/.ipc/" + name)
print(sorted(os.listdir("/tmp/.ipc")), os.path.exists("/tmp/.ipc-grader"),
      os.access("/tmp/.ipc-grader", os.R_OK))
"""
        )
        assert "k-" in out and out.strip().endswith("True False"), out
        fresh = kernel.manager.client()  # a new connection: reconnects resolve the paths again
        fresh.start_channels()
        fresh.wait_for_ready(timeout=30)
        reply = fresh.execute_interactive("print(6 * 7)", timeout=30)
        fresh.stop_channels()
        assert reply["content"]["status"] == "ok"
        with pytest.raises(TimeoutError):
            service.accept()
    finally:
        service.close()
        shutil.rmtree(service_dir, ignore_errors=True)
