"""Whose turn it is to run a call that the server may answer with a question (sampling, elicitation, roots).

Over stdio a server's request to a client names no request it serves, so when calls of two client sessions
that can be asked such questions run at once, the multiplexer cannot tell whose question it is (the
conformance suite's concurrent elicitation scenarios got each other's forms). So those calls take turns
between sessions: one session's calls run (any number of them: a question then goes to the right session),
other sessions' calls wait in arrival order and start when the last running one is answered, cancelled or
gone. Calls of sessions that cannot be asked anything never wait. Pure bookkeeping: the multiplexer sends.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Generic, TypeVar

__all__ = ["Turns"]

T = TypeVar("T")


@dataclass
class Turns(Generic[T]):
    """Calls by backend id, each carrying what the multiplexer needs to send it later (``T``)."""

    owner: str | None = None  # the session whose calls run now
    running: set[int] = field(default_factory=set)
    waiting: deque[tuple[str, int, T]] = field(default_factory=deque)

    def admit(self, session: str, call: int, item: T) -> bool:
        """True: run ``call`` now. False: it waits its turn (kept with ``item``)."""
        if self.owner is None or (self.owner == session and not self.waiting):
            self.owner = session
            self.running.add(call)
            return True
        self.waiting.append((session, call, item))
        return False

    def finish(self, call: int) -> list[tuple[int, T]]:
        """``call`` is over (answered, cancelled, or its session gone): the calls that may start now."""
        if call in self.running:
            self.running.discard(call)
        else:
            self.waiting = deque(w for w in self.waiting if w[1] != call)
            return []
        if self.running:
            return []
        self.owner = None
        started: list[tuple[int, T]] = []
        while self.waiting and (self.owner is None or self.waiting[0][0] == self.owner):
            session, waiting_call, item = self.waiting.popleft()
            self.owner = session
            self.running.add(waiting_call)
            started.append((waiting_call, item))
        return started

    def drop_session(self, session: str) -> list[T]:
        """A session went away: its waiting calls are forgotten (returned, so they can be accounted for)."""
        gone = [item for owner, _, item in self.waiting if owner == session]
        self.waiting = deque(w for w in self.waiting if w[0] != session)
        return gone

    def clear(self) -> list[T]:
        """The server went away: nothing runs, and every waiting call is returned to be failed."""
        waiting = [item for _, _, item in self.waiting]
        self.owner, self.running, self.waiting = None, set(), deque()
        return waiting
