"""What the course model answers: short, deterministic replies that make memory observable.

A reply depends only on the request's ``messages`` (and, for side requests, on which side
request it is). The grammar, case-insensitive, applied to the student's latest message:

``remember that <key> is <value>`` / ``my <key> is <value>``
    "Got it: your <key> is <value>."
``what is my <key>?`` / ``what's my <key>?`` / ``what is the <key>?``
    "Your <key> is <value>." if an EARLIER user message in this request stated it, else
    "I don't know your <key>: nothing in this conversation mentions it."
``what do you remember?`` / ``how many messages ...``
    "I can see N earlier messages from you in this conversation. The first one was: "..."."
    or "This is the start of our conversation: I don't see any earlier messages."
``READ:<path>``
    a ``Read`` tool_use (input ``{"file_path": path}``); once the tool_result comes back,
    "I read <path>: <n> lines; the first line is "..."."
``READ2:<path>``
    the same, but preceded by a text block in the same message (a multi-block reply).
anything else
    "You said: "<text>". " followed by the memory sentence above.

Side requests the CLIs make get their own answers: a quota probe (``max_tokens`` 1,
content "quota") gets "ok"; a title / topic / summary request gets a short title built from
the first user message, as JSON when the CLI asked for JSON.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from sessionlab.model.conversation import (
    WARMUP,
    Conversation,
    block_text,
    read_conversation,
    strip_injected,
)

KINDS = ("turn", "quota", "title", "count_tokens", "other")
QUOTE_LIMIT = 80

_STATE = re.compile(
    r"^(?:please\s+)?(?:remember(?:\s+that)?\s+(?P<key1>.+?)|my\s+(?P<key2>.+?))\s+is\s+"
    r"(?P<value>.+?)[.!\s]*$",
    re.IGNORECASE | re.DOTALL,
)
_ASK = re.compile(
    r"^(?:what(?:'s|\s+is)|do\s+you\s+(?:know|remember))\s+(?:my|the)\s+(?P<key>.+?)[?.!\s]*$",
    re.IGNORECASE | re.DOTALL,
)
_RECALL = re.compile(r"^(?:what\s+do\s+you\s+remember|how\s+many\s+messages)\b", re.IGNORECASE)
_READ = re.compile(r"^READ(?P<two>2)?:\s*(?P<path>\S.*?)\s*$", re.DOTALL)
# Read output: "     1→text" (1.0.x) or "1\ttext" (2.1.x).
_LINE_NUMBER = re.compile(r"^\s*\d+(?:→|\t|$)")


@dataclass(frozen=True)
class ModelReply:
    """The assistant message the model sends back (content blocks and why it stopped)."""

    content: list[dict[str, Any]]
    stop_reason: str = "end_turn"
    kind: str = "turn"
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """All text blocks joined, for logs and records."""
        return "".join(b.get("text", "") for b in self.content if b.get("type") == "text")

    @property
    def summary(self) -> str:
        """The text, plus a note per tool call: what a log line should show."""
        calls = [
            f"[{b.get('name')} {json.dumps(b.get('input'))}]"
            for b in self.content
            if b.get("type") == "tool_use"
        ]
        return " ".join([self.text, *calls]).strip()


def _quote(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= QUOTE_LIMIT else flat[: QUOTE_LIMIT - 1] + "…"


def _normalize_key(key: str) -> str:
    words = key.lower().split()
    while words and words[0] in ("my", "the", "that"):
        words = words[1:]
    return " ".join(words)


def _statement(text: str) -> tuple[str, str] | None:
    """``(key, value)`` if the text states a fact in the grammar, else ``None``."""
    match = _STATE.match(text.strip())
    if not match:
        return None
    key = _normalize_key(match.group("key1") or match.group("key2") or "")
    value = " ".join(match.group("value").split())
    return (key, value) if key and value else None


def memory_sentence(earlier: list[str]) -> str:
    """How many earlier messages the model can see, and the first one."""
    if not earlier:
        return "This is the start of our conversation: I don't see any earlier messages."
    noun = "message" if len(earlier) == 1 else "messages"
    return (
        f"I can see {len(earlier)} earlier {noun} from you in this conversation. "
        f'The first one was: "{_quote(earlier[0])}".'
    )


def _text(text: str) -> list[dict[str, Any]]:
    return [{"type": "text", "text": text}]


def _tool_use(name: str, tool_input: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "tool_use",
        "id": f"toolu_{uuid.uuid4().hex[:24]}",
        "name": name,
        "input": tool_input,
    }


def answer_turn(conversation: Conversation) -> ModelReply:
    """The reply to a normal conversation turn (the grammar in the module docstring)."""
    outcome = conversation.tool_outcome
    if outcome is not None:
        target = outcome.input.get("file_path") or outcome.name
        if outcome.is_error:
            first = outcome.text.splitlines()[0] if outcome.text.strip() else "no details"
            return ModelReply(
                _text(f"The {outcome.name} tool failed for {target}: {_quote(first)}")
            )
        lines = [_LINE_NUMBER.sub("", line).rstrip() for line in outcome.text.splitlines()]
        while lines and not lines[-1].strip():
            lines.pop()
        first = lines[0] if lines else ""
        return ModelReply(
            _text(f'I read {target}: {len(lines)} lines; the first line is "{_quote(first)}".')
        )
    text = conversation.current
    earlier = conversation.earlier
    if text is None:
        return ModelReply(_text("I received no message text. " + memory_sentence(earlier)))
    read = _READ.match(text)
    if read:
        content = [_tool_use("Read", {"file_path": read.group("path")})]
        if read.group("two"):
            content.insert(0, {"type": "text", "text": f"Let me read {read.group('path')}."})
        return ModelReply(content, stop_reason="tool_use")
    if _RECALL.match(text):
        return ModelReply(_text(memory_sentence(earlier)))
    stated = _statement(text)
    if stated:
        return ModelReply(_text(f"Got it: your {stated[0]} is {stated[1]}."))
    asked = _ASK.match(text)
    if asked:
        key = _normalize_key(asked.group("key"))
        for older in reversed(earlier):
            fact = _statement(older)
            if fact and fact[0] == key:
                return ModelReply(_text(f"Your {key} is {fact[1]}."))
        return ModelReply(
            _text(f"I don't know your {key}: nothing in this conversation mentions it.")
        )
    return ModelReply(_text(f'You said: "{_quote(text)}". {memory_sentence(earlier)}'))


def _system_text(body: dict[str, Any]) -> str:
    system = body.get("system")
    if isinstance(system, str):
        return system
    if isinstance(system, list):
        return "\n".join(str(b.get("text", "")) for b in system if isinstance(b, dict))
    return ""


def classify(body: dict[str, Any]) -> str:
    """Which kind of ``/v1/messages`` call this is: a turn, or one of the CLI's side requests."""
    messages = body.get("messages") or []
    first = messages[0] if messages and isinstance(messages[0], dict) else {}
    if body.get("max_tokens") == 1 or (len(messages) == 1 and first.get("content") == "quota"):
        return "quota"
    system = _system_text(body)
    if any(
        marker in system
        for marker in ("isNewTopic", "sentence-case title", "Summarize this coding conversation")
    ):
        return "title"
    if len(messages) == 1 and strip_injected(block_text(first.get("content"))) == WARMUP:
        return "other"  # the sidechain agent's warm-up call, not a student turn
    return "turn"


def make_title(conversation: Conversation, words: int = 6) -> str:
    """A sentence-case title from the first thing the student said."""
    source = conversation.spoken[0] if conversation.spoken else ""
    for line in source.splitlines():  # summary prompts quote the chat as "User: ..." lines
        if line.lower().startswith("user:"):
            source = line[5:]
            break
    picked = re.sub(r"[^\w\s'-]", " ", source).split()[:words]
    title = " ".join(picked) or "Course session"
    return title[0].upper() + title[1:]


def _wants_json(body: dict[str, Any]) -> bool:
    """Did the CLI ask for structured JSON output (2.x titles use ``output_config.format``)?"""
    config = body.get("output_config")
    return isinstance(config, dict) and "format" in config


def answer(body: dict[str, Any], kind: str) -> ModelReply:
    """The reply for any ``/v1/messages`` body, given its :func:`classify` kind."""
    conversation = read_conversation(body.get("messages") or [])
    if kind == "quota":
        return ModelReply(_text("ok"), stop_reason="max_tokens", kind=kind)
    if kind == "title":
        system = _system_text(body)
        if "isNewTopic" in system:
            text = json.dumps({"isNewTopic": True, "title": make_title(conversation, 3)})
        elif _wants_json(body):
            text = json.dumps({"title": make_title(conversation)})
        else:
            text = make_title(conversation)
        return ModelReply(_text(text), kind=kind)
    if kind == "other":
        return ModelReply(_text("Ready."), kind=kind)
    reply = answer_turn(conversation)
    return ModelReply(reply.content, reply.stop_reason, kind)
