"""A SessionStore whose files *are* Claude Code transcripts, in Claude Code's own layout.

``root/<project_key>/<session_id>.jsonl`` holds the main transcript and
``root/<project_key>/<session_id>/<subpath>.jsonl`` a subagent's, exactly where the CLI puts
them under ``<config dir>/projects``. Rooted at a second config dir's ``projects/``, the mirror
is readable by ``claude --resume`` and ``claude_agent_sdk.get_session_messages`` as is.

Writes reuse the monitor's machinery: :class:`~sessionlab.monitor.fixedfile.FixedFile` appends
whole lines with ``O_APPEND`` in one write, ``fsync`` s them and undoes a failed batch;
:func:`~sessionlab.monitor.safety.open_private` creates files 0600. Every directory is opened
``O_NOFOLLOW`` level by level from ``root``, so neither a bad key nor a symlink planted inside
the root can make the store touch a file outside it.

Idempotency: an entry whose ``uuid`` is already in the file is skipped. The uuids are read
once per file and then incrementally (only bytes appended since the last look, by anyone), so
an append costs O(batch), not O(file). An ``flock`` on the transcript serialises the
read-check-write and the summary sidecar update between threads and processes (the CLI itself
does not take it: its lines only ever interleave with ours at line boundaries).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import secrets
import shutil
import stat
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio.to_thread
import orjson
from claude_agent_sdk import fold_session_summary
from claude_agent_sdk.types import (
    SessionKey,
    SessionListSubkeysKey,
    SessionStoreListEntry,
    SessionSummaryEntry,
)

from sessionlab.monitor.fixedfile import FixedFile
from sessionlab.monitor.safety import UnsafeFile, open_private
from sessionlab.stores.blocking import BlockingStore
from sessionlab.stores.codec import (
    LineParseError,
    encode_entry,
    entry_uuid,
    new_entries,
    parse_line,
    uuid_key,
)
from sessionlab.stores.keys import Key, check_component, parse_key

log = logging.getLogger(__name__)

SUFFIX = ".jsonl"
#: Per-project folder of summary sidecars; its leading dot keeps it out of every key and
#: out of the CLI's and the SDK's ``*.jsonl`` scans.
SUMMARIES = ".summaries"
DIR_MODE = 0o700
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
#: Transcripts whose uuid sets stay cached (about 16 bytes per entry each).
CACHE_FILES = 256


def mtime_ms(st: os.stat_result) -> int:
    """The store's one clock: file mtime in Unix epoch milliseconds."""
    return st.st_mtime_ns // 1_000_000


@dataclass
class _Seen:
    """The uuids of one transcript up to ``offset``, valid while the inode is the same.

    An inode number reused by a deleted-and-recreated file that already grew past ``offset``
    would fool this check; our own :meth:`JsonlSessionStore.delete` drops the entry instead.
    """

    ident: tuple[int, int]
    offset: int = 0
    uuids: set[bytes] = field(default_factory=set)


class JsonlSessionStore(BlockingStore):
    """Claude Code's on-disk transcript layout under ``root`` (see the module docstring).

    ``append`` adds the entries whose uuid the file does not hold yet, as whole lines;
    ``load`` returns every parseable line in file order, ``None`` if the file does not exist.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._cache: OrderedDict[Key, _Seen] = OrderedDict()
        self._cache_lock = threading.Lock()

    # -- paths ----------------------------------------------------------------------------
    @staticmethod
    def _location(key: Key) -> tuple[tuple[str, ...], str]:
        """``(directories below root, file name)`` of a key's transcript."""
        if key.subpath is None:
            return (key.project_key,), key.session_id + SUFFIX
        parts = key.parts
        return (key.project_key, key.session_id, *parts[:-1]), parts[-1] + SUFFIX

    def path_of(self, key: SessionKey) -> Path:
        """Where ``key``'s transcript lives (for callers that want to look at the file)."""
        folders, name = self._location(parse_key(key))
        return self.root.joinpath(*folders, name)

    @contextlib.contextmanager
    def _folder(self, parts: Sequence[str], *, create: bool) -> Iterator[int | None]:
        """An fd of ``root/<parts>``, each level opened without following links.

        ``None`` when a level is missing and ``create`` is false. Levels we create get mode
        0700 (``os.makedirs`` would give intermediate levels the umask's default).
        """
        with contextlib.ExitStack() as stack:
            if create:
                self.root.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
            try:
                fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            except FileNotFoundError:
                yield None
                return
            stack.callback(os.close, fd)
            for depth, part in enumerate(parts, start=1):
                made = False
                if create:
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(part, DIR_MODE, dir_fd=fd)
                        made = True
                try:
                    child = os.open(part, _DIR_FLAGS, dir_fd=fd)
                except FileNotFoundError:
                    if create:
                        raise
                    yield None
                    return
                except OSError as error:
                    if error.errno in (errno.ELOOP, errno.ENOTDIR):
                        where = self.root.joinpath(*parts[:depth])
                        raise UnsafeFile(f"{where}: not a plain directory (symlink?)") from None
                    raise
                stack.callback(os.close, child)
                if made:
                    os.fchmod(child, DIR_MODE)
                fd = child
            yield fd

    # -- the SessionStore protocol --------------------------------------------------------
    async def list_sessions(self, project_key: str) -> list[SessionStoreListEntry]:
        """Main transcripts of the project with their file mtime (ms)."""
        check_component(project_key, "project_key")
        return await anyio.to_thread.run_sync(self._list_sessions, project_key)

    async def list_session_summaries(self, project_key: str) -> list[SessionSummaryEntry]:
        """The sidecars of the project's existing main transcripts."""
        check_component(project_key, "project_key")
        return await anyio.to_thread.run_sync(self._list_summaries, project_key)

    async def delete(self, key: SessionKey) -> None:
        """Remove a transcript; a main key takes its subagent files and sidecar along."""
        await anyio.to_thread.run_sync(self._delete, parse_key(key))

    async def list_subkeys(self, key: SessionListSubkeysKey) -> list[str]:
        """Every ``<subpath>.jsonl`` below ``root/<project_key>/<session_id>/``, sorted."""
        parsed = parse_key({"project_key": key["project_key"], "session_id": key["session_id"]})
        return await anyio.to_thread.run_sync(self._list_subkeys, parsed)

    async def close(self) -> None:
        """Forget the cached uuid sets (there is nothing else to release)."""
        with self._cache_lock:
            self._cache.clear()

    async def __aenter__(self) -> JsonlSessionStore:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- append ---------------------------------------------------------------------------
    def _append(self, key: Key, entries: list[Any]) -> None:
        folders, name = self._location(key)
        with self._folder(folders, create=True) as dir_fd:
            assert dir_fd is not None
            lock_fd = self._open_locked(name, dir_fd)
            try:
                self._append_locked(key, entries, name, dir_fd, lock_fd)
            finally:
                os.close(lock_fd)  # also releases the flock

    @staticmethod
    def _open_locked(name: str, dir_fd: int) -> int:
        """Open (creating 0600) and ``flock`` the transcript; retry if it was unlinked meanwhile."""
        while True:
            fd = open_private(name, os.O_RDONLY, dir_fd=dir_fd)
            fcntl.flock(fd, fcntl.LOCK_EX)
            if os.fstat(fd).st_nlink > 0:
                return fd
            os.close(fd)  # a delete() won the lock and removed this inode: start over

    def _append_locked(
        self, key: Key, entries: list[Any], name: str, dir_fd: int, lock_fd: int
    ) -> None:
        fixed = FixedFile(Path(name), dir_fd=dir_fd)
        try:
            st = os.fstat(lock_fd)
            seen, size, fragment = self._catch_up(key, fixed, lock_fd, st)
            self._remember(key, seen)
            known = seen.uuids
            if fragment is not None and (uid := _uuid_of(fragment)) is not None:
                known = known | {uuid_key(uid)}
            fresh, keys = new_entries(entries, known)
            if not fresh:
                return
            data = b"".join(encode_entry(entry) + b"\n" for entry in fresh)
            if fragment is not None:
                data = b"\n" + data  # keep our first line whole; the fragment stays its own line
            before, after = fixed.append([data])
            seen.uuids |= keys
            seen.uuids |= known - seen.uuids  # the fragment's uuid: a whole line of its own now
            undisturbed = before == size  # nobody else appended since we looked
            if undisturbed:
                seen.offset = after
            if key.subpath is None:
                stale = not undisturbed or fragment is not None
                self._update_summary(key, fresh, before, mtime_ms(st), stale, lock_fd, dir_fd)
        finally:
            fixed.close()

    def _catch_up(
        self, key: Key, fixed: FixedFile, fd: int, st: os.stat_result
    ) -> tuple[_Seen, int, bytes | None]:
        """Bring the cached uuid set up to the end of the file; return it, that size, the tail.

        The tail is what follows the last newline (a torn line, or ``None`` if the file ends
        cleanly). Lines appended by someone else while we read are picked up too.
        """
        ident = (st.st_dev, st.st_ino)
        with self._cache_lock:
            seen = self._cache.get(key)
        if seen is None or seen.ident != ident or seen.offset > st.st_size:
            seen = _Seen(ident)
        for end, raw in fixed.iter_lines(seen.offset):  # streams, 1 MiB at a time
            self._note(seen, raw)
            seen.offset = end
        # iter_lines stops at the last complete non-blank line it saw: what remains is blank
        # lines, a torn tail, or lines that arrived after it finished.
        size = fixed.size()
        rest = os.pread(fd, size - seen.offset, seen.offset) if size > seen.offset else b""
        cut = rest.rfind(b"\n") + 1
        for raw in rest[:cut].split(b"\n"):
            self._note(seen, raw)
        seen.offset += cut
        return seen, size, rest[cut:] or None

    @staticmethod
    def _note(seen: _Seen, raw: bytes) -> None:
        uid = _uuid_of(raw) if raw.strip() else None
        if uid is not None:
            seen.uuids.add(uuid_key(uid))

    def _remember(self, key: Key, seen: _Seen) -> None:
        with self._cache_lock:
            self._cache[key] = seen
            self._cache.move_to_end(key)
            while len(self._cache) > CACHE_FILES:
                self._cache.popitem(last=False)

    # -- summaries ------------------------------------------------------------------------
    def _update_summary(
        self,
        key: Key,
        fresh: list[Any],
        size_before: int,
        mtime_before: int,
        stale: bool,
        lock_fd: int,
        dir_fd: int,
    ) -> None:
        """Fold the new entries into the sidecar, stamped with the file's new mtime.

        Runs under the transcript's flock, which serialises the read-fold-write. When the
        sidecar may not describe the file as it was before this append (no sidecar for a
        non-empty file, another mtime because someone else appended, a torn tail, a write
        that raced ours), it is rebuilt from the whole file instead of folded onto. A new
        (empty) file ignores any old sidecar: it is a new session.
        """
        name = key.session_id + ".json"
        try:
            with self._folder((key.project_key, SUMMARIES), create=True) as side_fd:
                assert side_fd is not None
                prev = _read_summary(name, side_fd) if size_before else None
                if size_before and (stale or prev is None or prev["mtime"] != mtime_before):
                    everything, _ = _read_entries(key.session_id + SUFFIX, dir_fd)
                    folded = fold_session_summary(None, key.session_key(), everything)
                else:
                    folded = fold_session_summary(prev, key.session_key(), fresh)
                folded["mtime"] = mtime_ms(os.fstat(lock_fd))
                _write_atomic(name, orjson.dumps(folded), side_fd)
        except (OSError, UnsafeFile) as error:
            # The entries are durable already; failing now would make the SDK re-send them.
            # The old sidecar's mtime is older than the file's, so readers see it is stale.
            log.warning("%s: summary sidecar not updated: %s", self.root / key.project_key, error)

    def _list_summaries(self, project_key: str) -> list[SessionSummaryEntry]:
        out: list[SessionSummaryEntry] = []
        with self._folder((project_key,), create=False) as dir_fd:
            if dir_fd is None:
                return out
            existing = {item["session_id"] for item in _scan_sessions(dir_fd)}
            with self._folder((project_key, SUMMARIES), create=False) as side_fd:
                if side_fd is None:
                    return out
                with os.scandir(side_fd) as listing:
                    names = [i.name for i in listing if i.is_file(follow_symlinks=False)]
                for name in sorted(names):
                    if name.endswith(".json") and name[: -len(".json")] in existing:
                        summary = _read_summary(name, side_fd)
                        if summary is not None:
                            out.append(summary)
        return out

    # -- reading --------------------------------------------------------------------------
    def _load(self, key: Key) -> list[Any] | None:
        folders, name = self._location(key)
        with self._folder(folders, create=False) as dir_fd:
            if dir_fd is None:
                return None
            try:
                os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            except FileNotFoundError:
                return None
            entries, bad = _read_entries(name, dir_fd)
        if bad:
            log.warning(
                "%s: skipped %d malformed line(s) at byte offset(s) %s; kept %d entries",
                self.root.joinpath(*folders, name),
                len(bad),
                ", ".join(map(str, bad[:10])) + (" ..." if len(bad) > 10 else ""),
                len(entries),
            )
        return entries

    def _list_sessions(self, project_key: str) -> list[SessionStoreListEntry]:
        with self._folder((project_key,), create=False) as dir_fd:
            return [] if dir_fd is None else _scan_sessions(dir_fd)

    def _list_subkeys(self, key: Key) -> list[str]:
        found: list[str] = []
        with self._folder((key.project_key, key.session_id), create=False) as dir_fd:
            if dir_fd is None:
                return found
            for top, dirs, files, top_fd in os.fwalk(".", dir_fd=dir_fd):
                dirs[:] = [d for d in dirs if not d.startswith(".")]
                for name in files:
                    if name.startswith(".") or not name.endswith(SUFFIX):
                        continue
                    st = os.stat(name, dir_fd=top_fd, follow_symlinks=False)
                    if stat.S_ISREG(st.st_mode):
                        found.append(os.path.normpath(os.path.join(top, name[: -len(SUFFIX)])))
        return sorted(p.replace(os.sep, "/") for p in found)

    # -- delete ---------------------------------------------------------------------------
    def _delete(self, key: Key) -> None:
        with self._cache_lock:
            for cached in [k for k in self._cache if k[:2] == key[:2]]:
                if key.subpath is None or cached == key:
                    del self._cache[cached]
        if key.subpath is not None:
            self._delete_subpath(key)
            return
        with self._folder((key.project_key,), create=False) as dir_fd:
            if dir_fd is None:
                return
            name = key.session_id + SUFFIX
            lock_fd = None
            with contextlib.suppress(FileNotFoundError):
                lock_fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
                fcntl.flock(lock_fd, fcntl.LOCK_EX)  # wait for an append's sidecar update
            try:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(name, dir_fd=dir_fd)
                with contextlib.suppress(FileNotFoundError, NotADirectoryError):
                    shutil.rmtree(key.session_id, dir_fd=dir_fd)
                with self._folder((key.project_key, SUMMARIES), create=False) as side_fd:
                    if side_fd is not None:
                        with contextlib.suppress(FileNotFoundError):
                            os.unlink(key.session_id + ".json", dir_fd=side_fd)
            finally:
                if lock_fd is not None:
                    os.close(lock_fd)

    def _delete_subpath(self, key: Key) -> None:
        folders, name = self._location(key)
        with self._folder(folders, create=False) as dir_fd:
            if dir_fd is None:
                return
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name, dir_fd=dir_fd)
        # Drop the folders the subpath leaves empty, deepest first, down to the session's own.
        with self._folder((key.project_key,), create=False) as dir_fd:
            if dir_fd is None:
                return
            levels = (key.session_id, *key.parts[:-1])
            for depth in range(len(levels), 0, -1):
                try:
                    os.rmdir("/".join(levels[:depth]), dir_fd=dir_fd)
                except OSError:
                    break


# -- helpers -----------------------------------------------------------------------------
def _uuid_of(raw: bytes) -> str | None:
    """The uuid of a raw line, or ``None`` for a uuid-less or malformed line."""
    try:
        return entry_uuid(parse_line(raw))
    except LineParseError:
        return None


def _read_entries(name: str, dir_fd: int) -> tuple[list[Any], list[int]]:
    """Parsed lines in order and the byte offsets of the lines that are not JSON objects.

    A last line without its newline is kept when it parses (the SDK's reader accepts it too)
    and reported otherwise: it is a torn write, or a write still in progress.
    """
    fixed = FixedFile(Path(name), dir_fd=dir_fd)
    entries: list[Any] = []
    bad: list[int] = []
    start = 0
    for end, raw in fixed.iter_lines():
        try:
            entries.append(parse_line(raw))
        except LineParseError:
            bad.append(end - len(raw) - 1)
        start = end
    size = fixed.size()
    if size > start:
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
        except FileNotFoundError:
            return entries, bad
        try:
            rest = os.pread(fd, size - start, start)
        finally:
            os.close(fd)
        cut = rest.rfind(b"\n")
        tail = rest[cut + 1 :]
        if tail.strip():
            try:
                entries.append(parse_line(tail))
            except LineParseError:
                bad.append(start + cut + 1)
    return entries, bad


def _scan_sessions(dir_fd: int) -> list[SessionStoreListEntry]:
    out: list[SessionStoreListEntry] = []
    with os.scandir(dir_fd) as listing:
        for item in listing:
            if (
                item.name.endswith(SUFFIX)
                and not item.name.startswith(".")
                and item.is_file(follow_symlinks=False)
            ):
                st = item.stat(follow_symlinks=False)
                out.append({"session_id": item.name[: -len(SUFFIX)], "mtime": mtime_ms(st)})
    return out


def _read_summary(name: str, dir_fd: int) -> SessionSummaryEntry | None:
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    except FileNotFoundError:
        return None
    with os.fdopen(fd, "rb") as handle:
        raw = handle.read()
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        value = None
    if (
        not isinstance(value, dict)
        or not isinstance(value.get("session_id"), str)
        or not isinstance(value.get("mtime"), int)
        or not isinstance(value.get("data"), dict)
    ):
        log.warning("summary sidecar %s is damaged; it will be rebuilt", name)
        return None
    return value  # type: ignore[return-value]


def _write_atomic(name: str, data: bytes, dir_fd: int) -> None:
    """Write ``name`` as a whole: a private temp file, then ``os.replace``."""
    tmp = f".{name}.{secrets.token_hex(6)}.tmp"
    fd = open_private(tmp, os.O_WRONLY | os.O_EXCL, dir_fd=dir_fd)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp, dir_fd=dir_fd)
        raise
