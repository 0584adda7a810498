"""The tool sets through the real gateway and workers (issue 6): the
log-analysis workspace, skills and discovery tools under the kernel
confinement, and the data-science tool set as a second, isolated tenant
(its own location, role, worker, identity secret, workspaces and data).
"""

import hashlib
import json
import os
import time

import pytest

from conftest import post
from stack import identity_header


def rpc(url, key, method, params=None, rpc_id=1):
    body = {"jsonrpc": "2.0", "id": rpc_id, "method": method}
    if params is not None:
        body["params"] = params
    return post(url, body, key=key)


def tool(url, key, name, arguments, rpc_id=1):
    """tools/call; returns (result, outcome header) or fails on a JSON-RPC
    error."""
    resp = rpc(url, key, "tools/call", {"name": name, "arguments": arguments}, rpc_id)
    assert resp.status == 200, resp.body
    msg = resp.json()
    assert "result" in msg, msg
    return msg["result"], resp.header("x-mcp-exec-outcome")


def text(result):
    return result["content"][0]["text"]


def names(resp):
    assert resp.status == 200, resp.body
    return sorted(t["name"] for t in resp.json()["result"]["tools"])


def workspace_dir(stack, user, root="workspaces"):
    return stack.path(root, hashlib.sha256(user.encode()).hexdigest()[:32])


@pytest.fixture(scope="module")
def scientist(stack):
    return stack.create_key("scientist@example.com", "mcp-data-scientist")["key"]


ANALYST_USER = "analyst@example.com"     # conftest's keys["analyst"]


# ---------------------------------------------------------------- log-analysis

def test_new_tools_are_listed_for_analysts_not_viewers(stack, keys):
    analyst = names(rpc(stack.gateway_url, keys["analyst"], "tools/list"))
    assert {"workspace", "get_workspace_info", "skills", "list_skills", "run_skill",
            "tool_discovery", "list_available_tools", "search_tools"} <= set(analyst)
    viewer = names(rpc(stack.gateway_url, keys["viewer"], "tools/list"))
    assert "workspace" not in viewer and "run_skill" not in viewer
    resp = rpc(stack.gateway_url, keys["viewer"], "tools/call",
               {"name": "workspace", "arguments": {}}, rpc_id=3)
    assert resp.json()["error"] == {"code": -32602, "message": "Unknown tool: workspace"}


def test_workspace_through_the_gateway(stack, keys):
    url, key = stack.gateway_url, keys["analyst"]
    res, outcome = tool(url, key, "workspace", {"function": "write_file",
                                                "filepath": "reports/top.md",
                                                "content": "# top errors\n"})
    assert outcome == "ok" and res["structuredContent"]["size"] == 13
    res, _ = tool(url, key, "workspace", {"function": "read_file",
                                          "filepath": "reports/top.md"})
    assert res["structuredContent"]["content"] == "# top errors\n"
    res, _ = tool(url, key, "workspace", {"function": "save_checkpoint", "name": "run-1",
                                          "data": {"step": 2, "seen": [1, 2]}})
    res, _ = tool(url, key, "workspace", {"function": "load_checkpoint", "name": "run-1"})
    assert json.loads(text(res)) == {"step": 2, "seen": [1, 2]}
    res, _ = tool(url, key, "get_workspace_info", {})
    assert res["structuredContent"]["checkpoint_count"] == 1
    ws = workspace_dir(stack, ANALYST_USER)
    with open(os.path.join(ws, "reports", "top.md")) as f:
        assert f.read() == "# top errors\n"


def test_workspace_errors_through_the_gateway(stack, keys):
    url, key = stack.gateway_url, keys["analyst"]
    res, outcome = tool(url, key, "workspace", {"function": "read_file",
                                                "filepath": "../../etc/passwd"})
    assert res["isError"] and outcome == "error"
    assert "leaves the workspace" in text(res)
    res, _ = tool(url, key, "workspace", {"function": "write_file", "filepath": "x.sh",
                                          "content": "rm -rf /"})
    assert res["isError"] and "'.sh'" in text(res) and "not allowed" in text(res)
    # wrong types are refused before any code runs
    resp = rpc(url, key, "tools/call", {"name": "workspace", "arguments": {
        "function": "read_file", "filepath": 42}}, rpc_id=8)
    err = resp.json()["error"]
    assert err["code"] == -32602 and "filepath" in err["message"] and "string" in err["message"]
    resp = rpc(url, key, "tools/call", {"name": "workspace", "arguments": {
        "function": "format_disk"}}, rpc_id=9)
    assert resp.json()["error"]["code"] == -32602


def test_planted_symlink_is_refused_by_the_module_and_the_kernel(stack, keys):
    url, key = stack.gateway_url, keys["analyst"]
    tool(url, key, "get_workspace_info", {})          # the workspace exists
    ws = workspace_dir(stack, ANALYST_USER)
    secret = stack.path("identity.secret")
    link = os.path.join(ws, "planted.txt")
    if os.path.lexists(link):
        os.unlink(link)
    os.symlink(secret, link)
    try:
        res, _ = tool(url, key, "workspace", {"function": "read_file",
                                              "filepath": "planted.txt"})
        assert res["isError"] and "link" in text(res)
        assert stack.secrets["identity.secret"] not in text(res)
        # plain open() follows the link, and Landlock still refuses the target
        res, _ = tool(url, key, "execute_code", {"code": "open('planted.txt').read()"})
        assert res["isError"] and "PermissionError" in text(res)
        assert stack.secrets["identity.secret"] not in text(res)
    finally:
        os.unlink(link)


def test_workspaces_are_per_user(stack, keys):
    tool(stack.gateway_url, keys["analyst"], "workspace",
         {"function": "write_file", "filepath": "private.txt", "content": "analyst only"})
    res, _ = tool(stack.gateway_url, keys["admin"], "workspace",
                  {"function": "read_file", "filepath": "private.txt"})
    assert res["isError"] and "does not exist" in text(res)


def test_skills_through_the_gateway(stack, keys):
    url, key = stack.gateway_url, keys["analyst"]
    code = ("def main(service='api-gateway', n=3):\n"
            "    \"\"\"Is service known? n times.\"\"\"\n"
            "    known = service in log_store.list_services()\n"
            "    print('known', known)\n"
            "    return [known] * n\n")
    res, outcome = tool(url, key, "skills", {"function": "save_skill", "name": "tail-count",
                                             "code": code, "description": "Count tail lines.",
                                             "tags": ["logs"], "overwrite": True})
    assert outcome == "ok", text(res)
    res, outcome = tool(url, key, "run_skill", {"name": "tail-count", "arguments": {"n": 2}})
    assert outcome == "ok", text(res)
    assert text(res) == "known True\n[\n  true,\n  true\n]"
    res, _ = tool(url, key, "list_skills", {"tag": "logs"})
    assert "tail-count" in text(res)
    res, _ = tool(url, key, "skills", {"function": "search_skills", "query": "tail"})
    assert "tail-count" in text(res)
    ws = workspace_dir(stack, ANALYST_USER)
    assert sorted(os.listdir(os.path.join(ws, "skills", "tail-count"))) == [
        "SKILL.md", "implementation.py", "metadata.json"]


def test_run_skill_has_exactly_execute_codes_confinement(stack, keys):
    """A skill gets no more rights than execute_code: no files outside the
    workspace, no network, no processes, the same wall limit."""
    url, key = stack.gateway_url, keys["analyst"]
    probes = {
        "read-etc": "def main():\n    return open('/etc/passwd').read()\n",
        "read-secret": f"def main():\n    return open({stack.path('identity.secret')!r}).read()\n",
        "net": "def main():\n    import socket\n    socket.create_connection(('127.0.0.1', 1))\n",
        "proc": "def main():\n    import os\n    return os.fork()\n",
    }
    for name, code in probes.items():
        res, outcome = tool(url, key, "skills", {"function": "save_skill", "name": name,
                                                 "code": code, "description": "probe",
                                                 "overwrite": True})
        assert outcome == "ok", text(res)
        res, outcome = tool(url, key, "run_skill", {"name": name})
        assert res["isError"] and outcome == "error", (name, text(res))
        assert "PermissionError" in text(res), (name, text(res))
    # idle, not spinning: a spin can meet the CPU limit first (also lowered
    # by timeout), and this is about the wall-clock limit
    tool(url, key, "skills", {"function": "save_skill", "name": "spin", "overwrite": True,
                              "code": "import time\ndef main():\n    while True:\n"
                                      "        time.sleep(0.05)\n",
                              "description": "probe"})
    started = time.monotonic()
    res, outcome = tool(url, key, "run_skill", {"name": "spin", "timeout": 1})
    assert outcome == "timeout" and res["isError"]
    assert time.monotonic() - started < 10


def test_discovery_is_read_only_across_calls(stack, keys):
    url, key = stack.gateway_url, keys["analyst"]
    res, _ = tool(url, key, "search_tools", {"query": "checkpoint", "limit": 3})
    before = res["structuredContent"] if "structuredContent" in res else json.loads(text(res))
    assert before and before[0]["module"] == "workspace"
    # a call that tampers with everything it can reach in its own process
    res, outcome = tool(url, key, "execute_code", {"code": (
        "tool_discovery._CATALOG.clear()\n"
        "tool_discovery.search_tools = lambda *a, **k: ['poisoned']\n"
        "workspace.ALLOWED_EXTENSIONS = ('.sh',)\n"
        "print(tool_discovery.list_available_tools()['total_functions'])")})
    assert outcome == "ok" and text(res) == "0\n"
    res, _ = tool(url, key, "search_tools", {"query": "checkpoint", "limit": 3})
    assert json.loads(text(res)) == before
    res, _ = tool(url, key, "workspace", {"function": "write_file", "filepath": "a.sh",
                                          "content": "x"})
    assert res["isError"]
    res, _ = tool(url, key, "list_available_tools", {"module": "workspace"})
    assert "write_file" in text(res)


# ---------------------------------------------------------------- data-science

DS_TOOLS = ["describe", "execute_code", "get_available_tools", "group_by", "list_datasets",
            "load_csv"]


def test_data_science_is_served_to_its_role(stack, scientist):
    assert names(rpc(stack.ds_url, scientist, "tools/list")) == DS_TOOLS
    res, outcome = tool(stack.ds_url, scientist, "group_by", {
        "name": "sales", "by": ["region"], "column": "revenue", "agg": "sum", "limit": 2})
    assert outcome == "ok"
    groups = res["structuredContent"]["groups"]
    assert len(groups) == 2 and groups[0]["value"] >= groups[1]["value"]
    res, _ = tool(stack.ds_url, scientist, "describe", {"name": "experiments",
                                                         "columns": ["conversions"]})
    assert res["structuredContent"]["columns"]["conversions"]["count"] == 84
    res, outcome = tool(stack.ds_url, scientist, "execute_code", {
        "code": "cols, rows = datasets.read_csv('sales')\nlen(rows)"})
    assert outcome == "ok" and text(res) == "480\n"
    resp = rpc(stack.ds_url, scientist, "tools/call",
               {"name": "load_csv", "arguments": {"name": "sales", "limit": "ten"}}, rpc_id=4)
    assert resp.json()["error"]["code"] == -32602


def test_roles_keep_the_tenants_apart(stack, keys, scientist):
    # a log-analysis caller cannot reach the data-science endpoint at all
    for who in ("analyst", "viewer"):
        resp = rpc(stack.ds_url, keys[who], "tools/list")
        assert resp.status == 403 and resp.json()["error"]["code"] == -32003, who
        resp = rpc(stack.ds_url, keys[who], "tools/call",
                   {"name": "execute_code", "arguments": {"code": "print(1)"}})
        assert resp.status == 403, who
    # and a data scientist cannot reach log-analysis
    resp = rpc(stack.gateway_url, scientist, "tools/call",
               {"name": "log_store", "arguments": {"function": "tail_logs",
                                                   "service_name": "api-gateway"}})
    assert resp.status == 403
    # an administrator may use both; each endpoint lists only its own tools
    admin_ds = names(rpc(stack.ds_url, keys["admin"], "tools/list"))
    assert admin_ds == sorted(DS_TOOLS + ["sandbox_status"])
    admin_la = names(rpc(stack.gateway_url, keys["admin"], "tools/list"))
    assert "log_store" in admin_la and "group_by" not in admin_la
    # a tool of the other tool set is unknown here, even to an admin
    resp = rpc(stack.ds_url, keys["admin"], "tools/call",
               {"name": "log_store", "arguments": {"function": "tail_logs",
                                                   "service_name": "api-gateway"}}, rpc_id=5)
    assert resp.json()["error"] == {"code": -32602, "message": "Unknown tool: log_store"}


def test_jwt_for_the_data_science_audience(stack):
    token = stack.token("demo-scientist", stack.secrets["DEMO_SCIENTIST_PASSWORD"],
                        resource=stack.ds_url)
    assert names(rpc(stack.ds_url, token, "tools/list")) == DS_TOOLS
    # a token for data-science is not accepted by log-analysis (audience),
    # even from a user whose role log-analysis allows
    fresh = stack.token("demo-admin", stack.secrets["DEMO_ADMIN_PASSWORD"],
                        resource=stack.ds_url)
    assert rpc(stack.gateway_url, fresh, "tools/list").status == 401


def test_jwt_audience_is_checked_per_location_even_when_cached(stack):
    token = stack.token("demo-admin", stack.secrets["DEMO_ADMIN_PASSWORD"],
                        resource=stack.ds_url)
    assert rpc(stack.ds_url, token, "tools/list").status == 200
    assert rpc(stack.gateway_url, token, "tools/list").status == 401


def _log_data_dir(stack):
    args = stack.procs["worker"].args
    return args[args.index("--data-dir") + 1]


def test_data_science_worker_cannot_read_the_log_data(stack, keys, scientist):
    logs = _log_data_dir(stack)
    some_log = sorted(os.listdir(logs))[0]
    code = ("import os\n"
            "for path in (" + repr(logs) + ", " + repr(os.path.join(logs, some_log)) + "):\n"
            "    try:\n"
            "        os.listdir(path) if path.endswith('logs') else open(path).read()\n"
            "        print('READ', path)\n"
            "    except OSError as e:\n"
            "        print(type(e).__name__)\n")
    res, outcome = tool(stack.ds_url, scientist, "execute_code", {"code": code})
    assert outcome == "ok" and "READ" not in text(res), text(res)
    assert text(res).split() == ["PermissionError", "PermissionError"]
    # the same code in log-analysis can read it (the data is really there)
    res, _ = tool(stack.gateway_url, keys["analyst"], "execute_code", {"code": code})
    assert "READ" in text(res)
    # nor the other tool set's workspaces (the file is there: written now)
    tool(stack.gateway_url, keys["analyst"], "workspace",
         {"function": "write_file", "filepath": "private.txt", "content": "analyst only"})
    assert os.path.exists(os.path.join(workspace_dir(stack, ANALYST_USER), "private.txt"))
    res, _ = tool(stack.ds_url, scientist, "execute_code", {
        "code": f"open({os.path.join(workspace_dir(stack, ANALYST_USER), 'private.txt')!r})"})
    assert res["isError"] and "PermissionError" in text(res)


def test_workspaces_are_per_tool_set(stack, keys):
    """The same user has a separate workspace in each tool set."""
    tool(stack.gateway_url, keys["admin"], "workspace",
         {"function": "write_file", "filepath": "la-only.txt", "content": "x"})
    res, _ = tool(stack.ds_url, keys["admin"], "execute_code",
                  {"code": "import os\nsorted(os.listdir('.'))"})
    assert "la-only.txt" not in text(res)
    assert os.path.isdir(workspace_dir(stack, "demo-admin", "workspaces-data-science"))


def test_data_science_worker_has_its_own_identity_secret(stack):
    """A request signed with log-analysis's secret (what a compromised
    log-analysis worker could forge) is refused by the data-science worker."""
    t = int(time.time())
    for secret_name, expected in (("identity.secret", 401),
                                  ("identity-data-science.secret", 200)):
        headers = identity_header(stack.secrets[secret_name], "mallory", "mcp-admin",
                                  "apikey", "-", "data-science", when=t)
        resp = post(f"http://127.0.0.1:{stack.ports['ds_worker']}/mcp",
                    {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, headers=headers)
        assert resp.status == expected, (secret_name, resp.body)
