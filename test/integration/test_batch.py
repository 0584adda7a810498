"""JSON-RPC batches: refused by default (MCP removed them in 2025-06-18);
with `mcp_batch_max N` a batch is decided message by message and reaches
the upstream only when every message in it is allowed.

The upstream here is a small recording server, since the sandbox worker
speaks MCP 2025-06-18 and later (no batches): it answers each request of a
batch with a result and remembers what it received."""

import http.server
import json
import os
import threading

import pytest

from conftest import eventually, post
from stack import Stack, free_port, identity_fields


class Recorder(http.server.BaseHTTPRequestHandler):
    received = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Recorder.received.append(
            {"body": json.loads(body),
             "user": (identity_fields(self.headers.get("X-MCP-Identity")) or {}).get("user"),
             "authorization": self.headers.get("Authorization")})
        messages = json.loads(body)
        answers = [{"jsonrpc": "2.0", "id": m["id"], "result": {"echo": m["method"]}}
                   for m in messages if "id" in m and "method" in m]
        data = json.dumps(answers).encode()
        self.send_response(200 if answers else 202)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data) if answers else 0))
        self.end_headers()
        if answers:
            self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def batch_stack():
    port = free_port()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    stack = Stack(apikey_ttl=2)
    endpoint = """
        mcp_identity_secret_file {state}/identity.secret;
        mcp_allow_roles mcp-log-analyst mcp-viewer;
        mcp_tool log_store mcp-log-analyst;
        mcp_tool get_available_tools mcp-log-analyst mcp-viewer;
        mcp_max_body_size 64k;
        proxy_pass http://127.0.0.1:{port};
        access_log {state}/logs/batch-audit.log mcp_audit;
    """.format(state=stack.state, port=port)
    stack.extra["extra_server"] = f"""
        location = /mcp/batch {{
            mcp_endpoint batch;
            mcp_batch_max 4;
            {endpoint}
        }}
        location = /mcp/single {{
            mcp_endpoint single;
            {endpoint}
        }}
    """
    with stack:
        stack.batch_keys = {
            "analyst": stack.create_key("batch-analyst", "mcp-log-analyst")["key"],
            "viewer": stack.create_key("batch-viewer", "mcp-viewer")["key"],
        }
        yield stack
    server.shutdown()


def url(stack, path):
    return stack.gateway_url.replace("/mcp/log-analysis", path)


def call(i, tool, **args):
    return {"jsonrpc": "2.0", "id": i, "method": "tools/call",
            "params": {"name": tool, "arguments": args}}


def audit_records(stack):
    with open(stack.path("logs", "batch-audit.log")) as f:
        return [json.loads(line) for line in f]


def next_record(stack, count):
    """The audit record after the first count (nginx writes it after answering)."""
    assert eventually(lambda: len(audit_records(stack)) > count, 5)
    return audit_records(stack)[count]


def test_batch_refused_without_the_directive(batch_stack):
    before = len(Recorder.received)
    logged = len(audit_records(batch_stack))
    r = post(url(batch_stack, "/mcp/single"), [call(1, "log_store")],
             batch_stack.batch_keys["analyst"])
    assert r.status == 400
    body = r.json()
    assert body["id"] is None
    assert body["error"]["code"] == -32600
    assert "batches are not supported" in body["error"]["message"]
    assert len(Recorder.received) == before
    next_record(batch_stack, logged)    # written after the answer: the next
                                        # test counts the records from here


def test_allowed_batch_reaches_the_upstream(batch_stack):
    before = len(Recorder.received)
    logged = len(audit_records(batch_stack))
    batch = [call(1, "log_store", q="x"), call("two", "get_available_tools"),
             {"jsonrpc": "2.0", "method": "notifications/progress",
              "params": {"progressToken": 1, "progress": 1}}]
    r = post(url(batch_stack, "/mcp/batch"), batch, batch_stack.batch_keys["analyst"])
    assert r.status == 200, r.body
    assert [a["id"] for a in r.json()] == [1, "two"]
    assert len(Recorder.received) == before + 1
    seen = Recorder.received[-1]
    assert seen["body"] == batch                  # forwarded byte-faithfully
    assert seen["user"] == "batch-analyst"
    assert seen["authorization"] is None          # no token passthrough
    record = next_record(batch_stack, logged)
    assert record["method"] == "(batch)"
    assert record["tool"] == "log_store,get_available_tools"
    assert record["rpc_id"] == '1,"two"'
    assert record["decision"] == "allow"


def test_one_forbidden_tool_refuses_the_whole_batch(batch_stack):
    before = len(Recorder.received)
    logged = len(audit_records(batch_stack))
    batch = [call(1, "get_available_tools"), call(2, "log_store"), call(3, "execute_code")]
    r = post(url(batch_stack, "/mcp/batch"), batch, batch_stack.batch_keys["viewer"])
    assert r.status == 200
    answers = {a["id"]: a["error"] for a in r.json()}
    assert set(answers) == {1, 2, 3}
    # refused tools look unknown, exactly as a lone tools/call would
    assert answers[2] == {"code": -32602, "message": "Unknown tool: log_store"}
    assert answers[3] == {"code": -32602, "message": "Unknown tool: execute_code"}
    assert answers[1]["code"] == -32600
    assert "not run" in answers[1]["message"]
    assert len(Recorder.received) == before
    record = next_record(batch_stack, logged)
    assert record["decision"] == "deny"
    assert record["reason"] == "tool_not_allowed"
    assert record["user"] == "batch-viewer"


def test_refused_notifications_only_get_a_status(batch_stack):
    batch = [{"jsonrpc": "2.0", "method": "sampling/createMessage"},
             {"jsonrpc": "2.0", "method": "notifications/initialized"}]
    r = post(url(batch_stack, "/mcp/batch"), batch, batch_stack.batch_keys["analyst"])
    assert r.status == 403
    assert r.json()["error"]["code"] == -32601


@pytest.mark.parametrize("body,code,words", [
    ("[", -32700, "not valid JSON"),
    ("[]", -32600, "empty"),
    (json.dumps([call(i, "log_store") for i in range(5)]), -32600, "too many"),
])
def test_whole_batch_errors(batch_stack, body, code, words):
    before = len(Recorder.received)
    r = post(url(batch_stack, "/mcp/batch"), body, batch_stack.batch_keys["analyst"])
    assert r.status == 400
    assert r.json()["id"] is None
    assert r.json()["error"]["code"] == code
    assert words in r.json()["error"]["message"]
    assert len(Recorder.received) == before


def test_bad_messages_in_a_batch_are_answered_one_by_one(batch_stack):
    before = len(Recorder.received)
    batch = [42, {"jsonrpc": "1.0", "id": 7, "method": "ping"},
             {"jsonrpc": "2.0", "id": 8, "method": "tools/call", "params": {}},
             call(9, "log_store")]
    r = post(url(batch_stack, "/mcp/batch"), batch, batch_stack.batch_keys["analyst"])
    assert r.status == 200
    answers = r.json()
    assert [a["id"] for a in answers] == [None, 7, 8, 9]
    assert [a["error"]["code"] for a in answers] == [-32600, -32600, -32602, -32600]
    assert "not a JSON object" in answers[0]["error"]["message"]
    assert len(Recorder.received) == before


def test_tools_list_is_not_batched(batch_stack):
    batch = [{"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, call(2, "log_store")]
    r = post(url(batch_stack, "/mcp/batch"), batch, batch_stack.batch_keys["analyst"])
    answers = {a["id"]: a["error"] for a in r.json()}
    assert answers[1]["code"] == -32600
    assert "on its own" in answers[1]["message"]


def test_batches_are_not_part_of_the_stateless_revision(batch_stack):
    r = post(url(batch_stack, "/mcp/batch"), [call(1, "log_store")],
             batch_stack.batch_keys["analyst"],
             headers={"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call"})
    assert r.status == 400
    assert r.json()["error"]["code"] == -32600
    assert "2026-07-28" in r.json()["error"]["message"]


def test_unauthenticated_batch_is_refused_before_it_is_judged(batch_stack):
    before = len(Recorder.received)
    r = post(url(batch_stack, "/mcp/batch"), [call(1, "log_store")])
    assert r.status == 401
    assert len(Recorder.received) == before
