"""Shared fixtures: a whole demo stack (redis-server, sandbox worker, demo
identity provider, nginx with the module) on free loopback ports."""

import http.client
import json
import os
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "demo"))

from stack import Stack  # noqa: E402


APIKEY_TTL = 2     # short, so that revocation tests wait little
JWKS_RETRY = 1     # short, so that key rotation tests wait little


@pytest.fixture(scope="session")
def stack():
    with Stack(apikey_ttl=APIKEY_TTL, jwks_retry=JWKS_RETRY) as s:
        yield s


@pytest.fixture(scope="session")
def keys(stack):
    """API keys for one user of each kind."""
    return {
        "analyst": stack.create_key("analyst@example.com", "mcp-log-analyst")["key"],
        "admin": stack.create_key("demo-admin", "mcp-admin,mcp-log-analyst")["key"],
        "viewer": stack.create_key("viewer, the", "mcp-viewer")["key"],
        "outsider": stack.create_key("outsider", "some-other-role")["key"],
    }


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body)

    def header(self, name):
        return self.headers.get(name.lower())


def post(url, body, key=None, headers=None, method="POST"):
    """One HTTP request; body is a dict (sent as JSON), str or bytes."""
    host_port, path = url.split("//", 1)[1].split("/", 1)
    host, port = host_port.split(":")
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
    if isinstance(body, str):
        body = body.encode()
    h = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    if key:
        h["Authorization"] = "Bearer " + key
    h.update(headers or {})
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.request(method, "/" + path, body=body, headers=h)
        resp = conn.getresponse()
        data = resp.read()
        return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)
    finally:
        conn.close()


def eventually(check, timeout):
    """Polls check() until it is true or timeout seconds pass; returns it."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.1)


def redis_cli(stack, *args):
    return stack.redis_cli(*args)
