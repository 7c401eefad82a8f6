"""Files that survive crashes and refuse tricks: shared by the monitor and the session stores.

Both the monitor (merging strays into the fixed session file) and the JSONL/SQLite session
stores write transcript files that must never be half-written, world-readable, or redirected
through a planted link. They share these building blocks instead of one importing the other:

* :mod:`~.safety`: open without following links or blocking on special files, create files
  0600 and directories 0700, ``fsync`` a directory;
* :mod:`~.appends`: :class:`~.appends.FixedFile`, durable all-or-nothing appends (``O_APPEND``,
  one write loop, ``fsync``; ENOSPC/EIO undone or the torn tail terminated);
* :mod:`~.failpoints`: crash injection (``SESSIONLAB_FAILPOINT``) between those steps, for
  the crash tests.
"""
