"""Fault and load scenarios: one demo stack (lib.ChaosStack) for the
session; each scenario breaks a part of it, asserts what clients see, and
leaves it running again.

Options (pytest):
  --quick            the short versions `make test` runs: fewer audited
                     requests, no soak
  --soak-seconds N   length of the soak (default 60; `make soak`: 600)
  --audit-requests N requests of the audit count (default 20000)
"""

import os
import sys
import threading

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from lib import ChaosStack, Figures, raise_nofile  # noqa: E402

APIKEY_TTL = 300    # a cached key must outlive every outage of a scenario


def pytest_addoption(parser):
    parser.addoption("--quick", action="store_true", help="the short scenarios only")
    parser.addoption("--soak-seconds", type=float, default=60.0)
    parser.addoption("--audit-requests", type=int, default=20000)


def pytest_configure(config):
    config.addinivalue_line("markers", "soak: long steady-rate run (not with --quick)")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--quick"):
        skip = pytest.mark.skip(reason="--quick")
        for item in items:
            if "soak" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def opts(request):
    c = request.config
    quick = c.getoption("--quick")
    audit = c.getoption("--audit-requests")
    return {"quick": quick, "soak_seconds": c.getoption("--soak-seconds"),
            "audit_requests": min(audit, 4000) if quick else audit}


@pytest.fixture(scope="session")
def figures(request):
    f = Figures()
    yield f
    if not request.config.getoption("--quick"):
        f.save()        # for bench/report.py; not the short runs of make test


@pytest.fixture(scope="session")
def stack():
    raise_nofile(65536)
    with ChaosStack(apikey_ttl=APIKEY_TTL, jwks_retry=1) as s:
        yield s


@pytest.fixture(scope="session")
def keys(stack):
    return {
        "analyst": stack.create_key("chaos-analyst", "mcp-log-analyst")["key"],
        "viewer": stack.create_key("chaos-viewer", "mcp-viewer")["key"],
    }


@pytest.fixture(scope="session")
def token(stack):
    """A JWT for the log-analysis endpoint (verified once, then cached)."""
    return stack.token("demo-analyst", stack.secrets["DEMO_ANALYST_PASSWORD"])


@pytest.fixture
def refreshed_token(stack):
    """The current JWT as a function: a thread fetches a new one every
    minute, well inside the IdP's 300 s lifetime, so a soak of any length
    never sends an expired token (each new one is verified once)."""
    def fetch():
        return stack.token("demo-analyst", stack.secrets["DEMO_ANALYST_PASSWORD"])

    current = [fetch()]
    stop = threading.Event()

    def refresh():
        while not stop.wait(60):
            try:
                current[0] = fetch()
            except OSError:
                pass            # the IdP may be down in a scenario; keep the old one

    thread = threading.Thread(target=refresh, daemon=True)
    thread.start()
    yield lambda: current[0]
    stop.set()
    thread.join(timeout=10)


@pytest.fixture(autouse=True)
def stack_is_whole(stack):
    """Every scenario starts and ends with every process of the stack up."""
    for name in ("redis", "worker", "idp", "nginx"):
        assert name in stack.procs and stack.procs[name].poll() is None, f"{name} is down"
    yield
    for name, start in (("redis", stack.start_redis), ("worker", stack.start_worker),
                        ("idp", stack.start_idp)):
        if name not in stack.procs or stack.procs[name].poll() is not None:
            stack.procs.pop(name, None)
            start()
