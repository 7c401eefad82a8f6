"""The limits a class is graded under by default: one place, read by the command line, the
pipeline and the jail settings (before, each kept its own copy of these numbers).

Each limit is per submission, i.e. per jailed kernel. They are generous for a lesson notebook
(the slowest reference runs in about 3 minutes) and small enough that a runaway submission
cannot starve the rest of a class; ``docs/grading.md`` explains how each is enforced.
"""

from __future__ import annotations

#: Wall-clock seconds for one whole notebook (the jail kills the kernel after this).
SUBMISSION_TIMEOUT_S = 900.0
#: RLIMIT_DATA of the kernel, in MiB (heap and private writable mappings).
MEMORY_MB = 2048
#: Size of the jail's private /tmp, in MiB.
TMP_MB = 128
#: Processes and threads of the jail's uid.
NPROC = 256
