"""Walk a transcript the way Claude Code resumes it: newest leaf back to the root.

Uses ``sessionlab.transcripts.conversation_chain`` when it exists (the course's shared
reader); otherwise the private walk below, which follows docs/cli-facts.md (the
``parentUuid`` chain).
"""

from __future__ import annotations

from typing import Any

Entry = dict[str, Any]
_MESSAGE_TYPES = ("user", "assistant")


def private_chain(entries: list[Entry]) -> list[Entry]:
    """Newest leaf (a user/assistant entry nobody names as parent) back to root, root first.

    "Newest" is the greatest ``timestamp``, ties broken by position in the file.
    """
    messages = [
        (i, e) for i, e in enumerate(entries) if e.get("type") in _MESSAGE_TYPES and e.get("uuid")
    ]
    by_uuid = {e["uuid"]: e for _, e in messages}
    parents = {e.get("parentUuid") for _, e in messages}
    leaves = [(str(e.get("timestamp", "")), i, e) for i, e in messages if e["uuid"] not in parents]
    if not leaves:
        return []
    node: Entry | None = max(leaves, key=lambda t: (t[0], t[1]))[2]
    chain: list[Entry] = []
    seen: set[str] = set()
    while node is not None and node["uuid"] not in seen:
        seen.add(node["uuid"])
        chain.append(node)
        node = by_uuid.get(node.get("parentUuid"))  # type: ignore[arg-type]
    chain.reverse()
    return chain


def conversation_chain(entries: list[Entry]) -> tuple[list[Entry], str]:
    """The resumed conversation and which walker produced it."""
    try:
        from sessionlab.transcripts import conversation_chain as shared
    except ImportError:
        return private_chain(entries), "harness private walk"
    return list(shared(entries)), "sessionlab.transcripts.conversation_chain"
