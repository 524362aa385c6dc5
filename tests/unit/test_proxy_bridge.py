"""When the stdio bridge is done: its input ended and every request it relayed has been answered."""

from __future__ import annotations

from toolhive_py.proxy.bridge import Outstanding


def test_the_bridge_waits_for_every_answer_after_its_input_ends() -> None:
    outstanding = Outstanding()
    outstanding.sent({"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    outstanding.sent({"jsonrpc": "2.0", "id": "1", "method": "tools/list"})
    outstanding.sent({"jsonrpc": "2.0", "method": "notifications/initialized"})
    outstanding.input_ended = True
    assert not outstanding.done
    outstanding.answered({"jsonrpc": "2.0", "method": "notifications/progress", "params": {}})
    outstanding.answered({"jsonrpc": "2.0", "id": 1, "result": {}})
    assert not outstanding.done, 'id "1" is another request than id 1'
    outstanding.answered({"jsonrpc": "2.0", "id": "1", "error": {"code": -1, "message": "no"}})
    assert outstanding.done


def test_answers_while_input_is_open_do_not_end_the_bridge() -> None:
    outstanding = Outstanding()
    outstanding.sent({"jsonrpc": "2.0", "id": 1, "method": "ping"})
    outstanding.answered({"jsonrpc": "2.0", "id": 1, "result": {}})
    assert not outstanding.done
    outstanding.input_ended = True
    assert outstanding.done


def test_a_server_request_is_not_an_answer() -> None:
    outstanding = Outstanding()
    outstanding.sent({"jsonrpc": "2.0", "id": 5, "method": "tools/call"})
    outstanding.input_ended = True
    outstanding.answered({"jsonrpc": "2.0", "id": 5, "method": "elicitation/create", "params": {}})
    assert not outstanding.done
