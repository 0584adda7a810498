"""The gateway end to end over raw HTTP: real nginx + module, real Redis,
real sandbox worker.  Every error path asserts status, JSON-RPC code and id."""

import hashlib
import json
import os
import re
import signal
import subprocess
import time

import pytest

from conftest import APIKEY_TTL, ROOT, eventually, post, redis_cli
from stack import identity_header

FORGED_SECRET = b"not-the-identity-secret-0123456789abcdef"


def call(stack, key, method, params=None, rpc_id=1, headers=None):
    body = {"jsonrpc": "2.0", "id": rpc_id, "method": method}
    if params is not None:
        body["params"] = params
    return post(stack.gateway_url, body, key=key, headers=headers)


def tool_names(resp):
    assert resp.status == 200, resp.body
    return sorted(t["name"] for t in resp.json()["result"]["tools"])


def assert_rpc_error(resp, status, code, rpc_id):
    assert resp.status == status, resp.body
    assert resp.header("content-type") == "application/json"
    msg = resp.json()
    assert msg["jsonrpc"] == "2.0"
    assert msg["id"] == rpc_id
    assert msg["error"]["code"] == code
    return msg["error"]["message"]


# authentication ---------------------------------------------------------

def test_no_credentials_is_401_with_bearer_challenge(stack):
    resp = call(stack, None, "tools/list", rpc_id=1)
    assert_rpc_error(resp, 401, -32001, 1)
    # no error= without a token (RFC 6750 3.1), and where to learn more (RFC 9728)
    assert resp.header("www-authenticate") == (
        'Bearer realm="log-analysis", resource_metadata="http://127.0.0.1:'
        f'{stack.ports["gateway"]}/.well-known/oauth-protected-resource/mcp/log-analysis"')


@pytest.mark.parametrize("token", [
    "not-a-key",
    "mcp_0123456789abcdef_" + "0" * 63,                 # one char short
    "mcp_0123456789ABCDEF_" + "0" * 64,                 # upper-case id
    "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",             # alg none JWT
])
def test_malformed_credentials_are_401_invalid_token(stack, token):
    resp = call(stack, token, "tools/list", rpc_id=9)
    assert_rpc_error(resp, 401, -32001, 9)
    assert 'error="invalid_token"' in resp.header("www-authenticate")


def test_unknown_key_id_is_401(stack):
    resp = call(stack, "mcp_" + "0" * 16 + "_" + "0" * 64, "tools/list", rpc_id=2)
    assert_rpc_error(resp, 401, -32001, 2)


def test_wrong_secret_is_401(stack, keys):
    good = keys["analyst"]
    wrong = good[:-1] + ("0" if good[-1] != "0" else "1")
    assert_rpc_error(call(stack, wrong, "tools/list", rpc_id=3), 401, -32001, 3)


def test_revocation_takes_effect_within_the_cache_ttl(stack):
    key = stack.create_key("soon-revoked", "mcp-log-analyst")
    assert call(stack, key["key"], "ping").status == 200
    env = dict(os.environ, REDIS_URL=stack.redis_url)
    subprocess.run([os.path.join(ROOT, "tools", "revoke-api-key.sh"), key["id"], "--yes"],
                   check=True, env=env, capture_output=True, stdin=subprocess.DEVNULL)
    revoked_at = time.monotonic()
    # the shared cache still vouches for the key right after revocation ...
    assert call(stack, key["key"], "ping").status == 200
    # ... and stops within its ttl
    assert eventually(lambda: call(stack, key["key"], "ping").status == 401, APIKEY_TTL + 2)
    assert time.monotonic() - revoked_at <= APIKEY_TTL + 1
    assert_rpc_error(call(stack, key["key"], "ping", rpc_id=4), 401, -32001, 4)


def test_expired_key_is_401(stack):
    key = stack.create_key("soon-expired", "mcp-log-analyst", "--expires", "1h")
    assert call(stack, key["key"], "ping").status == 200
    redis_cli(stack, "HSET", "mcp:apikey:" + key["id"], "expires", str(int(time.time()) - 1))
    assert eventually(lambda: call(stack, key["key"], "ping").status == 401, APIKEY_TTL + 2)
    assert_rpc_error(call(stack, key["key"], "ping", rpc_id=5), 401, -32001, 5)


def test_last_used_is_recorded(stack):
    key = stack.create_key("user-of-keys", "mcp-log-analyst")
    record = "mcp:apikey:" + key["id"]
    assert redis_cli(stack, "HGET", record, "last_used") == ""
    before = int(time.time())
    assert call(stack, key["key"], "ping").status == 200
    assert eventually(lambda: redis_cli(stack, "HGET", record, "last_used"), 3)
    assert int(redis_cli(stack, "HGET", record, "last_used")) >= before
    # at most once per interval: a second use does not write again
    redis_cli(stack, "HSET", record, "last_used", "1")
    assert call(stack, key["key"], "ping").status == 200
    time.sleep(0.3)
    assert redis_cli(stack, "HGET", record, "last_used") == "1"


def test_lower_case_bearer_and_x_api_key_accepted(stack, keys):
    resp = post(stack.gateway_url, {"jsonrpc": "2.0", "id": 1, "method": "ping"},
                headers={"Authorization": "bearer " + keys["analyst"]})
    assert resp.status == 200 and resp.json()["result"] == {}
    resp = post(stack.gateway_url, {"jsonrpc": "2.0", "id": 1, "method": "ping"},
                headers={"X-API-Key": keys["analyst"]})
    assert resp.status == 200 and resp.json()["result"] == {}


def test_basic_scheme_refused(stack):
    resp = post(stack.gateway_url, {"jsonrpc": "2.0", "id": 6, "method": "ping"},
                headers={"Authorization": "Basic YTpi"})
    assert_rpc_error(resp, 401, -32001, 6)


def test_role_without_endpoint_access_is_403(stack, keys):
    resp = call(stack, keys["outsider"], "tools/list", rpc_id=7)
    assert_rpc_error(resp, 403, -32003, 7)
    assert 'error="insufficient_scope"' in resp.header("www-authenticate")


# RBAC ------------------------------------------------------------------

def test_tools_list_is_filtered_by_role(stack, keys):
    analyst = tool_names(call(stack, keys["analyst"], "tools/list"))
    viewer = tool_names(call(stack, keys["viewer"], "tools/list"))
    assert "execute_code" in analyst and "log_store" in analyst
    assert viewer == ["get_available_tools"]


def test_forbidden_call_looks_like_an_unknown_tool(stack, keys):
    params = {"name": "execute_code", "arguments": {"code": "print(1)"}}
    denied = assert_rpc_error(call(stack, keys["viewer"], "tools/call", params, rpc_id="r1"),
                              200, -32602, "r1")
    unknown = assert_rpc_error(call(stack, keys["admin"], "tools/call",
                                    {"name": "no_such_tool", "arguments": {}}, rpc_id="r1"),
                               200, -32602, "r1")
    assert denied == "Unknown tool: execute_code"
    assert unknown == "Unknown tool: no_such_tool"


def test_allowed_call_runs_in_the_sandbox(stack, keys):
    resp = call(stack, keys["analyst"], "tools/call",
                {"name": "execute_code", "arguments": {"code": "print(sum(range(10)))"}}, rpc_id=11)
    assert resp.status == 200, resp.body
    result = resp.json()["result"]
    assert not result.get("isError")
    assert "45" in result["content"][0]["text"]
    assert resp.header("x-mcp-exec-outcome") == "ok"


def test_method_not_served_is_refused(stack, keys):
    msg = assert_rpc_error(call(stack, keys["admin"], "resources/list", rpc_id=12),
                           200, -32601, 12)
    assert msg == "Method not found"


# the JSON-RPC envelope -------------------------------------------------------

def test_malformed_json_is_parse_error(stack, keys):
    resp = post(stack.gateway_url, '{"jsonrpc":"2.0","id":1,', key=keys["analyst"])
    assert_rpc_error(resp, 400, -32700, None)


def test_invalid_request_keeps_the_id(stack, keys):
    resp = post(stack.gateway_url, {"jsonrpc": "1.0", "id": "keep-me", "method": "ping"},
                key=keys["analyst"])
    assert_rpc_error(resp, 400, -32600, "keep-me")


def test_batch_is_refused(stack, keys):
    resp = post(stack.gateway_url, [{"jsonrpc": "2.0", "id": 1, "method": "ping"}],
                key=keys["analyst"])
    assert "batch" in assert_rpc_error(resp, 400, -32600, None)


def test_get_is_405_with_allow(stack, keys):
    resp = post(stack.gateway_url, b"", key=keys["analyst"], method="GET")
    assert resp.status == 405
    assert resp.header("allow") == "POST"


def test_body_over_limit_is_413(stack, keys):
    big = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
           "params": {"name": "execute_code", "arguments": {"code": "#" * (1024 * 1024)}}}
    resp = post(stack.gateway_url, big, key=keys["analyst"])
    assert_rpc_error(resp, 413, -32600, None)


def test_notification_is_accepted(stack, keys):
    resp = post(stack.gateway_url, {"jsonrpc": "2.0", "method": "notifications/initialized"},
                key=keys["analyst"])
    assert resp.status == 202
    assert resp.body == b""


# identity forwarding -------------------------------------------------------

def test_sandbox_refuses_requests_that_bypass_the_gateway(stack):
    url = f"http://127.0.0.1:{stack.ports['worker']}/mcp"
    # well formed, current, signed with a key that is not the identity secret
    forged = identity_header(FORGED_SECRET, "admin", "mcp-admin", tenant="log-analysis")
    resp = post(url, {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, headers=forged)
    assert resp.status == 401


def test_client_identity_headers_are_not_trusted(stack, keys):
    # a viewer claiming to be an admin stays a viewer: the gateway drops
    # every X-MCP-Identity* header a client sends (the current one and the
    # old per-field ones) and signs its own
    forged = {**identity_header(FORGED_SECRET, "root", "mcp-admin", tenant="log-analysis"),
              "X-MCP-Identity-Roles": "mcp-admin", "X-MCP-Identity-User": "root"}
    resp = call(stack, keys["viewer"], "tools/call",
                {"name": "execute_code", "arguments": {"code": "print(1)"}}, rpc_id=13,
                headers=forged)
    assert_rpc_error(resp, 200, -32602, 13)


# failure semantics ---------------------------------------------------------

def test_redis_down_fails_closed_then_recovers(stack, keys):
    uncached = stack.create_key("never-seen", "mcp-log-analyst")["key"]
    token = stack.token("demo-analyst", stack.secrets["DEMO_ANALYST_PASSWORD"])
    # keep the data across the restart, as a real deployment would
    redis_cli(stack, "SAVE")
    assert call(stack, keys["analyst"], "ping").status == 200   # now cached
    redis = stack.procs.pop("redis")
    redis.send_signal(signal.SIGTERM)
    redis.wait(timeout=10)
    try:
        # a key verified within the cache ttl keeps working ...
        assert call(stack, keys["analyst"], "ping").status == 200
        # ... a key the gateway never saw is refused, never let in
        resp = call(stack, uncached, "ping", rpc_id=21)
        assert_rpc_error(resp, 503, -32004, 21)
        assert resp.header("retry-after") == "1"
        # bearer JWTs do not need Redis at all
        assert post(stack.gateway_url, {"jsonrpc": "2.0", "id": 1, "method": "ping"},
                    headers={"Authorization": "Bearer " + token}).status == 200
        # and once the cache entry ages out, the known key fails closed too
        assert eventually(lambda: call(stack, keys["analyst"], "ping").status == 503,
                          APIKEY_TTL + 2)
    finally:
        stack.start_redis()
    deadline = time.monotonic() + 15
    while True:
        resp = call(stack, keys["analyst"], "ping", rpc_id=22)
        if resp.status == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert resp.status == 200, resp.body
    assert resp.json() == {"jsonrpc": "2.0", "id": 22, "result": {}}


# audit -----------------------------------------------------------------------

def settled_line_count(path):
    """nginx logs just after it answers: wait until no line is added."""
    count = -1
    while True:
        now = open(path, "rb").read().count(b"\n")
        if now == count:
            return count
        count = now
        time.sleep(0.3)


def test_one_valid_audit_record_per_request(stack, keys):
    audit = stack.path("logs", "audit.log")
    before = settled_line_count(audit)
    hostile_tool = "a\"b\u0001\u00e9"
    # (key, body, decision, tool, reason); the JSON-RPC id names the record
    sent = {
        '"a1"': (keys["analyst"], {"jsonrpc": "2.0", "id": "a1", "method": "tools/list"},
                 "allow", "", "ok"),
        '"a2"': (keys["viewer"], {"jsonrpc": "2.0", "id": "a2", "method": "tools/call",
                                  "params": {"name": "execute_code",
                                             "arguments": {"code": "x"}}},
                 "deny", "execute_code", "tool_not_allowed"),
        '"a3"': (None, {"jsonrpc": "2.0", "id": "a3", "method": "ping"},
                 "deny", "", "missing_credentials"),
        '"\\"\\n"': (keys["viewer"], {"jsonrpc": "2.0", "id": "\"\n", "method": "tools/call",
                                    "params": {"name": hostile_tool, "arguments": {}}},
                       "deny", hostile_tool, "tool_not_allowed"),
        "": (keys["analyst"], '{"broken', "deny", "", "parse_error"),
        '"a5"': (keys["analyst"], {"jsonrpc": "2.0", "id": "a5", "method": "tools/call",
                                   "params": {"name": "execute_code",
                                              "arguments": {"code": "print('\"\\u0001')"}}},
                 "allow", "execute_code", "ok"),
        '"a6"': (keys["analyst"], {"jsonrpc": "2.0", "id": "a6", "method": "ping"},
                 "allow", "", "ok"),
    }
    # a client's header of invalid UTF-8, a quote and a control byte
    hostile_session = b'ab\xff\xfe"cd\x01\xed\xa0\x80'
    for rpc_id, (key, body, *_) in sent.items():
        post(stack.gateway_url, body, key=key,
             headers={"Mcp-Session-Id": hostile_session} if rpc_id == '"a6"' else None)
    settled_line_count(audit)
    lines = open(audit, "rb").read().splitlines()[before:]
    assert len(lines) == len(sent), [json.loads(x)["reason"] for x in lines]
    # two workers log independently: match records to requests by id
    records = {}
    for line in lines:
        record = json.loads(line.decode("utf-8"))     # valid JSON and UTF-8, whatever was sent
        assert record["rpc_id"] not in records
        records[record["rpc_id"]] = record
        for secret in keys.values():
            assert secret[21:].encode() not in line   # never a key's secret
    assert set(records) == set(sent)
    for rpc_id, (key, body, decision, tool, reason) in sent.items():
        record = records[rpc_id]
        assert (record["decision"], record["tool"], record["reason"]) == (decision, tool, reason)
        assert record["tenant"] == "log-analysis"
        assert record["time"].endswith("Z") and "." in record["time"]
        if tool:
            # the SHA-256 of the arguments' bytes as sent (post() sends json.dumps)
            arguments = json.dumps(body["params"]["arguments"]).encode()
            assert record["args_sha256"] == hashlib.sha256(arguments).hexdigest()
            assert record["args_size"] == str(len(arguments))
    assert records['"a1"']["user"] == "analyst@example.com"
    assert records['"a1"']["auth"] == "apikey"
    assert records['"a3"']["status"] == 401
    assert records[""]["status"] == 400
    assert records['"a5"']["exec_outcome"] == "ok"
    assert int(records['"a5"']["exec_wall_ms"]) >= 0
    assert int(records['"a5"']["exec_cpu_ms"]) >= 0
    assert int(records['"a5"']["exec_peak_rss_kb"]) > 1000     # a Python child
    # refused before the sandbox: no figures
    assert records['"a2"']["exec_outcome"] == records['"a2"']["exec_cpu_ms"] == ""
    assert records['"a6"']["session"] == 'ab\ufffd\ufffd"cd\x01\ufffd\ufffd\ufffd'
    ids = [record["request_id"] for record in records.values()]
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids), ids
    assert len(set(ids)) == len(ids)


def test_request_ids_are_a_random_half_per_worker_and_its_count(stack, keys):
    """$mcp_request_id: the first 16 hex digits are drawn once per worker
    (two workers here), the last 16 count that worker's requests."""
    audit = stack.path("logs", "audit.log")
    before = settled_line_count(audit)
    for n in range(40):
        post(stack.gateway_url, {"jsonrpc": "2.0", "id": f"rid{n}", "method": "ping"},
             key=keys["analyst"])
    settled_line_count(audit)
    records = [json.loads(line) for line in open(audit, "rb").read().splitlines()[before:]]
    ids = [r["request_id"] for r in records if r["rpc_id"].startswith('"rid')]
    assert len(ids) == 40 and len(set(ids)) == 40
    counts = {}
    for i in ids:
        counts.setdefault(i[:16], []).append(int(i[16:], 16))
    assert 1 <= len(counts) <= 2, counts.keys()
    for seen in counts.values():
        assert seen == sorted(seen) and len(set(seen)) == len(seen)


# Redis ACL ---------------------------------------------------------------------

def test_gateway_redis_user_can_only_read_records(stack, keys):
    """The module works as the restricted ACL user of docs/redis-acl.md."""
    env = dict(os.environ, REDISCLI_AUTH=stack.secrets["redis-gateway.password"])

    def as_gateway(*args):
        res = subprocess.run(["redis-cli", "--user", "mcp-gateway", "-p",
                              str(stack.ports["redis"]), *args],
                             capture_output=True, text=True, env=env, timeout=10)
        return res.stdout.strip()

    assert as_gateway("PING") == "PONG"
    key_id = keys["analyst"][4:20]
    assert as_gateway("HMGET", "mcp:apikey:" + key_id, "user") == "analyst@example.com"
    for forbidden in (["SMEMBERS", "mcp:apikeys"], ["DEL", "mcp:apikey:" + key_id],
                      ["HGETALL", "mcp:apikey:" + key_id], ["KEYS", "*"], ["FLUSHALL"],
                      ["HMGET", "other:key", "x"]):
        assert "NOPERM" in as_gateway(*forbidden), forbidden
    # and the gateway, logged in as that user, authenticates keys
    assert call(stack, keys["analyst"], "ping").status == 200


# Streamable HTTP rules -----------------------------------------------------------

def test_foreign_origin_is_refused(stack, keys):
    resp = call(stack, keys["analyst"], "ping", rpc_id=31,
                headers={"Origin": "http://evil.example"})
    assert_rpc_error(resp, 403, -32003, 31)
    own = f"http://127.0.0.1:{stack.ports['gateway']}"
    assert call(stack, keys["analyst"], "ping", headers={"Origin": own}).status == 200


def test_protocol_version_header(stack, keys):
    # the session-based revisions (2026-07-28 has its own tests)
    for version in ("2025-06-18", "2025-11-25"):
        resp = call(stack, keys["analyst"], "ping",
                    headers={"MCP-Protocol-Version": version})
        assert resp.status == 200, (version, resp.body)
    resp = call(stack, keys["analyst"], "ping", rpc_id=32,
                headers={"MCP-Protocol-Version": "1999-01-01"})
    assert "MCP-Protocol-Version" in assert_rpc_error(resp, 400, -32022, 32)


def test_notification_outside_the_method_list_is_refused(stack, keys):
    # notifications/* is served; a method family that is not, is refused
    resp = post(stack.gateway_url, {"jsonrpc": "2.0", "method": "resources/updated"},
                key=keys["analyst"])
    assert_rpc_error(resp, 403, -32601, None)


def test_sandbox_down_is_a_json_rpc_error(stack, keys):
    worker = stack.procs.pop("worker")
    worker.send_signal(signal.SIGTERM)
    worker.wait(timeout=10)
    try:
        resp = call(stack, keys["analyst"], "tools/call",
                    {"name": "execute_code", "arguments": {"code": "print(1)"}}, rpc_id=41)
        assert_rpc_error(resp, 502, -32004, 41)
    finally:
        stack.start_worker()
    resp = call(stack, keys["analyst"], "tools/call",
                {"name": "execute_code", "arguments": {"code": "print(1)"}}, rpc_id=42)
    assert resp.status == 200 and resp.json()["result"]["content"][0]["text"] == "1\n"


def test_rotation_through_the_gateway(stack):
    """rotate-api-key.sh: the old key works until the grace period (and the
    cache ttl) ends, then stops; the new key keeps working."""
    old = stack.create_key("rotating", "mcp-log-analyst", "--expires", "30d")
    assert call(stack, old["key"], "ping").status == 200
    env = dict(os.environ, REDIS_URL=stack.redis_url)
    rotated = time.time()
    res = subprocess.run([os.path.join(ROOT, "tools", "rotate-api-key.sh"), old["id"],
                          "--grace", "2s", "--yes", "--json"], env=env, capture_output=True,
                         text=True, stdin=subprocess.DEVNULL)
    assert res.returncode == 0, res.stderr
    new = json.loads(res.stdout)
    assert new["key"] != old["key"] and new["user"] == "rotating"
    assert call(stack, old["key"], "ping").status == 200          # within the grace
    assert call(stack, new["key"], "ping").status == 200
    assert eventually(lambda: call(stack, old["key"], "ping").status == 401,
                      2 + APIKEY_TTL + 3)
    # not before the grace period (whole seconds: the expiry is in seconds)
    assert time.time() - rotated >= 1.0
    assert call(stack, new["key"], "ping").status == 200
