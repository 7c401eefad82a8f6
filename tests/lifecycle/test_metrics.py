"""Per-session metrics from ResultMessages; total_cost_usd is cumulative per CLI process."""

from __future__ import annotations

import pytest
from claude_code_sdk import ResultMessage

from sessionlab.lifecycle import CostTracker, MetricsBook, usage_tokens


def result(total: float | None, tokens_in: int = 10, tokens_out: int = 2, **kw) -> ResultMessage:
    return ResultMessage(
        subtype=kw.pop("subtype", "success"),
        duration_ms=1,
        duration_api_ms=1,
        is_error=kw.pop("is_error", False),
        num_turns=1,
        session_id=kw.pop("session_id", "t1"),
        total_cost_usd=total,
        usage={"input_tokens": tokens_in, "output_tokens": tokens_out, **kw},
    )


def test_cost_is_the_increase_of_each_connections_running_total():
    costs = CostTracker()
    assert costs.turn_cost("c1", 0.04) == pytest.approx(0.04)
    assert costs.turn_cost("c1", 0.09) == pytest.approx(0.05)
    assert costs.turn_cost("c2", 0.03) == pytest.approx(0.03), "a new process starts at 0"
    assert costs.turn_cost("c1", 0.12) == pytest.approx(0.03)
    assert costs.turn_cost("c1", None) == 0.0
    assert costs.turn_cost("c1", 0.01) == pytest.approx(0.01), "a restarted process"
    costs.forget("c2")
    assert costs.turn_cost("c2", 0.03) == pytest.approx(0.03)


def test_session_metrics_add_turns_not_running_totals(clock):
    book = MetricsBook(clock)
    for total in (0.044, 0.088, 0.132):  # what one real connection reported for 3 turns
        clock.advance(5)
        book.record_result("ana", "c1", result(total))
    book.record_result("ana", "c2", result(0.05, session_id="t2"))  # reconnected
    m = book.session("ana")
    assert m.message_count == 4
    assert m.total_cost_usd == pytest.approx(0.132 + 0.05)
    assert (m.input_tokens, m.output_tokens, m.total_tokens) == (40, 8, 48)
    assert m.transcript_ids == ["t1", "t2"]
    assert m.created_at == 1005.0 and m.last_activity == 1015.0


def test_errors_count_failed_turns_and_error_results(clock):
    book = MetricsBook(clock)
    book.record_error("bo")
    book.record_result("bo", "c1", result(0.01, is_error=True, subtype="error_during_execution"))
    assert book.session("bo").errors == 2
    assert book.totals() == {
        "sessions": 1,
        "messages": 1,
        "input_tokens": 10,
        "output_tokens": 2,
        "tokens": 12,
        "cost_usd": pytest.approx(0.01),
        "errors": 2,
    }
    assert book.forget("bo") is not None and book.all() == {}


def test_usage_tokens_include_cache_reads_and_writes():
    usage = {
        "input_tokens": 5,
        "cache_creation_input_tokens": 7,
        "cache_read_input_tokens": 11,
        "output_tokens": 3,
        "server_tool_use": {"web_search_requests": 0},
    }
    assert usage_tokens(usage) == (23, 3)
    assert usage_tokens(None) == (0, 0)
    assert usage_tokens({"input_tokens": None}) == (0, 0)
