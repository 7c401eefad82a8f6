"""Results of a harness run: one :class:`CheckResult` per check, gathered in a report."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class CheckResult:
    """Outcome of one check. ``numbers`` are measurements; ``samples`` raw data for plots."""

    name: str
    passed: bool
    numbers: dict[str, Any] = field(default_factory=dict)
    detail: str = ""
    samples: dict[str, list[float]] = field(default_factory=dict)
    seconds: float = 0.0


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (no numpy needed); NaN for an empty list."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def latency_numbers(samples_ms: list[float]) -> dict[str, float]:
    """p50/p95/p99/max in ms, rounded for tables."""
    return {
        f"{k}_ms": round(v, 2)
        for k, v in (
            ("p50", percentile(samples_ms, 50)),
            ("p95", percentile(samples_ms, 95)),
            ("p99", percentile(samples_ms, 99)),
            ("max", max(samples_ms) if samples_ms else math.nan),
        )
    }


# Which numbers the one-line table shows for each check (the rest is in to_dict()).
_HEADLINE = (
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "missed",
    "written",
    "lost",
    "lost_pct",
    "duplicated",
    "malformed",
    "on_chain",
    "entries",
    "kills",
    "touched",
)


@dataclass
class HarnessReport:
    """All check results of one run, with a text table and a latency plot helper."""

    monitor: str
    quick: bool
    checks: list[CheckResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks)

    def __getitem__(self, name: str) -> CheckResult:
        for check in self.checks:
            if check.name == name:
                return check
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "monitor": self.monitor,
            "quick": self.quick,
            "passed": self.passed,
            "seconds": round(self.seconds, 2),
            "checks": [asdict(c) for c in self.checks],
        }

    def table(self) -> str:
        """A plain-text table: check, PASS/FAIL, headline numbers, time; failures explained."""
        rows = [("check", "result", "numbers", "s")]
        for c in self.checks:
            nums = ", ".join(f"{k}={_fmt(c.numbers[k])}" for k in _HEADLINE if k in c.numbers)
            rows.append((c.name, "PASS" if c.passed else "FAIL", nums, f"{c.seconds:.1f}"))
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        lines = []
        for i, row in enumerate(rows):
            lines.append("  ".join(cell.ljust(widths[j]) for j, cell in enumerate(row)).rstrip())
            if i == 0:
                lines.append("  ".join("-" * w for w in widths))
        verdict = "PASSED" if self.passed else "FAILED"
        lines.append(f"{self.monitor}: {verdict} in {self.seconds:.1f} s")
        for c in self.checks:
            if not c.passed and c.detail:
                lines.append(f"  {c.name}: {c.detail}")
        return "\n".join(lines)

    def summary(self) -> str:
        """One line after a run whose checks were already shown one by one (the lesson prints
        each check as it finishes): the verdict, without repeating any check."""
        name = self.monitor.rpartition(":")[2] or self.monitor
        verdict = "PASSED" if self.passed else "FAILED"
        passed = sum(1 for c in self.checks if c.passed)
        return f"{name}: {verdict} in {self.seconds:.1f} s, {passed} of {len(self.checks)} passed"

    def latency_samples(self) -> dict[str, list[float]]:
        """Raw latency samples (ms) keyed ``"<check>/<series>"``, for custom plots."""
        return {f"{c.name}/{k}": v for c in self.checks for k, v in c.samples.items()}

    def plot_latencies(self, ax: Any, *, label: str | None = None) -> Any:
        """Draw an empirical CDF of every latency series on a matplotlib ``ax``."""
        for key, values in self.latency_samples().items():
            if not values:
                continue
            xs = sorted(values)
            ys = [(i + 1) / len(xs) for i in range(len(xs))]
            ax.step(xs, ys, where="post", label=f"{label or self.monitor}: {key}")
        ax.set_xscale("log")
        ax.set_xlabel("latency (ms, log scale)")
        ax.set_ylabel("fraction of strays")
        ax.axvline(200, color="grey", linestyle=":", linewidth=1)
        ax.legend(fontsize="small")
        return ax


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)
