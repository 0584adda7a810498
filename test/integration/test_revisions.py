"""Both generations of MCP on one endpoint: the session-based 2025 revisions
(initialize first) and the stateless 2026-07-28 revision (per-request _meta,
Mcp-Method / Mcp-Name headers, server/discover, cacheable lists).  The
gateway refuses a request whose headers disagree with its body."""

import base64

from conftest import post

MODERN = "2026-07-28"
META = {"io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {}}


def modern(stack, key, method, params=None, rpc_id=1, name=None, headers=None,
           meta=META):
    """A stateless request with the headers a 2026-07-28 client sends."""
    params = dict(params or {})
    if meta is not None:
        params["_meta"] = meta
    h = {"MCP-Protocol-Version": MODERN, "Mcp-Method": method}
    if name is not None:
        h["Mcp-Name"] = name
    h.update(headers or {})
    h = {k: v for k, v in h.items() if v is not None}
    return post(stack.gateway_url, {"jsonrpc": "2.0", "id": rpc_id, "method": method,
                                    "params": params}, key=key, headers=h)


def error_of(resp, status, code, rpc_id):
    assert resp.status == status, resp.body
    body = resp.json()
    assert body["id"] == rpc_id
    assert body["error"]["code"] == code, body
    return body["error"]


def test_discover(stack, keys):
    resp = modern(stack, keys["viewer"], "server/discover")
    assert resp.status == 200, resp.body
    result = resp.json()["result"]
    assert result["resultType"] == "complete"
    assert MODERN in result["supportedVersions"]
    assert "2025-11-25" in result["supportedVersions"]
    assert result["capabilities"]["tools"] == {"listChanged": False}
    assert isinstance(result["ttlMs"], int) and result["ttlMs"] >= 0
    assert result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"]


def test_stateless_list_is_filtered_and_private(stack, keys):
    viewer = modern(stack, keys["viewer"], "tools/list").json()["result"]
    analyst = modern(stack, keys["analyst"], "tools/list").json()["result"]
    assert [t["name"] for t in viewer["tools"]] == ["get_available_tools"]
    assert {"execute_code", "log_store"} <= {t["name"] for t in analyst["tools"]}
    # the sandbox says "public"; filtered per caller, the list is private
    for result in (viewer, analyst):
        assert result["resultType"] == "complete"
        assert result["cacheScope"] == "private"
        assert result["ttlMs"] >= 0


def test_stateless_call(stack, keys):
    resp = modern(stack, keys["analyst"], "tools/call",
                  {"name": "execute_code", "arguments": {"code": "print(2**10)"}},
                  name="execute_code")
    assert resp.status == 200, resp.body
    result = resp.json()["result"]
    assert result["resultType"] == "complete"
    assert result["content"][0]["text"] == "1024\n"


def test_label_of_an_allowed_tool_cannot_call_a_forbidden_one(stack, keys):
    resp = modern(stack, keys["viewer"], "tools/call",
                  {"name": "execute_code", "arguments": {"code": "print(1)"}},
                  rpc_id="x1", name="get_available_tools")
    error = error_of(resp, 400, -32020, "x1")
    assert "Mcp-Name" in error["message"]


def test_method_header_must_match(stack, keys):
    resp = modern(stack, keys["analyst"], "tools/list", rpc_id=5,
                  headers={"Mcp-Method": "server/discover"})
    assert "Mcp-Method" in error_of(resp, 400, -32020, 5)["message"]
    # header values are case-sensitive
    resp = modern(stack, keys["analyst"], "tools/list", rpc_id=6,
                  headers={"Mcp-Method": "TOOLS/LIST"})
    error_of(resp, 400, -32020, 6)
    # header names are not
    resp = modern(stack, keys["analyst"], "tools/list", rpc_id=7,
                  headers={"Mcp-Method": None, "mcp-method": "tools/list"})
    assert resp.status == 200, resp.body


def test_stateless_request_needs_its_headers(stack, keys):
    resp = modern(stack, keys["analyst"], "tools/list", rpc_id=8,
                  headers={"Mcp-Method": None})
    error_of(resp, 400, -32020, 8)
    resp = modern(stack, keys["analyst"], "tools/call",
                  {"name": "get_available_tools", "arguments": {}}, rpc_id=9)
    error_of(resp, 400, -32020, 9)


def test_base64_encoded_name(stack, keys):
    encoded = "=?base64?" + base64.b64encode(b"get_available_tools").decode() + "?="
    resp = modern(stack, keys["viewer"], "tools/call",
                  {"name": "get_available_tools", "arguments": {}}, name=encoded)
    assert resp.status == 200, resp.body
    wrong = "=?base64?" + base64.b64encode(b"execute_code").decode() + "?="
    resp = modern(stack, keys["viewer"], "tools/call",
                  {"name": "get_available_tools", "arguments": {}}, rpc_id=10, name=wrong)
    error_of(resp, 400, -32020, 10)
    resp = modern(stack, keys["viewer"], "tools/call",
                  {"name": "get_available_tools", "arguments": {}}, rpc_id=11,
                  name="=?base64?not base64!?=")
    error_of(resp, 400, -32020, 11)


def test_meta_must_agree_with_the_header(stack, keys):
    meta = dict(META, **{"io.modelcontextprotocol/protocolVersion": "2025-11-25"})
    resp = modern(stack, keys["analyst"], "tools/list", rpc_id=12, meta=meta)
    error_of(resp, 400, -32020, 12)


def test_missing_meta_is_invalid_params(stack, keys):
    resp = modern(stack, keys["analyst"], "tools/list", rpc_id=13, meta=None)
    error_of(resp, 400, -32602, 13)


def test_unsupported_version_names_the_supported_ones(stack, keys):
    resp = modern(stack, keys["analyst"], "tools/list", rpc_id=14,
                  headers={"MCP-Protocol-Version": "2099-01-01"})
    error = error_of(resp, 400, -32022, 14)
    assert error["data"]["requested"] == "2099-01-01"
    assert set(error["data"]["supported"]) == {"2025-06-18", "2025-11-25", MODERN}


def test_removed_methods_are_404_in_the_stateless_revision(stack, keys):
    resp = modern(stack, keys["analyst"], "ping", rpc_id=15)
    error_of(resp, 404, -32601, 15)


def test_session_revision_still_served(stack, keys):
    init = post(stack.gateway_url,
                {"jsonrpc": "2.0", "id": 1, "method": "initialize",
                 "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                            "clientInfo": {"name": "t", "version": "1"}}},
                key=keys["analyst"])
    assert init.status == 200
    assert init.json()["result"]["protocolVersion"] == "2025-06-18"
    listed = post(stack.gateway_url, {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
                  key=keys["analyst"], headers={"MCP-Protocol-Version": "2025-06-18"})
    result = listed.json()["result"]
    assert "resultType" not in result and "cacheScope" not in result


def test_method_outside_the_list_is_404_when_stateless(stack, keys):
    # the gateway's own refusal follows the revision's rules too
    resp = modern(stack, keys["analyst"], "logging/setLevel", {"level": "info"}, rpc_id=16)
    error_of(resp, 404, -32601, 16)
    resp = post(stack.gateway_url, {"jsonrpc": "2.0", "id": 17, "method": "logging/setLevel",
                                    "params": {"level": "info"}}, key=keys["analyst"])
    error_of(resp, 200, -32601, 17)
