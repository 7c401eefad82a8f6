"""Sizes, thresholds and time limits of the harness, full and ``quick``."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class HarnessConfig:
    """Every number the checks use. ``HarnessConfig.for_mode(quick)`` gives the defaults."""

    # Pass thresholds.
    detection_p95_ms: float = 200.0  # the lesson's KPI
    merge_timeout_s: float = 10.0  # a closed stray must be fully merged and gone by then
    # Time limits: a check that overruns fails with "exceeded"; monitor calls are cut off.
    check_time_limit_s: float = 120.0
    start_timeout_s: float = 5.0
    stop_timeout_s: float = 5.0
    settle_max_s: float = 15.0  # after writers finish, wait at most this for the merge
    settle_quiet_s: float = 3.0  # ... or until the fixed file has not grown for this long
    warmup_s: float = 0.3  # between start() and the first stray (baseline scan, observers)
    # Sizes.
    detection_files: int = 200
    detection_pace_s: float = 0.02
    detection_timeout_s: float = 3.0
    merge_files: int = 30
    merge_lines_per_file: int = 5
    merge_pace_s: float = 0.1
    writer_duration_s: float = 2.0
    writer_pause_every: int = 300
    writer_pause_s: float = 0.3
    large_sizes: tuple[int, ...] = (
        (20_000,) * 200 + (200_000,) * 20 + (1_000_000,) * 5 + (10_000_000,) * 2
    )
    burst_files: int = 1000
    kill_rounds: int = 8
    kill_after_s: tuple[float, float] = (0.15, 0.6)
    chain_fragment_wait_s: float = 5.0

    @classmethod
    def for_mode(cls, quick: bool) -> HarnessConfig:
        """Defaults; ``quick`` shrinks sizes so the whole run takes well under 30 s."""
        if not quick:
            return cls()
        return replace(
            cls(),
            check_time_limit_s=45.0,
            settle_max_s=8.0,
            settle_quiet_s=2.0,
            detection_files=40,
            detection_timeout_s=2.0,
            merge_files=8,
            merge_pace_s=0.05,
            writer_duration_s=0.8,
            writer_pause_every=200,
            writer_pause_s=0.2,
            large_sizes=(20_000,) * 80 + (200_000,) * 8 + (2_000_000,) * 2,
            burst_files=200,
            kill_rounds=5,
            chain_fragment_wait_s=3.0,
        )
