"""Bearer JWTs at the gateway: real tokens from the demo identity provider
(npm oidc-provider) and hostile ones signed here with the provider's own key
or forged.  Each refusal asserts HTTP 401, the JSON-RPC error and the id."""

import base64
import concurrent.futures
import hashlib
import hmac
import json
import signal
import time
import urllib.request

import jwt as pyjwt
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from conftest import JWKS_RETRY, eventually, post
from stack import Stack


def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signing_key(stack):
    """The provider's current private signing key (first in its key file)."""
    with open(stack.path("idp-keys.json")) as f:
        jwk = json.load(f)["keys"][0]
    return jwk["kid"], pyjwt.algorithms.RSAAlgorithm.from_jwk(json.dumps(jwk))


def claims(stack, **changes):
    now = int(time.time())
    body = {"iss": stack.issuer, "aud": stack.gateway_url, "sub": "u-1",
            "exp": now + 300, "iat": now, "typ": "Bearer",
            "preferred_username": "forger", "realm_access": {"roles": ["mcp-admin"]}}
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


def rs256(stack, payload, header=None, kid=None):
    key_id, key = signing_key(stack)
    head = {"alg": "RS256", "typ": "JWT", "kid": kid or key_id}
    head.update(header or {})
    signing_input = b64u(json.dumps(head).encode()) + "." + b64u(json.dumps(payload).encode())
    signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return signing_input + "." + b64u(signature)


def ping(stack, token, rpc_id=1, scheme="Bearer"):
    return post(stack.gateway_url, {"jsonrpc": "2.0", "id": rpc_id, "method": "ping"},
                headers={"Authorization": f"{scheme} {token}"})


def tools(stack, token):
    resp = post(stack.gateway_url, {"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                headers={"Authorization": "Bearer " + token})
    assert resp.status == 200, resp.body
    return sorted(t["name"] for t in resp.json()["result"]["tools"])


def assert_invalid_token(resp, rpc_id=1):
    assert resp.status == 401, resp.body
    assert resp.json() == {"jsonrpc": "2.0", "id": rpc_id,
                           "error": {"code": -32001, "message": "invalid token"}}
    challenge = resp.header("www-authenticate")
    assert 'error="invalid_token"' in challenge
    assert 'resource_metadata="http://127.0.0.1:' in challenge


# tokens from the identity provider ------------------------------------------

def test_provider_tokens_carry_roles(stack):
    analyst = stack.token("demo-analyst", stack.secrets["DEMO_ANALYST_PASSWORD"])
    admin = stack.token("demo-admin", stack.secrets["DEMO_ADMIN_PASSWORD"])
    service = stack.token(None, None, grant="client_credentials")
    # the tool set grows (issue 6): pin what the roles decide, not the list
    analyst_tools = tools(stack, analyst)
    assert {"execute_code", "get_available_tools", "log_store"} <= set(analyst_tools)
    assert "sandbox_status" not in analyst_tools
    assert tools(stack, admin) == sorted(analyst_tools + ["sandbox_status"])
    assert tools(stack, service) == ["get_available_tools"]          # mcp-viewer


def test_provider_token_runs_code_and_is_audited(stack):
    token = stack.token("demo-analyst", stack.secrets["DEMO_ANALYST_PASSWORD"])
    resp = post(stack.gateway_url, {"jsonrpc": "2.0", "id": 7, "method": "tools/call",
                                    "params": {"name": "execute_code",
                                               "arguments": {"code": "print(6*7)"}}},
                headers={"Authorization": "Bearer " + token})
    assert resp.status == 200 and "42" in resp.json()["result"]["content"][0]["text"]
    time.sleep(0.3)
    with open(stack.path("logs", "audit.log")) as f:
        record = [json.loads(line) for line in f if '"rpc_id":"7"' in line][-1]
    assert record["auth"] == "jwt"
    assert record["user"] == "demo-analyst"
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert record["subject"] == claims["sub"] and claims["sub"]
    assert record["key_id"] == ""
    assert token not in open(stack.path("logs", "audit.log")).read()
    assert token.split(".")[2] not in open(stack.path("logs", "error.log")).read()


def test_lower_case_scheme_accepted(stack):
    token = stack.token("demo-analyst", stack.secrets["DEMO_ANALYST_PASSWORD"])
    assert ping(stack, token, scheme="bearer").status == 200


def test_token_for_another_resource_is_refused(stack):
    # RFC 8707: a token the provider issued for another audience
    forged_for_other = rs256(stack, claims(stack, aud="https://other.example/mcp"))
    assert_invalid_token(ping(stack, forged_for_other))
    assert ping(stack, rs256(stack, claims(stack, aud=["x", stack.gateway_url]))).status == 200


# hostile tokens ----------------------------------------------------------------

def test_signed_with_the_provider_key_is_accepted(stack):
    # the control for every refusal below: same key, good claims
    assert ping(stack, rs256(stack, claims(stack))).status == 200


def test_alg_none_refused(stack):
    head = b64u(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    body = b64u(json.dumps(claims(stack)).encode())
    assert_invalid_token(ping(stack, f"{head}.{body}."))
    assert_invalid_token(ping(stack, f"{head}.{body}"))


def test_hs256_signed_with_the_public_key_refused(stack):
    kid, key = signing_key(stack)
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    head = b64u(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
    body = b64u(json.dumps(claims(stack)).encode())
    sig = hmac.new(public_pem, f"{head}.{body}".encode(), hashlib.sha256).digest()
    assert_invalid_token(ping(stack, f"{head}.{body}.{b64u(sig)}"))


def test_bad_signature_refused(stack):
    good = rs256(stack, claims(stack))
    head, _, sig = good.split(".")
    tampered = b64u(json.dumps(claims(stack, realm_access={"roles": ["root"]})).encode())
    assert_invalid_token(ping(stack, f"{head}.{tampered}.{sig}"))


def test_expired_refused(stack):
    assert_invalid_token(ping(stack, rs256(stack, claims(stack, exp=int(time.time()) - 120))))


def test_refusal_from_the_cache_reads_as_the_first(stack):
    """A refused token is cached briefly; the second answer comes from the
    cache and still says what the first said, with the same reason."""
    token = rs256(stack, claims(stack, exp=int(time.time()) - 60))
    assert_invalid_token(ping(stack, token, rpc_id=71), rpc_id=71)
    assert_invalid_token(ping(stack, token, rpc_id=72), rpc_id=72)

    def records():
        with open(stack.path("logs", "audit.log")) as f:
            return [json.loads(line) for line in f
                    if '"rpc_id":"71"' in line or '"rpc_id":"72"' in line]

    assert eventually(lambda: len(records()) == 2, 5)
    assert [r["reason"] for r in records()] == ["expired", "expired"]


def test_not_yet_valid_refused(stack):
    assert_invalid_token(ping(stack, rs256(stack, claims(stack, nbf=int(time.time()) + 300))))


def test_missing_exp_refused(stack):
    assert_invalid_token(ping(stack, rs256(stack, claims(stack, exp=None))))


def test_wrong_issuer_refused(stack):
    other = stack.issuer.replace("mcp-realm", "other-realm")
    assert_invalid_token(ping(stack, rs256(stack, claims(stack, iss=other))))


def test_unknown_kid_refused(stack):
    assert_invalid_token(ping(stack, rs256(stack, claims(stack), kid="no-such-key")))


def test_kid_with_path_characters_refused(stack):
    for kid in ("../../../../etc/passwd", "/dev/zero", "a\\b", "%2e%2e/x"):
        assert_invalid_token(ping(stack, rs256(stack, claims(stack), kid=kid)))


def test_huge_token_refused(stack):
    token = rs256(stack, claims(stack, pad="x" * 49 * 1024))
    assert len(token) > 64 * 1024
    assert_invalid_token(ping(stack, token))


def test_malformed_tokens_refused(stack):
    good = rs256(stack, claims(stack))
    head, body, sig = good.split(".")
    for token in ("a.b.c", f"{head}.{body}", f"{head}.{body}.{sig}.x", f"{head}!.{body}.{sig}",
                  f"{b64u(b'not json')}.{body}.{sig}", f"{head}.{b64u(b'[1,2]')}.{sig}",
                  "e30.e30.e30"):
        assert_invalid_token(ping(stack, token))


def test_duplicate_claims_refused(stack):
    _, key = signing_key(stack)
    kid = signing_key(stack)[0]
    head = b64u(json.dumps({"alg": "RS256", "kid": kid}).encode())
    body = json.dumps(claims(stack))[:-1] + ', "preferred_username": "admin"}'
    signing_input = head + "." + b64u(body.encode())
    sig = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    assert_invalid_token(ping(stack, signing_input + "." + b64u(sig)))


# keys ----------------------------------------------------------------------------

def test_key_rotation_is_picked_up_without_reload(stack):
    old_kid = signing_key(stack)[0]
    req = urllib.request.Request(stack.issuer.split("/realms/")[0] + "/_test/rotate-keys",
                                 method="POST")
    with urllib.request.urlopen(req, timeout=10) as resp:
        new_kid = json.load(resp)["kid"]
    assert new_kid != old_kid and signing_key(stack)[0] == new_kid
    token = stack.token("demo-analyst", stack.secrets["DEMO_ANALYST_PASSWORD"])
    assert json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))["kid"] == new_kid
    # an unknown kid makes the gateway fetch the keys again, at most once
    # per mcp_jwks_retry
    assert eventually(lambda: ping(stack, token).status == 200, JWKS_RETRY + 3)


def test_identity_provider_down_keeps_cached_keys_working(stack):
    token = rs256(stack, claims(stack, jti="before-outage"))
    assert ping(stack, token).status == 200
    idp = stack.procs.pop("idp")
    idp.send_signal(signal.SIGTERM)
    idp.wait(timeout=10)
    try:
        assert ping(stack, token).status == 200                           # verified token
        assert ping(stack, rs256(stack, claims(stack, jti="new"))).status == 200   # known key
        assert_invalid_token(ping(stack, rs256(stack, claims(stack), kid="rotated-away")))
    finally:
        stack.start_idp()


def test_no_keys_at_all_fails_closed():
    """A gateway that never fetched the keys, with the provider down: 503."""
    with Stack() as fresh:
        token_claims = {"iss": fresh.issuer, "aud": fresh.gateway_url, "sub": "x",
                        "exp": int(time.time()) + 300, "preferred_username": "x",
                        "realm_access": {"roles": ["mcp-admin"]}}
        token = rs256(fresh, token_claims)
        idp = fresh.procs.pop("idp")
        idp.send_signal(signal.SIGTERM)
        idp.wait(timeout=10)
        resp = ping(fresh, token, rpc_id=3)
        assert resp.status == 503, resp.body
        assert resp.json()["error"]["code"] == -32004
        assert resp.json()["id"] == 3
        assert resp.header("retry-after") == "1"


def test_first_keys_are_waited_for_not_refused():
    """At start no worker has keys: while one request fetches them (the
    provider stalled here for a moment), concurrent tokens wait for that
    fetch instead of getting 503."""
    with Stack() as fresh:
        token_claims = {"iss": fresh.issuer, "aud": fresh.gateway_url, "sub": "x",
                        "exp": int(time.time()) + 300, "preferred_username": "x",
                        "realm_access": {"roles": ["mcp-admin"]}}
        token = rs256(fresh, token_claims)
        idp = fresh.procs["idp"]
        idp.send_signal(signal.SIGSTOP)
        try:
            with concurrent.futures.ThreadPoolExecutor(16) as pool:
                pending = [pool.submit(ping, fresh, token, n) for n in range(16)]
                time.sleep(0.5)
                assert not any(f.done() for f in pending), \
                    [f.result().status for f in pending if f.done()]
                idp.send_signal(signal.SIGCONT)
                answers = [f.result() for f in pending]
        finally:
            idp.send_signal(signal.SIGCONT)
        assert [a.status for a in answers] == [200] * 16, [a.body for a in answers]
        assert [a.json()["id"] for a in answers] == list(range(16))


# RFC 9728 --------------------------------------------------------------------------

def test_protected_resource_metadata(stack):
    origin = stack.gateway_url.rsplit("/mcp/", 1)[0]
    url = origin + "/.well-known/oauth-protected-resource/mcp/log-analysis"
    with urllib.request.urlopen(url, timeout=10) as resp:
        assert resp.headers["Content-Type"] == "application/json"
        meta = json.load(resp)
    assert meta["resource"] == stack.gateway_url
    assert meta["authorization_servers"] == [stack.issuer]
    assert meta["bearer_methods_supported"] == ["header"]
    missing = post(origin + "/.well-known/oauth-protected-resource/nothing", b"", method="GET")
    assert missing.status == 404
