"""Who may post to a conversation: the holder of the token issued when it was started.

In the seed's deployment the bot never chose whom to trust: an authenticated Bot Framework
channel (Direct Line, Teams...) issued the ``conversation.id`` and vouched for every activity.
The course bot is reached directly, so it plays that channel's part itself, the way Direct
Line does: ``POST /api/conversations`` starts a conversation and returns its id and a token;
every activity must carry ``Authorization: Bearer <token>`` for its ``conversation.id``.

* **The id is not the secret.** Ids are 128 random bits chosen by the server, so they cannot be
  guessed, but they still show up in logs and dashboards; the token is what proves ownership.
* **The token is an HMAC of the id** under a key that lives with the histories (the store
  creates it once; every bot process on the same store shares it, and it survives restarts).
  Checking a token is pure computation: no store read, no lock. So a refusal takes the same
  time and says the same thing whether the conversation exists, is long, or never existed.
* Comparison is :func:`hmac.compare_digest`, in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sessionlab.request_checks import tokens_match

KEY_BYTES = 32
# The operator token (``GET /sessions``) is another secret: ``sessionlab bot serve`` takes it
# from this variable (several processes on one Redis must share it) or makes a new one, and
# writes it, mode 0600, to this file in its data folder.
OPERATOR_TOKEN_ENV = "SESSIONLAB_BOT_OPERATOR_TOKEN"
OPERATOR_TOKEN_FILE = "operator-token"
ID_PREFIX = "conv-"
_DOMAIN = b"sessionlab-bot conversation token v1\0"


@dataclass(frozen=True)
class IssuedConversation:
    """What ``POST /api/conversations`` returns: the id to put in activities, and its token."""

    conversation_id: str
    token: str


class ConversationTokens:
    """Issues conversation ids with their tokens, and checks a presented token."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("a conversation key needs at least 16 bytes")
        self._key = key

    def token_for(self, conversation_id: str) -> str:
        digest = hmac.new(self._key, _DOMAIN + conversation_id.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")

    def start(self) -> IssuedConversation:
        """A new conversation: 128 random bits of id, and the token that owns it."""
        conversation_id = ID_PREFIX + secrets.token_hex(16)
        return IssuedConversation(conversation_id, self.token_for(conversation_id))

    def owns(self, token: str | None, conversation_id: str) -> bool:
        """True when ``token`` was issued for ``conversation_id`` (constant-time compare)."""
        return tokens_match(token, self.token_for(conversation_id))


def new_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)
