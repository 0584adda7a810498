"""One endpoint for every tool set (mcp_aggregate): tools/list merges what
each tool set's own rules allow the caller, under prefixed names; each
tools/call reaches the tool set that owns it with that tool set's rules and
audit record; a tool set that is down or slow leaves a partial list within
the deadline; progressive discovery lists tool sets, not schemas."""

import base64
import http.server
import json
import os
import threading
import time

import pytest

from conftest import eventually, post
from stack import Stack, free_port
from test_config import nginx_t, REDIS, SECRET


# /paged lists its tools in three pages; the second cursor needs escaping
PAGES = {None: (["open_a", "secret_x"], "c2"),
         "c2": (["open_b"], 'c3 "quoted" \\ end'),
         'c3 "quoted" \\ end': (["open_c", "secret_y"], None)}


def tool(name):
    return {"name": name, "inputSchema": {"type": "object"}}


class SlowToolSet(http.server.BaseHTTPRequestHandler):
    """A tool set whose tools/list takes 5 s on /slow (at once on /fast);
    its tools answer at once.  /paged pages its list (PAGES), /endless
    always names a next page; the cursors asked for are kept in cursors."""

    cursors = []

    def do_POST(self):
        message = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if message.get("method") == "tools/list" and self.path in ("/paged", "/endless"):
            cursor = (message.get("params") or {}).get("cursor")
            SlowToolSet.cursors.append((self.path, cursor))
            if self.path == "/paged":
                names, following = PAGES[cursor]
            else:
                names, following = [f"open_{len(SlowToolSet.cursors)}"], "more"
            result = {"tools": [tool(n) for n in names]}
            if following:
                result["nextCursor"] = following
        elif message.get("method") == "tools/list":
            if self.path == "/slow":
                time.sleep(5)
            result = {"tools": [tool("echo"), tool("execute_code")]}
        else:
            result = {"content": [{"type": "text", "text": "echo from slow"}],
                      "isError": False}
        data = json.dumps({"jsonrpc": "2.0", "id": message.get("id"), "result": result}).encode()
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass            # the gateway gave up waiting: fine

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def agg():
    slow_port = free_port()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", slow_port), SlowToolSet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    stack = Stack(apikey_ttl=2)
    state = stack.state
    audit = f"access_log {state}/logs/audit.log mcp_audit;"
    aggregate = f"""
            {audit}
            mcp_identity_secret_file {state}/identity.secret;
            mcp_allow_roles mcp-log-analyst mcp-data-scientist mcp-admin;
    """
    stack.extra["extra_server"] = f"""
        location = /t/slow {{
            {audit}
            mcp_endpoint slow;
            mcp_description "Answers its tools/list late";
            mcp_identity_secret_file {state}/identity.secret;
            mcp_allow_roles mcp-log-analyst;
            mcp_tool echo mcp-log-analyst;
            proxy_pass http://127.0.0.1:{slow_port}/slow;
        }}
        location = /t/fast {{
            mcp_endpoint fast;
            mcp_identity_secret_file {state}/identity.secret;
            mcp_allow_roles mcp-log-analyst;
            mcp_tool echo mcp-log-analyst;
            mcp_tool execute_code mcp-log-analyst;
            proxy_pass http://127.0.0.1:{slow_port}/fast;
        }}
        location = /t/unprefixed-overlap {{
            mcp_endpoint unprefixed-overlap;
            {aggregate}
            mcp_aggregate log-analysis fast;
            mcp_aggregate_prefix off;
        }}
        location = /t/down {{
            mcp_endpoint down;
            mcp_identity_secret_file {state}/identity.secret;
            mcp_allow_roles mcp-log-analyst;
            mcp_tool echo mcp-log-analyst;
            proxy_pass http://127.0.0.1:{free_port()};
        }}
        location = /t/agg-slow {{
            mcp_endpoint agg-slow;
            {aggregate}
            mcp_aggregate log-analysis slow down;
            mcp_aggregate_timeout 1s;
        }}
        location = /t/catalogue {{
            mcp_endpoint catalogue;
            {aggregate}
            mcp_aggregate log-analysis data-science;
            mcp_aggregate_discovery on;
        }}
        location = /t/paged {{
            mcp_endpoint paged;
            mcp_identity_secret_file {state}/identity.secret;
            mcp_allow_roles mcp-log-analyst;
            mcp_tool open_* mcp-log-analyst;
            proxy_pass http://127.0.0.1:{slow_port}/paged;
        }}
        location = /t/endless {{
            mcp_endpoint endless;
            mcp_identity_secret_file {state}/identity.secret;
            mcp_allow_roles mcp-log-analyst;
            mcp_tool open_* mcp-log-analyst;
            proxy_pass http://127.0.0.1:{slow_port}/endless;
        }}
        location = /t/agg-paged {{
            mcp_endpoint agg-paged;
            {aggregate}
            mcp_aggregate paged;
        }}
        location = /t/agg-endless {{
            mcp_endpoint agg-endless;
            {aggregate}
            mcp_aggregate paged endless;
        }}
        location = /t/unprefixed {{
            mcp_endpoint unprefixed;
            {aggregate}
            mcp_aggregate log-analysis slow;
            mcp_aggregate_prefix off;
            mcp_aggregate_timeout 1s;
        }}
    """
    with stack:
        stack.agg_keys = {
            "both": stack.create_key("agg-both", "mcp-log-analyst,mcp-data-scientist")["key"],
            "analyst": stack.create_key("agg-analyst", "mcp-log-analyst")["key"],
            "scientist": stack.create_key("agg-scientist", "mcp-data-scientist")["key"],
            "admin": stack.create_key("agg-admin", "mcp-admin")["key"],
        }
        yield stack
    server.shutdown()


def url(stack, path):
    return stack.aggregate_url.replace("/mcp", path)


def rpc(endpoint, key, method, params=None, i=1, headers=None):
    body = {"jsonrpc": "2.0", "id": i, "method": method}
    if params is not None:
        body["params"] = params
    return post(endpoint, body, key, headers=headers)


def tool_names(resp):
    assert resp.status == 200, resp.body
    return sorted(t["name"] for t in resp.json()["result"]["tools"])


def call(endpoint, key, name, arguments, headers=None):
    return rpc(endpoint, key, "tools/call", {"name": name, "arguments": arguments},
               headers=headers)


def records(stack):
    with open(stack.path("logs", "audit.log")) as f:
        return [json.loads(line) for line in f]


def record_for(stack, predicate):
    found = eventually(lambda: [r for r in records(stack) if predicate(r)], 5)
    assert found, "no such audit record"
    return found[-1]


def test_each_caller_sees_the_tool_sets_its_roles_open(agg):
    both = tool_names(rpc(agg.aggregate_url, agg.agg_keys["both"], "tools/list"))
    analyst = tool_names(rpc(agg.aggregate_url, agg.agg_keys["analyst"], "tools/list"))
    admin = tool_names(rpc(agg.aggregate_url, agg.agg_keys["admin"], "tools/list"))
    assert {"log_analysis__execute_code", "data_science__describe"} <= set(both)
    assert all(n.startswith("log_analysis__") for n in analyst)
    assert set(analyst) == {n for n in both if n.startswith("log_analysis__")}
    # each tool set's own rules: sandbox_status only for mcp-admin
    assert "log_analysis__sandbox_status" not in both
    assert "log_analysis__sandbox_status" in admin
    # the merged list matches what each tool set's own endpoint lists
    direct = tool_names(rpc(agg.gateway_url, agg.agg_keys["analyst"], "tools/list"))
    assert analyst == sorted("log_analysis__" + n for n in direct)


def test_calls_reach_the_owning_tool_set_under_its_rules(agg):
    key = agg.agg_keys["both"]
    r = call(agg.aggregate_url, key, "log_analysis__execute_code", {"code": "print(6*7)"})
    assert r.json()["result"]["content"][0]["text"].strip() == "42"
    r = call(agg.aggregate_url, key, "data_science__list_datasets", {})
    assert not r.json()["result"]["isError"] and "sales" in json.dumps(r.json())
    routed = record_for(agg, lambda x: x["via"] == "all" and x["tool"] == "execute_code"
                        and x["user"] == "agg-both")
    assert routed["tenant"] == "log-analysis"
    assert routed["auth"] == "apikey" and routed["decision"] == "allow"
    # the arguments' digest is the one of what the client sent
    assert len(routed["args_sha256"]) == 64


@pytest.mark.parametrize("name", ["data_science__list_datasets", "log_analysis__sandbox_status",
                                  "log_analysis__no_such_tool", "execute_code",
                                  "nobody__execute_code"])
def test_a_tool_the_caller_may_not_call_is_unknown(agg, name):
    r = call(agg.aggregate_url, agg.agg_keys["analyst"], name, {})
    assert r.status == 200
    error = r.json()["error"]
    assert error["code"] == -32602
    assert error["message"] == f"Unknown tool: {name}"


def test_slow_and_down_tool_sets_leave_a_partial_list_in_time(agg):
    started = time.monotonic()
    r = rpc(url(agg, "/t/agg-slow"), agg.agg_keys["analyst"], "tools/list", i="p1")
    took = time.monotonic() - started
    names = tool_names(r)
    assert took < 3, f"took {took:.1f} s with a 1 s deadline"
    # the late tool set still holds this connection: the client is told so
    assert r.header("Connection") == "close"
    assert names and all(n.startswith("log_analysis__") for n in names)
    record = record_for(agg, lambda x: x["rpc_id"] == '"p1"')
    assert record["toolsets"] == "log-analysis:ok slow:timeout down:error"
    assert record["reason"] == "partial" and record["decision"] == "allow"
    # a slow list does not make the tool set's calls slow
    r = call(url(agg, "/t/agg-slow"), agg.agg_keys["analyst"], "slow__echo", {})
    assert "echo from slow" in r.body.decode()


def test_a_paged_tool_set_is_read_to_its_last_page(agg):
    SlowToolSet.cursors.clear()
    r = rpc(url(agg, "/t/agg-paged"), agg.agg_keys["analyst"], "tools/list", i="pg1")
    # every page, each filtered by the tool set's rules, and no cursor for
    # the caller: the aggregate's list is whole
    assert tool_names(r) == ["paged__open_a", "paged__open_b", "paged__open_c"]
    assert "nextCursor" not in r.json()["result"]
    assert SlowToolSet.cursors == [("/paged", c) for c in PAGES]
    record = record_for(agg, lambda x: x["rpc_id"] == '"pg1"')
    assert record["toolsets"] == "paged:ok" and record["reason"] == "ok"
    r = call(url(agg, "/t/agg-paged"), agg.agg_keys["analyst"], "paged__open_c", {})
    assert "echo from slow" in r.body.decode()


def test_a_tool_set_that_never_stops_paging_is_left_out(agg):
    SlowToolSet.cursors.clear()
    r = rpc(url(agg, "/t/agg-endless"), agg.agg_keys["analyst"], "tools/list", i="pg2")
    assert tool_names(r) == ["paged__open_a", "paged__open_b", "paged__open_c"]
    endless = [c for c in SlowToolSet.cursors if c[0] == "/endless"]
    assert len(endless) == 32                 # NGX_HTTP_MCP_AGG_MAX_PAGES
    record = record_for(agg, lambda x: x["rpc_id"] == '"pg2"')
    assert record["toolsets"] == "paged:ok endless:error"
    assert record["reason"] == "partial"


def test_without_prefixes_calls_are_routed_by_the_tool_sets_rules(agg):
    endpoint = url(agg, "/t/unprefixed")
    r = call(endpoint, agg.agg_keys["analyst"], "echo", {})
    assert "echo from slow" in r.body.decode()
    r = call(endpoint, agg.agg_keys["analyst"], "execute_code", {"code": "print(2+3)"})
    assert r.json()["result"]["content"][0]["text"].strip() == "5"
    assert "execute_code" in tool_names(rpc(endpoint, agg.agg_keys["analyst"], "tools/list"))


def test_without_prefixes_a_shared_name_belongs_to_the_first_tool_set(agg):
    endpoint = url(agg, "/t/unprefixed-overlap")
    names = tool_names(rpc(endpoint, agg.agg_keys["analyst"], "tools/list"))
    assert names.count("execute_code") == 1 and "echo" in names
    r = call(endpoint, agg.agg_keys["analyst"], "execute_code", {"code": "print(3*3)"})
    assert r.json()["result"]["content"][0]["text"].strip() == "9"      # log-analysis
    r = call(endpoint, agg.agg_keys["analyst"], "echo", {})
    assert "echo from slow" in r.body.decode()                        # the other one


def test_progressive_discovery(agg):
    endpoint = url(agg, "/t/catalogue")
    key = agg.agg_keys["analyst"]
    assert tool_names(rpc(endpoint, key, "tools/list")) == ["list_toolsets", "load_toolset"]

    r = call(endpoint, key, "list_toolsets", {})
    sets = json.loads(r.json()["result"]["content"][0]["text"])
    assert sets == [{"name": "log-analysis", "prefix": "log_analysis__",
                     "description": "Service logs: search, error summaries, PII scrubbing, "
                                    "Python over them"}]

    r = call(endpoint, key, "load_toolset", {"name": "log-analysis"})
    loaded = json.loads(r.json()["result"]["content"][0]["text"])
    names = sorted(t["name"] for t in loaded)
    assert names == tool_names(rpc(agg.aggregate_url, key, "tools/list"))
    assert all("inputSchema" in t for t in loaded)

    # a tool set the caller may not use looks like none at all
    denied = call(endpoint, key, "load_toolset", {"name": "data-science"}).json()["result"]
    missing = call(endpoint, key, "load_toolset", {"name": "nothing"}).json()["result"]
    assert denied == missing and denied["isError"]

    # the loaded names are callable on the catalogue endpoint itself
    r = call(endpoint, key, "log_analysis__execute_code", {"code": "print(7*6)"})
    assert r.json()["result"]["content"][0]["text"].strip() == "42"

    # the point of it: far fewer bytes up front
    full = len(rpc(url(agg, "/mcp"), agg.agg_keys["both"], "tools/list").body)
    small = len(rpc(endpoint, agg.agg_keys["both"], "tools/list").body)
    assert small * 5 < full


def test_local_methods(agg):
    key = agg.agg_keys["analyst"]
    r = rpc(agg.aggregate_url, key, "initialize",
            {"protocolVersion": "2025-06-18", "capabilities": {},
             "clientInfo": {"name": "t", "version": "1"}})
    result = r.json()["result"]
    assert result["protocolVersion"] == "2025-06-18"
    assert result["capabilities"] == {"tools": {"listChanged": False}}
    assert rpc(agg.aggregate_url, key, "ping").json()["result"] == {}
    assert rpc(agg.aggregate_url, key, "resources/list").json()["error"]["code"] == -32601
    r = post(agg.aggregate_url, {"jsonrpc": "2.0", "method": "notifications/initialized"}, key)
    assert r.status == 202 and r.body == b""
    # unauthenticated: refused before anything is asked of a tool set
    assert rpc(agg.aggregate_url, None, "tools/list").status == 401


def test_stateless_call_with_mirrored_headers(agg):
    key = agg.agg_keys["analyst"]
    meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {}}
    headers = {"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call",
               "Mcp-Name": "log_analysis__execute_code"}
    r = rpc(agg.aggregate_url, key, "tools/call",
            {"name": "log_analysis__execute_code", "arguments": {"code": "print(9)"},
             "_meta": meta}, headers=headers)
    assert r.status == 200, r.body
    assert r.json()["result"]["content"][0]["text"].strip() == "9"
    # a header that disagrees with the body is refused before routing
    headers["Mcp-Name"] = "log_analysis__log_store"
    r = rpc(agg.aggregate_url, key, "tools/call",
            {"name": "log_analysis__execute_code", "arguments": {"code": "print(9)"},
             "_meta": meta}, headers=headers)
    assert r.status == 400 and r.json()["error"]["code"] == -32020
    r = rpc(agg.aggregate_url, key, "server/discover", {"_meta": meta},
            headers={"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "server/discover"})
    assert "2026-07-28" in r.json()["result"]["supportedVersions"]


def test_a_token_for_the_aggregate_reaches_each_tool_set(agg):
    token = agg.token("demo-admin", agg.secrets["DEMO_ADMIN_PASSWORD"],
                      resource=agg.aggregate_url)
    r = call(agg.aggregate_url, token, "data_science__list_datasets", {})
    assert r.status == 200 and not r.json()["result"]["isError"]
    routed = record_for(agg, lambda x: x["via"] == "all" and x["user"] == "demo-admin")
    assert routed["auth"] == "jwt" and routed["tenant"] == "data-science"
    # the same token is not one for the tool set's own endpoint (RFC 8707)
    assert rpc(agg.ds_url, token, "tools/list").status == 401
    # and a tool set's token is not one for the aggregate
    ds_token = agg.token("demo-admin", agg.secrets["DEMO_ADMIN_PASSWORD"],
                         resource=agg.ds_url)
    assert rpc(agg.aggregate_url, ds_token, "tools/list").status == 401


AGG = SECRET + "mcp_aggregate t2 t3;"
TENANTS = """
        location = /t2 {{ mcp_endpoint {a}; mcp_identity_secret_file @d@/secret; }}
        location = /t3 {{ mcp_endpoint {b}; mcp_identity_secret_file @d@/secret; }}
"""


@pytest.mark.parametrize("tenants,location,message", [
    (("t2", "t3"), SECRET + "mcp_aggregate t2 nope;",
     '"mcp_aggregate" of "mcp_endpoint t1" names "nope", which no other "mcp_endpoint" declares'),
    (("a-b", "a_b"), SECRET + "mcp_aggregate a-b a_b;",
     '"mcp_aggregate" tool sets "a-b" and "a_b" would share the prefix "a_b__"'),
    (("t2", "t3"), AGG + "mcp_batch_max 2;", 'takes neither "mcp_batch_max"'),
    (("t2", "t2"), SECRET + "mcp_aggregate t2;", 'which more than one location declares'),
])
def test_aggregate_configuration_errors(tenants, location, message):
    servers = TENANTS.format(a=tenants[0], b=tenants[1])
    rc, err = nginx_t(REDIS, location + "}" + servers + "location = /unused {")
    assert rc != 0
    assert message in err, err


def test_aggregate_configuration_passes():
    rc, err = nginx_t(REDIS, AGG + "mcp_aggregate_timeout 2s; mcp_aggregate_discovery on; }"
                      + TENANTS.format(a="t2", b="t3") + "location = /unused {")
    assert rc == 0, err
