"""The multiplexer's routing, against a small in-memory server: ids rewritten per session and restored
on the way back, progress tokens and server→client requests routed to the session they belong to, and a
request that cannot be written to the server answered, not leaked."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest

from toolhive_py.proxy.backends import Backend, BackendClosed, _encode
from toolhive_py.proxy.mux import ClientSession, Multiplexer

pytestmark = pytest.mark.anyio


class TinyServer:
    """A backend that behaves like a stdio MCP server: it encodes what it is sent as the stdio backend
    does, answers ``initialize``, ``tools/list`` and ``echo`` calls, and holds ``wait`` calls until told."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self._out, self._in = anyio.create_memory_object_stream[dict[str, Any]](math.inf)
        self.held: list[dict[str, Any]] = []

    @property
    def description(self) -> str:
        return "tiny in-memory server"

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[Backend]:
        yield self

    async def send(self, message: dict[str, Any]) -> None:
        _encode(message)  # what the stdio backend writes; a string that is not Unicode fails here
        self.received.append(message)
        method = message.get("method")
        if method is None or "id" not in message:
            return
        if method == "initialize":
            self.answer(message, {"protocolVersion": "2025-11-25", "capabilities": {"tools": {}},
                                  "serverInfo": {"name": "tiny", "version": "1"}})
        elif method == "tools/list":
            self.answer(message, {"tools": [{"name": "echo", "inputSchema": {}}]})
        elif (message.get("params") or {}).get("name") == "wait":
            self.held.append(message)
        else:
            self.answer(message, {"seen_id": message["id"]})

    def answer(self, request: dict[str, Any], result: dict[str, Any]) -> None:
        self._out.send_nowait({"jsonrpc": "2.0", "id": request["id"], "result": result})

    def emit(self, message: dict[str, Any]) -> None:
        self._out.send_nowait(message)

    async def messages(self) -> AsyncIterator[dict[str, Any]]:
        async for message in self._in:
            yield message
        raise BackendClosed("closed")

    def close(self) -> None:
        self._out.close()
        self._in.close()

    def requests(self, method: str) -> list[dict[str, Any]]:
        return [m for m in self.received if m.get("method") == method and "id" in m]


class Inbox:
    """One client session's deliveries: (message, related request id)."""

    def __init__(self) -> None:
        self.got: list[tuple[dict[str, Any], Any]] = []

    def __call__(self, message: dict[str, Any], related: Any) -> None:
        self.got.append((message, related))

    async def wait_for(self, count: int) -> None:
        with anyio.fail_after(5):
            while len(self.got) < count:
                await anyio.sleep(0.001)


@asynccontextmanager
async def running(server: TinyServer) -> AsyncIterator[Multiplexer]:
    mux = Multiplexer(server, server_name="tiny")
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(mux.run)
            assert await mux.wait_ready(5)
            yield mux
            mux.stop()
            tg.cancel_scope.cancel()
    finally:
        server.close()


def call(request_id: Any, name: str = "echo", **params: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": {"name": name, **params}}


async def test_two_sessions_using_the_same_id_each_get_their_own_answer() -> None:
    server = TinyServer()
    async with running(server) as mux:
        a, b = Inbox(), Inbox()
        alice, bob = mux.open_session(a), mux.open_session(b)
        await mux.from_client(alice, call(1))
        await mux.from_client(bob, call(1))
        await a.wait_for(1)
        await b.wait_for(1)
    backend_ids = [m["id"] for m in server.requests("tools/call")]
    assert len(set(backend_ids)) == 2
    assert 1 not in backend_ids, "the server never sees a client's own id"
    assert [(m["id"], m["result"]["seen_id"], related) for m, related in a.got] == [(1, backend_ids[0], 1)]
    assert [(m["id"], m["result"]["seen_id"], related) for m, related in b.got] == [(1, backend_ids[1], 1)]


async def test_progress_reaches_only_the_caller_with_its_own_token() -> None:
    server = TinyServer()
    async with running(server) as mux:
        a, b = Inbox(), Inbox()
        alice, bob = mux.open_session(a), mux.open_session(b)
        await mux.from_client(alice, call("r1", "wait", _meta={"progressToken": "t"}))
        await mux.from_client(bob, call("r1", "wait", _meta={"progressToken": "t"}))
        held = list(server.held)
        routed = [m["params"]["_meta"]["progressToken"] for m in held]
        assert routed == [f"{alice.id}:t", f"{bob.id}:t"]
        server.emit({"jsonrpc": "2.0", "method": "notifications/progress",
                     "params": {"progressToken": routed[1], "progress": 1}})
        await b.wait_for(1)
        server.answer(held[1], {"done": True})
        await b.wait_for(2)
        assert a.got == []
    progress, answer = b.got[:2]
    assert progress == ({"jsonrpc": "2.0", "method": "notifications/progress",
                         "params": {"progressToken": "t", "progress": 1}}, "r1")
    assert answer[0]["id"] == "r1"


async def test_a_server_request_goes_to_the_running_caller_and_its_answer_back_to_the_server() -> None:
    server = TinyServer()
    async with running(server) as mux:
        a = Inbox()
        alice, bob = mux.open_session(a), mux.open_session(Inbox())
        await mux.from_client(alice, {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {"roots": {}}, "clientInfo": {"name": "a"}}})
        await mux.from_client(alice, call(7, "wait"))
        await mux.from_client(bob, call(7, "wait"))  # more recent, but bob cannot answer roots/list
        server.emit({"jsonrpc": "2.0", "id": 500, "method": "roots/list"})
        await a.wait_for(2)
        (relayed, related) = a.got[1]
        assert relayed["method"] == "roots/list"
        assert related == 7
        assert relayed["id"] != 500
        await mux.from_client(alice, {"jsonrpc": "2.0", "id": relayed["id"], "result": {"roots": []}})
        with anyio.fail_after(5):
            while not any(m.get("id") == 500 and "result" in m for m in server.received):
                await anyio.sleep(0.001)


async def test_a_cancellation_names_the_servers_id_for_the_request() -> None:
    server = TinyServer()
    async with running(server) as mux:
        alice = mux.open_session(Inbox())
        await mux.from_client(alice, call(3, "wait"))
        await mux.from_client(alice, {"jsonrpc": "2.0", "method": "notifications/cancelled",
                                      "params": {"requestId": 3}})
    (cancelled,) = [m for m in server.received if m.get("method") == "notifications/cancelled"]
    assert cancelled["params"]["requestId"] == server.held[0]["id"]


async def test_a_request_the_server_cannot_be_sent_is_answered_invalid_and_not_left_pending() -> None:
    server = TinyServer()
    async with running(server) as mux:
        a = Inbox()
        session: ClientSession = mux.open_session(a)
        await mux.from_client(session, call(9, arguments={"text": "\ud800"}))
        await a.wait_for(1)
        assert mux._pending == {}
        assert a.got[0][0]["error"]["code"] == -32600
        assert a.got[0][0]["id"] == 9
        assert mux.metrics.errors[(("kind", "invalid"),)] == 1
        await mux.from_client(session, call(10))
        await a.wait_for(2)
        assert "result" in a.got[1][0]


def _initialize(capabilities: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": capabilities, "clientInfo": {"name": "c"}}}


async def test_calls_of_two_sessions_that_can_be_asked_take_turns_so_a_question_reaches_its_caller() -> None:
    """Over stdio a server's elicitation names no request: while alice's call runs, bob's (which could be
    asked too) waits, so the question the server asks goes to alice, not to the more recent caller."""
    server = TinyServer()
    async with running(server) as mux:
        a, b = Inbox(), Inbox()
        alice, bob = mux.open_session(a), mux.open_session(b)
        for session in (alice, bob):
            await mux.from_client(session, _initialize({"elicitation": {}}))
        await a.wait_for(1)
        await b.wait_for(1)
        await mux.from_client(alice, call(1, "wait"))
        await mux.from_client(bob, call(1, "wait"))
        assert len(server.held) == 1, "bob's call waits for alice's"
        server.emit({"jsonrpc": "2.0", "id": 900, "method": "elicitation/create", "params": {"message": "?"}})
        await a.wait_for(2)
        assert a.got[1][0]["method"] == "elicitation/create"
        assert len(b.got) == 1
        server.answer(server.held[0], {"done": "alice"})
        await a.wait_for(3)
        with anyio.fail_after(5):
            while len(server.held) < 2:
                await anyio.sleep(0.001)
        server.answer(server.held[1], {"done": "bob"})
        await b.wait_for(2)
    assert b.got[1][0]["result"] == {"done": "bob"}


async def test_sessions_that_cannot_be_asked_never_wait_and_a_cancelled_turn_lets_the_next_one_run() -> None:
    server = TinyServer()
    async with running(server) as mux:
        a, b, c = Inbox(), Inbox(), Inbox()
        alice, bob, carol = mux.open_session(a), mux.open_session(b), mux.open_session(c)
        for session, inbox in ((alice, a), (bob, b)):
            await mux.from_client(session, _initialize({"sampling": {}}))
            await inbox.wait_for(1)
        await mux.from_client(alice, call(1, "wait"))
        await mux.from_client(bob, call(2, "wait"))
        await mux.from_client(carol, call(3, "wait"))  # carol declared nothing: she runs at once
        assert [m["params"]["name"] for m in server.held] == ["wait", "wait"]
        await mux.from_client(alice, {"jsonrpc": "2.0", "method": "notifications/cancelled",
                                      "params": {"requestId": 1}})
        with anyio.fail_after(5):
            while len(server.held) < 3:
                await anyio.sleep(0.001)
        await mux.close_session(bob)
        assert (mux._turns.owner, mux._turns.running, list(mux._turns.waiting)) == (None, set(), [])


def test_turns_run_one_session_at_a_time_in_arrival_order() -> None:
    from toolhive_py.proxy.turns import Turns

    turns: Turns[str] = Turns()
    assert turns.admit("a", 1, "a1")
    assert turns.admit("a", 2, "a2"), "a session's own calls run side by side"
    assert not turns.admit("b", 3, "b3")
    assert not turns.admit("a", 4, "a4"), "no jumping the queue once others wait"
    assert not turns.admit("b", 5, "b5")
    assert turns.finish(1) == []
    assert turns.finish(2) == [(3, "b3")]
    assert turns.finish(3) == [(4, "a4")]
    assert turns.finish(99) == []
    assert turns.drop_session("b") == ["b5"]
    assert turns.finish(4) == []
    assert (turns.owner, turns.running) == (None, set())
    assert turns.admit("a", 6, "a6")
    assert not turns.admit("c", 7, "c7")
    assert turns.clear() == ["c7"]
