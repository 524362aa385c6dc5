"""Multiplexer.modern against small in-memory servers: the probe, ids rewritten and restored per caller,
the envelope left as the client wrote it, subscriptions/listen ids both ways, cancellation, and the tool
policy deciding for the modern lane exactly as for sessions. (Real server processes and HTTP servers:
tests/integration/test_proxy_modern_lane.py.)"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest

from toolhive_py.proxy.audit import AuditLog
from toolhive_py.proxy.backends import Backend, BackendClosed, ContainerBackendFactory
from toolhive_py.proxy.lanes import CLIENT_CAPABILITIES_KEY, CLIENT_INFO_KEY, PROTOCOL_VERSION_KEY, SUBSCRIPTION_ID_KEY
from toolhive_py.proxy.mux import Multiplexer, RequestContext
from toolhive_py.proxy.policy import ToolPolicy

pytestmark = pytest.mark.anyio

META = {PROTOCOL_VERSION_KEY: "2026-07-28", CLIENT_INFO_KEY: {"name": "modern-client", "version": "9"},
        CLIENT_CAPABILITIES_KEY: {"elicitation": {}}}


class Wire:
    """One in-memory connection: what it was sent, and a queue of what it says back."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.headers: list[Mapping[str, str]] = []
        self._out, self._in = anyio.create_memory_object_stream[dict[str, Any]](math.inf)
        self.held: list[dict[str, Any]] = []

    def say(self, message: dict[str, Any]) -> None:
        self._out.send_nowait(message)

    def answer(self, request: dict[str, Any], result: dict[str, Any]) -> None:
        self.say({"jsonrpc": "2.0", "id": request["id"], "result": result})

    def requests(self, method: str) -> list[dict[str, Any]]:
        return [m for m in self.received if m.get("method") == method]

    def close(self) -> None:
        self._out.close()
        self._in.close()


class HandshakeWire(Wire):
    async def send(self, message: dict[str, Any]) -> None:
        self.received.append(message)
        if message.get("method") == "initialize":
            self.answer(message, {"protocolVersion": "2025-11-25", "capabilities": {"tools": {}},
                                  "serverInfo": {"name": "tiny", "version": "1"}})
        elif message.get("method") == "tools/list":
            self.answer(message, {"tools": [{"name": "echo", "inputSchema": {}}]})

    async def messages(self) -> AsyncIterator[dict[str, Any]]:
        async for message in self._in:
            yield message
        raise BackendClosed("closed")


class ModernWire(Wire):
    """A server of the 2026-07-28 era (or, with ``versions``, one that lists others)."""

    def __init__(self, versions: list[str]) -> None:
        super().__init__()
        self.versions = versions
        self.closed = False

    async def send(self, message: dict[str, Any], headers: Mapping[str, str]) -> None:
        self.received.append(message)
        self.headers.append(headers)
        method = message.get("method")
        if method == "server/discover":
            self.answer(message, {"supportedVersions": self.versions, "capabilities": {"tools": {}},
                                  "resultType": "complete"})
        elif method == "tools/list":
            self.answer(message, {"tools": [{"name": "echo", "inputSchema": {}}, {"name": "crash", "inputSchema": {}}],
                                  "resultType": "complete"})
        elif method in ("subscriptions/listen",) or (message.get("params") or {}).get("name") == "wait":
            self.held.append(message)
        elif method == "tools/call":
            self.answer(message, {"content": [], "seen_id": message["id"], "resultType": "complete"})

    async def messages(self) -> AsyncIterator[tuple[dict[str, Any], Any]]:
        async for message in self._in:
            yield message, None
        raise BackendClosed("closed")


class TwoLaneServer:
    """A backend factory that offers a modern lane of its own (``modern_lane``, which lanes.lane_for asks)."""

    def __init__(self, versions: list[str] | None = None, *, lane_delay: float = 0.0,
                 follows_handshake: bool = False) -> None:
        self.handshakes: list[HandshakeWire] = []
        self.lane = ModernWire(versions if versions is not None else ["2026-07-28"])
        self.lane_factory = LaneFactory(self.lane, lane_delay, follows_handshake)

    @property
    def handshake(self) -> HandshakeWire:
        return self.handshakes[-1]

    @property
    def description(self) -> str:
        return "in-memory two-lane server"

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[Backend]:
        self.handshakes.append(HandshakeWire())
        yield self.handshakes[-1]

    def modern_lane(self) -> LaneFactory:
        return self.lane_factory

    def close(self) -> None:
        for wire in [*self.handshakes, self.lane]:
            wire.close()


class LaneFactory:
    def __init__(self, wire: ModernWire, delay: float, follows_handshake: bool) -> None:
        self.wire = wire
        self.delay = delay
        self.follows_handshake = follows_handshake

    @property
    def description(self) -> str:
        return "in-memory 2026-07-28 lane"

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[ModernWire]:
        await anyio.sleep(self.delay)  # a second server process takes its time to start
        try:
            yield self.wire
        finally:
            self.wire.closed = True


@asynccontextmanager
async def running(server: TwoLaneServer, *, probed: bool = True, **options: Any) -> AsyncIterator[Multiplexer]:
    mux = Multiplexer(server, server_name="tiny", **options)
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(mux.run)
            assert await mux.wait_ready(5)
            if probed:
                assert await mux.wait_probed(5)
            yield mux
            mux.stop()
            tg.cancel_scope.cancel()
    finally:
        server.close()


def call(request_id: Any, name: str = "echo", **params: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "method": "tools/call",
            "params": {"name": name, "arguments": {}, "_meta": META, **params}}


async def test_the_probe_learns_both_lanes_revisions() -> None:
    async with running(TwoLaneServer()) as mux:
        assert mux.backend_versions == ("2025-11-25", "2026-07-28")
        assert mux.speaks_modern
        assert mux.modern_unavailable is None
        discover = mux.factory.lane.requests("server/discover")  # type: ignore[attr-defined]
        assert len(discover) == 1
        assert discover[0]["params"]["_meta"][PROTOCOL_VERSION_KEY] == "2026-07-28"


async def test_a_lane_that_does_not_list_2026_07_28_is_closed_and_says_why() -> None:
    server = TwoLaneServer(versions=["2025-11-25"])
    async with running(server) as mux:
        assert not mux.speaks_modern
        assert "does not speak 2026-07-28" in (mux.modern_unavailable or "")
        assert mux.backend_versions == ("2025-11-25",)
        with anyio.fail_after(5):
            while not server.lane.closed:
                await anyio.sleep(0.01)
        got: list[dict[str, Any]] = []
        await mux.modern(call(1), None, got.append)
        assert [m["error"]["code"] for m in got] == [-32000]
        assert server.lane.requests("tools/call") == []


def test_a_container_backend_has_no_modern_lane_and_says_why() -> None:
    mux = Multiplexer(ContainerBackendFactory("unix:///nonexistent.sock", "mcpctl-x"), server_name="x")
    assert not mux.speaks_modern
    assert mux.backend_versions == ()
    assert "one stream" in (mux.modern_unavailable or "")


async def test_concurrent_callers_with_the_same_id_each_get_their_own_answer_and_the_envelope_is_untouched() -> None:
    server = TwoLaneServer()
    async with running(server) as mux:
        answers: list[list[dict[str, Any]]] = [[], []]
        async with anyio.create_task_group() as tg:
            for box in answers:
                tg.start_soon(mux.modern, call(1), RequestContext(trace_id="t" * 32), box.append)
        calls = server.lane.requests("tools/call")
        assert len({m["id"] for m in calls}) == 2
        assert 1 not in {m["id"] for m in calls}, "the server never sees a client's own id"
        assert all(m["params"] == call(1)["params"] for m in calls), "params reach the server as the client wrote them"
        assert sorted(box[0]["result"]["seen_id"] for box in answers) == sorted(m["id"] for m in calls)
        assert all(box[0]["id"] == 1 and len(box) == 1 for box in answers)
        assert server.handshake.requests("tools/call") == [], "nothing of it went to the handshake lane"


async def test_subscriptions_listen_ids_are_rewritten_both_ways_and_cancelling_the_caller_cancels_the_server() -> None:
    server = TwoLaneServer()
    async with running(server) as mux:
        got: list[dict[str, Any]] = []
        listen = {"jsonrpc": "2.0", "id": "sub-1", "method": "subscriptions/listen",
                  "params": {"notifications": {"toolsListChanged": True}, "_meta": META}}
        async with anyio.create_task_group() as tg:
            tg.start_soon(mux.modern, listen, None, got.append)
            with anyio.fail_after(5):
                while not server.lane.held:
                    await anyio.sleep(0.01)
            backend_id = server.lane.held[0]["id"]
            assert backend_id != "sub-1"
            for subscription in (backend_id, "someone-else"):
                server.lane.say({"jsonrpc": "2.0", "method": "notifications/tools/list_changed",
                                 "params": {"_meta": {SUBSCRIPTION_ID_KEY: subscription}}})
            with anyio.fail_after(5):
                while not got:
                    await anyio.sleep(0.01)
            tg.cancel_scope.cancel()
        assert got == [{"jsonrpc": "2.0", "method": "notifications/tools/list_changed",
                        "params": {"_meta": {SUBSCRIPTION_ID_KEY: "sub-1"}}}]
        cancelled = server.lane.requests("notifications/cancelled")
        assert [m["params"]["requestId"] for m in cancelled] == [backend_id]


async def test_a_listen_streams_final_response_gets_the_clients_id_back() -> None:
    server = TwoLaneServer()
    async with running(server) as mux:
        got: list[dict[str, Any]] = []
        listen = {"jsonrpc": "2.0", "id": 5, "method": "subscriptions/listen", "params": {"_meta": META}}
        async with anyio.create_task_group() as tg:
            tg.start_soon(mux.modern, listen, None, got.append)
            with anyio.fail_after(5):
                while not server.lane.held:
                    await anyio.sleep(0.01)
            backend_id = server.lane.held[0]["id"]
            server.lane.say({"jsonrpc": "2.0", "id": backend_id, "result": {
                "resultType": "complete", "_meta": {SUBSCRIPTION_ID_KEY: backend_id}}})
        assert got == [{"jsonrpc": "2.0", "id": 5, "result": {"resultType": "complete",
                                                               "_meta": {SUBSCRIPTION_ID_KEY: 5}}}]
        assert server.lane.requests("notifications/cancelled") == [], "an answered request is not cancelled"


async def test_the_tool_policy_and_the_audit_decide_for_the_modern_lane_as_for_sessions(tmp_path: Any) -> None:
    server = TwoLaneServer()
    audit = AuditLog(tmp_path / "audit.jsonl")
    async with running(server, policy=ToolPolicy.from_options(None, "crash", None), audit=audit) as mux:
        refused: list[dict[str, Any]] = []
        await mux.modern(call(3, "crash"), RequestContext(trace_id="a" * 32, client="laptop"), refused.append)
        listed: list[dict[str, Any]] = []
        await mux.modern({"jsonrpc": "2.0", "id": 4, "method": "tools/list", "params": {"_meta": META}}, None,
                         listed.append)
    audit.close()
    assert refused[0]["error"]["code"] == -32003
    assert server.lane.requests("tools/call") == [], "a denied call never reaches the server"
    assert [t["name"] for t in listed[0]["result"]["tools"]] == ["echo"]
    import json

    records = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    denied = next(r for r in records if r["method"] == "tools/call")
    assert (denied["outcome"], denied["target"], denied["client_name"], denied["client_version"],
            denied["trace_id"], denied["client"]) == ("denied", "crash", "modern-client", "9", "a" * 32, "laptop")


async def test_the_handshake_lane_going_away_leaves_modern_requests_running() -> None:
    server = TwoLaneServer()
    async with running(server) as mux:
        got: list[dict[str, Any]] = []
        async with anyio.create_task_group() as tg:
            tg.start_soon(mux.modern, call(1, "wait"), None, got.append)
            with anyio.fail_after(5):
                while not server.lane.held:
                    await anyio.sleep(0.01)
            mux._mark_down("the handshake server restarted")  # what the handshake lane's end does
            server.lane.answer(server.lane.held[0], {"content": [], "resultType": "complete"})
        assert got == [{"jsonrpc": "2.0", "id": 1, "result": {"content": [], "resultType": "complete"}}]


async def test_modern_refuses_a_notification() -> None:
    async with running(TwoLaneServer()) as mux:
        with pytest.raises(ValueError, match="requests"):
            await mux.modern({"jsonrpc": "2.0", "method": "notifications/cancelled"}, None, print)


async def test_a_request_made_while_the_lane_starts_waits_for_it() -> None:
    async with running(TwoLaneServer(lane_delay=0.5), probed=False) as mux:
        assert not mux.speaks_modern
        got: list[dict[str, Any]] = []
        await mux.modern(call(1), None, got.append)
        assert mux.speaks_modern
    assert "result" in got[0], got


async def wait_until(predicate: Any) -> None:
    with anyio.fail_after(5):
        while not predicate():
            await anyio.sleep(0.01)


@pytest.mark.parametrize("follows", [True, False])
async def test_a_lane_is_probed_again_after_a_handshake_reconnect_only_when_it_follows_the_handshake(
        follows: bool) -> None:
    server = TwoLaneServer(follows_handshake=follows)
    async with running(server) as mux:
        server.handshake.close()  # the handshake lane's stream ends: the multiplexer connects again
        await wait_until(lambda: len(server.handshakes) == 2 and mux.ready and mux.speaks_modern)
        if follows:
            await wait_until(lambda: len(server.lane.requests("server/discover")) == 2)
        got: list[dict[str, Any]] = []
        await mux.modern(call(1), None, got.append)
        assert "result" in got[0], got
        assert len(server.lane.requests("server/discover")) == (2 if follows else 1)
