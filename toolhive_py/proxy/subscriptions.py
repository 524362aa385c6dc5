"""Resource subscriptions of many client sessions on one server connection.

The server behind the proxy sees a single client, so it holds at most one subscription per URI. This
table keeps who asked for what: the server is told on the first subscriber and the last unsubscriber,
each session gets only the updates it asked for, one session leaving never ends another's, and after
the server restarts the proxy subscribes again to everything still wanted.
"""

from __future__ import annotations

__all__ = ["SubscriptionTable"]


class SubscriptionTable:
    def __init__(self) -> None:
        self._subscribers: dict[str, set[str]] = {}

    def add(self, uri: str, session_id: str) -> bool:
        """Record a subscription; True when the URI is new, so the server must be asked."""
        subscribers = self._subscribers.setdefault(uri, set())
        first = not subscribers
        subscribers.add(session_id)
        return first

    def remove(self, uri: str, session_id: str) -> bool:
        """Forget a subscription; True when it was the URI's last, so the server must be told."""
        subscribers = self._subscribers.get(uri)
        if subscribers is None or session_id not in subscribers:
            return False
        subscribers.discard(session_id)
        if subscribers:
            return False
        del self._subscribers[uri]
        return True

    def drop_session(self, session_id: str) -> list[str]:
        """Forget a session that went away; the URIs nobody wants any more."""
        return [uri for uri in list(self._subscribers) if self.remove(uri, session_id)]

    def subscribers(self, uri: str) -> frozenset[str]:
        return frozenset(self._subscribers.get(uri, ()))

    def uris(self) -> list[str]:
        return sorted(self._subscribers)
