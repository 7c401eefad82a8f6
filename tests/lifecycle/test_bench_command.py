"""``sessionlab bench pool``: argument checks and the report, without running the CLI."""

from __future__ import annotations

import pytest

from sessionlab.cli import main
from sessionlab.lifecycle.pool_benchmark import ModeResult, PoolBench


def mode(name: str, opens: int, connect: float, turns: int = 4) -> ModeResult:
    result = ModeResult(name, [0.1] * turns, [connect + 0.1] * turns, connect * opens, 0.1, opens)
    result.transcript_ids = {"t"}
    return result


def test_reduction_table_and_json():
    bench = PoolBench(
        "current",
        4,
        {
            "per_request": mode("per_request", 4, 1.0),
            "pooled": mode("pooled", 1, 1.0),
            "pooled_new_sessions": mode("pooled_new_sessions", 4, 1.25),
        },
    )
    # overhead = opens x connect + 0.1 close: 4.1 vs 1.1 vs 5.1
    assert bench.reduction("pooled") == pytest.approx(1 - 1.1 / 4.1)
    assert bench.reduction("pooled_new_sessions") < 0
    data = bench.as_dict()
    assert data["overhead_reduction_pooled"] == round(1 - 1.1 / 4.1, 4)
    assert [m["processes"] for m in data["modes"]] == [4, 1, 4]
    assert bench.table().splitlines()[0].split()[:2] == ["mode", "requests"]


@pytest.mark.parametrize("argv", [["-n", "0"], ["-n", "201"]])
def test_bad_request_counts_fail_in_one_line(argv, capsys):
    assert main(["bench", "pool", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert "out of range: use 1 to 200" in err and "\n" not in err


def test_bench_monitor_is_still_registered(capsys):
    with pytest.raises(SystemExit):
        main(["bench", "monitor", "--help"])
    assert "--quick" in capsys.readouterr().out
