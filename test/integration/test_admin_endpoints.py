"""Integration tests for the gateway self-test scripts in tools/:
test-api-keys.sh, get-mcp-credentials.sh and test-mcp-endpoints.sh, run against the
demo stack (the `stack` fixture).

Run: /usr/bin/python3 -m pytest test/integration/test_admin_endpoints.py
"""

import os
import re
import subprocess

import pytest

from conftest import ROOT, post

TOOLS = os.path.join(ROOT, "tools")
SCRIPTS = ["test-api-keys.sh", "get-mcp-credentials.sh", "test-mcp-endpoints.sh"]
PING = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
# Variables of the caller that would change what the scripts do.
SCRUB = ("REDIS_URL", "REDISCLI_AUTH", "MCP_GATEWAY_URL", "MCP_ISSUER", "MCP_CLIENT_SECRET",
         "MCP_PASSWORD", "MCP_API_KEY", "MCP_TOKEN")


def run(script, *args, env=None, timeout=120):
    e = {k: v for k, v in os.environ.items() if k not in SCRUB}
    e.update(env or {})
    return subprocess.run([os.path.join(TOOLS, script), *args], capture_output=True, text=True,
                          env=e, stdin=subprocess.DEVNULL, timeout=timeout)


def idp_env(stack, **extra):
    return {"MCP_ISSUER": stack.issuer, "MCP_CLIENT_SECRET": stack.secrets["IDP_CLIENT_SECRET"],
            **extra}


def get_token(stack, *args, **env):
    res = run("get-mcp-credentials.sh", "--resource", stack.gateway_url, *args,
              env=idp_env(stack, **env))
    assert res.returncode == 0, res.stderr
    token = res.stdout.strip()
    assert token.count(".") == 2 and "\n" not in token
    assert "Authorization: Bearer" in res.stderr
    return token


# --- common -----------------------------------------------------------------------------

@pytest.mark.parametrize("script", SCRIPTS)
def test_help(script):
    res = run(script, "--help")
    assert res.returncode == 0
    assert res.stdout.startswith("Usage: " + script)


@pytest.mark.parametrize("script,args", [
    ("test-api-keys.sh", ["--bogus"]),
    ("test-api-keys.sh", ["--cache-ttl", "soon"]),
    ("test-api-keys.sh", ["http://a/x", "http://b/y"]),
    ("test-api-keys.sh", ["ftp://gateway/x"]),
    ("get-mcp-credentials.sh", ["--grant", "implicit"]),
    ("get-mcp-credentials.sh", ["--client-secret", "s3cret"]),
    ("get-mcp-credentials.sh", ["--resource"]),
    ("test-mcp-endpoints.sh", ["--bogus"]),
    ("test-mcp-endpoints.sh", ["--token-env", "NO_SUCH_VARIABLE_HERE"]),
    ("test-mcp-endpoints.sh", ["--token", "abc"]),
])
def test_usage_errors(script, args):
    res = run(script, *args, env={"MCP_CLIENT_SECRET": "x", "MCP_API_KEY": "x"})
    assert res.returncode == 2, res.stderr
    assert res.stderr.startswith(script + ": error: ")
    assert res.stdout == ""


def test_missing_secrets_are_usage_errors(stack):
    assert run("get-mcp-credentials.sh", env={"MCP_ISSUER": stack.issuer}).returncode == 2
    res = run("get-mcp-credentials.sh", "--grant", "password", "--username", "demo-analyst",
              env=idp_env(stack))
    assert res.returncode == 2 and "MCP_PASSWORD" in res.stderr
    assert run("test-mcp-endpoints.sh", stack.gateway_url).returncode == 2


# --- test-api-keys.sh -------------------------------------------------------------------

def test_api_keys_selftest_passes_and_cleans_up(stack):
    before = stack.redis_cli("SCARD", "mcp:apikeys")
    res = run("test-api-keys.sh", stack.gateway_url, "--cache-ttl", "15",
              env={"REDIS_URL": stack.redis_url})
    assert res.returncode == 0, res.stdout + res.stderr
    assert "FAIL" not in res.stdout
    assert res.stdout.count("PASS") == 4
    m = re.search(r"PASS  create key ([0-9a-f]{16}) \(user key-selftest-", res.stdout)
    assert m
    kid = m.group(1)
    assert stack.redis_cli("EXISTS", "mcp:apikey:" + kid) == "0"
    assert stack.redis_cli("SISMEMBER", "mcp:apikeys", kid) == "0"
    assert stack.redis_cli("SCARD", "mcp:apikeys") == before


def test_api_keys_selftest_fails_and_cleans_up_with_a_forbidden_role(stack):
    # a role the endpoint does not allow: the key is refused (403), so the first
    # gateway check fails; the record must still be deleted
    res = run("test-api-keys.sh", stack.gateway_url, "--role", "some-other-role",
              "--cache-ttl", "5", env={"REDIS_URL": stack.redis_url})
    assert res.returncode == 1
    assert "FAIL  gateway accepts the new key" in res.stdout
    kid = re.search(r"create key ([0-9a-f]{16})", res.stdout).group(1)
    assert stack.redis_cli("EXISTS", "mcp:apikey:" + kid) == "0"
    assert stack.redis_cli("SISMEMBER", "mcp:apikeys", kid) == "0"


def test_api_keys_selftest_redis_unreachable(stack):
    res = run("test-api-keys.sh", stack.gateway_url, "-p", "1", "--cache-ttl", "1")
    assert res.returncode == 1
    assert "FAIL  create key" in res.stdout


# --- get-mcp-credentials.sh -------------------------------------------------------------

def test_credentials_client_credentials_token_is_accepted(stack):
    token = get_token(stack)
    r = post(stack.gateway_url, PING, key=token)
    assert r.status == 200 and r.json()["result"] == {}


def test_credentials_password_grant_token_is_accepted(stack):
    token = get_token(stack, "--grant", "password", "--username", "demo-analyst",
                      MCP_PASSWORD=stack.secrets["DEMO_ANALYST_PASSWORD"])
    r = post(stack.gateway_url, PING, key=token)
    assert r.status == 200 and r.json()["result"] == {}


def test_credentials_json(stack):
    res = run("get-mcp-credentials.sh", "--resource", stack.gateway_url, "--json",
              env=idp_env(stack))
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("{") and '"access_token"' in res.stdout


def test_credentials_bad_secret(stack):
    secret = "wrong-secret-" + "q7Zx" * 4
    res = run("get-mcp-credentials.sh", "--resource", stack.gateway_url,
              env={"MCP_ISSUER": stack.issuer, "MCP_CLIENT_SECRET": secret})
    assert res.returncode == 1
    assert "invalid_client" in res.stderr
    assert secret not in res.stdout + res.stderr
    assert res.stdout == ""


def test_credentials_bad_password(stack):
    password = "not-the-password-" + "k3" * 5
    res = run("get-mcp-credentials.sh", "--grant", "password", "--username", "demo-analyst",
              env=idp_env(stack, MCP_PASSWORD=password))
    assert res.returncode == 1
    assert "invalid_grant" in res.stderr
    assert password not in res.stdout + res.stderr
    assert stack.secrets["IDP_CLIENT_SECRET"] not in res.stdout + res.stderr


def test_credentials_idp_unreachable():
    res = run("get-mcp-credentials.sh", "--issuer", "http://127.0.0.1:1/realms/x",
              env={"MCP_CLIENT_SECRET": "x"})
    assert res.returncode == 1 and "cannot reach" in res.stderr


# --- test-mcp-endpoints.sh --------------------------------------------------------------

def test_endpoints_with_an_analyst_key(stack):
    key = stack.create_key("endpoints-analyst", "mcp-log-analyst")["key"]
    res = run("test-mcp-endpoints.sh", stack.gateway_url, env={"MCP_API_KEY": key})
    assert res.returncode == 0, res.stdout + res.stderr
    assert "FAIL" not in res.stdout and "SKIP" not in res.stdout
    assert "PASS  tools/call execute_code" in res.stdout
    assert res.stdout.count("PASS") == 5
    assert key not in res.stdout + res.stderr


def test_endpoints_with_a_custom_call(stack):
    key = stack.create_key("endpoints-analyst-2", "mcp-log-analyst")["key"]
    res = run("test-mcp-endpoints.sh", stack.gateway_url, "--call", "execute_code",
              "--args", '{"code":"print(1+1)"}', env={"MCP_API_KEY": key})
    assert res.returncode == 0, res.stdout
    assert "PASS  tools/call execute_code" in res.stdout


def test_endpoints_with_tokens(stack):
    token = get_token(stack)   # service account: mcp-viewer, no execute_code
    res = run("test-mcp-endpoints.sh", stack.gateway_url, "--token-env", "MY_TOKEN",
              env={"MY_TOKEN": token})
    assert res.returncode == 0, res.stdout + res.stderr
    assert "SKIP  tools/call execute_code" in res.stdout
    token = get_token(stack, "--grant", "password", "--username", "demo-analyst",
                      MCP_PASSWORD=stack.secrets["DEMO_ANALYST_PASSWORD"])
    res = run("test-mcp-endpoints.sh", stack.gateway_url, env={"MCP_TOKEN": token})
    assert res.returncode == 0, res.stdout + res.stderr
    assert "PASS  tools/call execute_code" in res.stdout


def test_endpoints_with_a_garbage_credential(stack):
    res = run("test-mcp-endpoints.sh", stack.gateway_url, env={"MCP_TOKEN": "garbage"})
    assert res.returncode == 1
    assert "FAIL  initialize" in res.stdout


def test_endpoints_with_a_revoked_key(stack):
    rec = stack.create_key("endpoints-revoked", "mcp-log-analyst")
    subprocess.run([os.path.join(TOOLS, "revoke-api-key.sh"), rec["id"], "--yes"], check=True,
                   capture_output=True, env=dict(os.environ, REDIS_URL=stack.redis_url),
                   stdin=subprocess.DEVNULL)
    res = run("test-mcp-endpoints.sh", stack.gateway_url, env={"MCP_API_KEY": rec["key"]})
    assert res.returncode == 1
    assert re.search(r"^FAIL  ", res.stdout, re.M)


def test_endpoints_gateway_unreachable():
    res = run("test-mcp-endpoints.sh", "http://127.0.0.1:1/mcp/x", env={"MCP_API_KEY": "k"})
    assert res.returncode == 1 and "cannot reach" in res.stderr
