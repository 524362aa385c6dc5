"""Multi-round-trip requests (2026-07-28 ``InputRequiredResult``) for servers of the session era.

A session-era server asks its client in the middle of a request (``elicitation/create``,
``sampling/createMessage``, ``roots/list``). A 2026-07-28 client cannot be asked: it is answered, with an
``InputRequiredResult`` naming what the server wants, and retries the request with ``inputResponses`` and the
``requestState`` it was given. The proxy parks the running call meanwhile and resumes it on the retry.

A parked call keeps its turn (a session-era server's question names no request, so only one call that may ask
at a time can be running): the state expires after two minutes by default, and the call is then cancelled.

The state is the proxy's, so the proxy seals it: HMAC-SHA256 under a key of this process, bound to the client
credential and to the request (method and parameters), with an expiry. A tampered, replayed, foreign or stale
state is refused; nothing in it is trusted before the seal is checked.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["INPUT_REQUEST_METHODS", "ParkedCall", "ParkedCalls", "StateSealer", "input_required_result",
           "request_fingerprint"]

# The server→client requests a 2026-07-28 client answers through inputResponses.
INPUT_REQUEST_METHODS = frozenset({"elicitation/create", "sampling/createMessage", "roots/list"})
_RETRY_PARAMS = ("inputResponses", "requestState")


def request_fingerprint(method: str, params: Mapping[str, Any]) -> str:
    """What a retry must repeat to resume a parked call: the method and its parameters, without the
    per-request envelope and the retry's own fields (which differ by design)."""
    kept = {k: v for k, v in params.items() if k not in _RETRY_PARAMS and k != "_meta"}
    canonical = json.dumps([method, kept], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def input_required_result(asked: Mapping[str, Mapping[str, Any]], state: str) -> dict[str, Any]:
    """The result that answers a request whose server asked something: one input request per question."""
    requests = {key: {"method": message["method"], **({"params": message["params"]} if "params" in message else {})}
                for key, message in asked.items()}
    return {"resultType": "input_required", "inputRequests": requests, "requestState": state}


class StateSealer:
    """Seals and opens ``requestState`` values; the key lives only in this process's memory."""

    def __init__(self, *, ttl: float = 120.0, key: bytes | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self._key = key or secrets.token_bytes(32)
        self.ttl = ttl
        self._clock = clock

    def seal(self, park_id: str, *, client: str, fingerprint: str) -> str:
        body = json.dumps({"p": park_id, "c": client, "f": fingerprint, "e": int(self._clock() + self.ttl)},
                          separators=(",", ":")).encode()
        tag = hmac.new(self._key, body, hashlib.sha256).digest()
        return f"{_b64(body)}.{_b64(tag)}"

    def open(self, state: Any, *, client: str, fingerprint: str) -> str | None:
        """The parked call's id when ``state`` is intact, ours, unexpired and meant for this client and
        request; None otherwise."""
        if not isinstance(state, str) or len(state) > 1024 or state.count(".") != 1:
            return None
        encoded_body, encoded_tag = state.split(".")
        try:
            body, tag = _unb64(encoded_body), _unb64(encoded_tag)
        except ValueError:
            return None
        if not hmac.compare_digest(tag, hmac.new(self._key, body, hashlib.sha256).digest()):
            return None
        claims = json.loads(body)
        if claims.get("c") != client or claims.get("f") != fingerprint or claims.get("e", 0) < self._clock():
            return None
        park_id = claims.get("p")
        return park_id if isinstance(park_id, str) else None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    if not text or any(c not in _B64_ALPHABET for c in text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


_B64_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


@dataclass
class ParkedCall:
    """A request whose server is waiting for answers: what it asked (input key → the front id the proxy
    gave that server request), and what arrived after the question and before the park (replayed first)."""

    session: Any
    events: Any
    asked: dict[str, Any]
    questions: dict[str, dict[str, Any]]
    backlog: list[dict[str, Any]] = field(default_factory=list)
    expires: float = 0.0


class ParkedCalls:
    """The parked calls of one proxy, bounded in number and in time: the oldest beyond ``limit`` and any
    past its expiry are handed back by ``evicted`` for the caller to close."""

    def __init__(self, *, limit: int = 256, clock: Callable[[], float] = time.time) -> None:
        self.limit = limit
        self._clock = clock
        self._calls: OrderedDict[str, ParkedCall] = OrderedDict()

    def __len__(self) -> int:
        return len(self._calls)

    def park(self, call: ParkedCall, ttl: float) -> tuple[str, list[ParkedCall]]:
        call.expires = self._clock() + ttl
        park_id = secrets.token_urlsafe(16)
        self._calls[park_id] = call
        return park_id, self.evicted()

    def take(self, park_id: str) -> ParkedCall | None:
        """The call, no longer parked; None when unknown or expired (an expired one waits for ``evicted``)."""
        call = self._calls.get(park_id)
        if call is None or call.expires < self._clock():
            return None
        return self._calls.pop(park_id)

    def evicted(self) -> list[ParkedCall]:
        now, gone = self._clock(), []
        for park_id, call in list(self._calls.items()):
            if call.expires < now or len(self._calls) > self.limit:
                gone.append(self._calls.pop(park_id))
        return gone
