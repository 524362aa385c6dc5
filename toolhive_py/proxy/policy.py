"""Which tools a workload's clients may see and call, and how often: pure decisions, no I/O."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final, Literal, TypeVar

from toolhive_py.errors import UsageError
from toolhive_py.proxy.audit import Outcome
from toolhive_py.proxy.jsonrpc import DENIED, INVALID_PARAMS, RATE_LIMITED

__all__ = ["DLP_MODES", "SCREEN_MODES", "DlpMode", "RateLimit", "RateLimiter", "Refusal", "ScreenMode", "ToolPolicy",
           "check_tool_call", "parse_rate_limit"]

_Mode = TypeVar("_Mode", bound=str)
_PERIODS = {"s": 1.0, "m": 60.0, "h": 3600.0}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([smh])\s*$")


@dataclass(frozen=True)
class RateLimit:
    calls: int
    period_s: float

    def __str__(self) -> str:
        unit = {1.0: "s", 60.0: "m", 3600.0: "h"}.get(self.period_s)
        return f"{self.calls}/{unit}" if unit else f"{self.calls}/{self.period_s:g}s"


def parse_rate_limit(text: str) -> RateLimit:
    """``60/m`` → 60 calls per minute; also ``10/s``, ``1000/h``, ``5/10s``."""
    match = _RATE.match(text)
    if not match or int(match.group(1)) <= 0:
        raise UsageError(f"Invalid rate limit {text!r}.", hint="Use CALLS/PERIOD, e.g. 60/m, 10/s or 1000/h.")
    multiplier = int(match.group(2)) if match.group(2) else 1
    return RateLimit(int(match.group(1)), _PERIODS[match.group(3)] * max(multiplier, 1))


ScreenMode = Literal["block", "warn", "off"]
DlpMode = Literal["redact", "block", "warn", "off"]
SCREEN_MODES: Final[tuple[ScreenMode, ...]] = ("block", "warn", "off")
DLP_MODES: Final[tuple[DlpMode, ...]] = ("redact", "block", "warn", "off")


@dataclass(frozen=True)
class ToolPolicy:
    """An allow-list (empty means all), a deny-list that always wins, and a per-tool rate limit; plus how the
    proxy's guards treat what they find: ``screen`` for tool descriptions, ``dlp`` for secrets in arguments
    and results."""

    allow: frozenset[str] = frozenset()
    deny: frozenset[str] = frozenset()
    rate_limit: RateLimit | None = None
    screen: ScreenMode = "warn"
    dlp: DlpMode = "redact"

    @property
    def is_open(self) -> bool:
        return not self.allow and not self.deny and self.rate_limit is None

    def permits(self, tool: str) -> bool:
        return tool not in self.deny and (not self.allow or tool in self.allow)

    def filter_tools(self, tools: Iterable[Any]) -> list[Any]:
        """The ``tools/list`` entries a client may see."""
        return [t for t in tools if not isinstance(t, dict) or self.permits(str(t.get("name", "")))]

    def to_json(self) -> str:
        return json.dumps({"allow": sorted(self.allow), "deny": sorted(self.deny),
                           "rate_limit": str(self.rate_limit) if self.rate_limit else None,
                           "screen": self.screen, "dlp": self.dlp}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None) -> ToolPolicy:
        """The policy a label holds; keys a label made before they existed take their defaults."""
        if not text:
            return cls()
        data = json.loads(text)
        limit = data.get("rate_limit")
        return cls(frozenset(data.get("allow") or ()), frozenset(data.get("deny") or ()),
                   parse_rate_limit(limit) if limit else None,
                   screen=_choice("screen", data.get("screen") or "warn", SCREEN_MODES),
                   dlp=_choice("dlp", data.get("dlp") or "redact", DLP_MODES))

    @classmethod
    def from_options(cls, tools: str | None, deny_tools: str | None, rate_limit: str | None, *,
                     screen: str = "warn", dlp: str = "redact") -> ToolPolicy:
        def names(text: str | None) -> frozenset[str]:
            return frozenset(n.strip() for n in (text or "").split(",") if n.strip())

        return cls(names(tools), names(deny_tools), parse_rate_limit(rate_limit) if rate_limit else None,
                   screen=_choice("screen", screen, SCREEN_MODES), dlp=_choice("dlp", dlp, DLP_MODES))


def _choice(option: str, value: str, choices: tuple[_Mode, ...]) -> _Mode:
    for choice in choices:
        if value == choice:
            return choice
    raise UsageError(f"Invalid --{option} {value!r}.", hint=f"Use one of: {', '.join(choices)}.")


@dataclass
class RateLimiter:
    """A token bucket per tool: bursts up to the limit, refilled evenly over the period."""

    limit: RateLimit
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)

    def allow(self, tool: str) -> bool:
        now = self.clock()
        tokens, last = self._buckets.get(tool, (float(self.limit.calls), now))
        tokens = min(float(self.limit.calls), tokens + (now - last) * self.limit.calls / self.limit.period_s)
        if tokens < 1.0:
            self._buckets[tool] = (tokens, now)
            return False
        self._buckets[tool] = (tokens - 1.0, now)
        return True


@dataclass(frozen=True)
class Refusal:
    """Why the proxy answers a request itself with a JSON-RPC error instead of relaying it."""

    code: int
    message: str
    outcome: Outcome


def check_tool_call(policy: ToolPolicy, limiter: RateLimiter | None, params: Any) -> Refusal | None:
    """The proxy's verdict on a ``tools/call``: None relays it.

    A call whose ``name`` is not a string is refused whatever the policy: the server might read a list
    or a number as a tool name the policy never saw, so letting it through would fail open.
    """
    name = params.get("name") if isinstance(params, dict) else None
    if not isinstance(name, str):
        return Refusal(INVALID_PARAMS, "tools/call needs params.name, a string naming the tool.", "invalid")
    if not policy.permits(name):
        return Refusal(DENIED, f"Tool {name!r} is not allowed by this server's mcpctl policy.", "denied")
    if limiter is not None and not limiter.allow(name):
        return Refusal(RATE_LIMITED, f"Rate limit for tool {name!r} exceeded ({limiter.limit}).", "rate_limited")
    return None
