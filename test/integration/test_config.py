"""Configuration: `nginx -t` refuses every incomplete or invalid setting
with a message that names the directive, and a JWKS file is re-read when it
changes (no reload).  These run nginx with small hand-written configs."""

import base64
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from conftest import eventually, post
from stack import MODULE_SO, NGINX_BIN, free_port


CREATED = []


@pytest.fixture(scope="module", autouse=True)
def remove_nginx_dirs():
    yield
    for d in CREATED:
        shutil.rmtree(d, ignore_errors=True)


def nginx_dir():
    d = tempfile.mkdtemp(prefix="ngx-mcp-conf-")
    CREATED.append(d)
    os.chmod(d, 0o755)
    for sub in ("logs", "tmp"):
        os.makedirs(os.path.join(d, sub))
    with open(os.path.join(d, "secret"), "w") as f:
        f.write(secrets.token_hex(32))
    with open(os.path.join(d, "short"), "w") as f:
        f.write("too-short")
    return d


def conf_text(d, http="", location="", port=None):
    user = "user nobody nogroup;" if os.geteuid() == 0 else ""
    return f"""
load_module {MODULE_SO};
{user}
daemon off;
pid {d}/nginx.pid;
error_log {d}/logs/error.log info;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {d}/tmp;
    proxy_temp_path {d}/tmp;
    {http}
    server {{
        listen 127.0.0.1:{port or free_port()};
        location = /mcp {{
            mcp_endpoint t1;
            mcp_allow_roles r;
            {location}
            proxy_pass http://127.0.0.1:{port or 1}/echo;
        }}
        location = /echo {{
            return 200 '{{"jsonrpc":"2.0","id":1,"result":{{}}}}';
        }}
    }}
}}
"""


@contextlib.contextmanager
def running_nginx(d, location, port):
    """nginx with conf_text()'s server and this location, until the block ends."""
    conf = os.path.join(d, "nginx.conf")
    with open(conf, "w") as f:
        f.write(conf_text(d, "", location, port))
    proc = subprocess.Popen([NGINX_BIN, "-p", d, "-c", conf, "-e", os.path.join(d, "logs", "e")],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        assert eventually(lambda: _listening(port), 10)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.send_signal(signal.SIGQUIT)
        proc.wait(timeout=10)


def nginx_t(http="", location=""):
    d = nginx_dir()
    conf = os.path.join(d, "nginx.conf")
    with open(conf, "w") as f:
        f.write(conf_text(d, http.replace("@d@", d), location.replace("@d@", d)))
    res = subprocess.run([NGINX_BIN, "-t", "-p", d, "-c", conf, "-e", os.path.join(d, "logs", "e")],
                         capture_output=True, text=True)
    return res.returncode, res.stderr


SECRET = "mcp_identity_secret_file @d@/secret;"
REDIS = "mcp_redis_server 127.0.0.1:6379;"


def test_complete_configuration_passes():
    rc, err = nginx_t(REDIS, SECRET)
    assert rc == 0, err
    assert "test is successful" in err


@pytest.mark.parametrize("http,location,message", [
    (REDIS, "", '"mcp_endpoint t1" needs "mcp_identity_secret_file"'),
    (REDIS, "mcp_identity_secret_file @d@/short;", '"mcp_identity_secret_file"'),
    (REDIS, "mcp_identity_secret_file @d@/missing;", 'cannot open secret file'),
    ("", SECRET, '"mcp_endpoint t1" accepts no credentials'),
    ("mcp_redis_server redis.example:6379;", SECRET, '"mcp_redis_server" needs an IPv4 address'),
    ("mcp_redis_server 127.0.0.1;", SECRET, '"mcp_redis_server" needs "IP:PORT"'),
    ("mcp_redis_server 127.0.0.1:70000;", SECRET, '"mcp_redis_server" needs an IPv4 address'),
    (REDIS + "mcp_redis_user gw;", SECRET, '"mcp_redis_user" needs "mcp_redis_password_file"'),
    (REDIS + "mcp_redis_db -1;", SECRET, '"mcp_redis_db"'),
    (REDIS, SECRET + "mcp_jwt_issuer https://idp/realms/r; mcp_jwks_file @d@/secret;",
     '"mcp_endpoint t1" takes JWTs but has no "mcp_jwt_audience" or "mcp_resource"'),
    (REDIS, SECRET + "mcp_jwt_issuer https://idp/realms/r; mcp_jwt_audience https://gw/mcp;",
     'has no keys: set "mcp_jwks_file" or "mcp_jwks_uri"'),
    (REDIS, SECRET + "mcp_jwt_issuer https://idp/realms/r; mcp_jwt_audience https://gw/mcp;"
                     "mcp_jwks_uri /_jwks;", '"mcp_jwks_uri" needs "mcp_auth_cache"'),
    (REDIS, SECRET + "mcp_jwt_issuer https://idp/realms/r; mcp_jwt_audience https://gw/mcp;"
                     "mcp_jwks_file @d@/secret;", '"mcp_jwks_file"'),
    (REDIS, SECRET + "mcp_jwks_file @d@/secret;", 'JWKS configured but no "mcp_jwt_issuer"'),
    (REDIS, SECRET + "mcp_tool exec*code r;", '"mcp_tool" pattern "exec*code"'),
    (REDIS, SECRET + "mcp_tool x bad/role;", 'invalid role name "bad/role"'),
    (REDIS, SECRET + "mcp_resource ftp://gw/mcp;", '"mcp_resource" must be an absolute'),
    (REDIS + "mcp_auth_cache zone=z:1k;", SECRET, '"mcp_auth_cache" zone "z" is too small'),
    (REDIS + "mcp_auth_cache zone=z:1m ttl=soon;", SECRET, 'invalid parameter "ttl=soon"'),
    (REDIS + "mcp_auth_cache ttl=1s;", SECRET, '"mcp_auth_cache" needs "zone=NAME:SIZE"'),
    (REDIS, SECRET + "mcp_jwt_hmac_secret_file @d@/short;",
     '"mcp_jwt_hmac_secret_file" "'),
    (REDIS, SECRET + "mcp_identity_secret_file @d@/secret;",
     '"mcp_identity_secret_file" directive is duplicate'),
    (REDIS, SECRET + "mcp_methods tools*/list;", '"mcp_methods" pattern "tools*/list"'),
    (REDIS, SECRET + "mcp_session_requests maybe;",
     '"mcp_session_requests" takes "pass" or "refuse", not "maybe"'),
    (REDIS, SECRET + "mcp_batch_max 101;",
     '"mcp_batch_max" takes a number of messages from 0 (batches refused) to 100, not "101"'),
    (REDIS, SECRET + "mcp_batch_max many;", '"mcp_batch_max" takes a number of messages'),
    (REDIS, SECRET + "mcp_batch_max 2; mcp_batch_max 3;",
     '"mcp_batch_max" directive is duplicate'),
    (REDIS, SECRET + "mcp_allowed_origins https://a; mcp_allowed_origins https://b;",
     '"mcp_allowed_origins" directive is duplicate'),
    (REDIS + "mcp_endpoint t2;", SECRET, '"mcp_endpoint" directive is not allowed here'),
    (REDIS, SECRET + "mcp_endpoint t2;", '"mcp_endpoint" directive is duplicate'),
])
def test_invalid_configuration_names_the_directive(http, location, message):
    rc, err = nginx_t(http, location)
    assert rc != 0
    assert message in err, err


# a JWKS file is re-read when it changes ------------------------------------

def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwk(key, kid):
    numbers = key.public_key().public_numbers()
    as_bytes = lambda n: n.to_bytes((n.bit_length() + 7) // 8, "big")  # noqa: E731
    return {"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
            "n": b64u(as_bytes(numbers.n)), "e": b64u(as_bytes(numbers.e))}


def token(key, kid, aud):
    head = b64u(json.dumps({"alg": "RS256", "kid": kid}).encode())
    body = b64u(json.dumps({"iss": "https://idp.test/realms/r", "aud": aud, "sub": "s",
                            "exp": int(time.time()) + 300,
                            "preferred_username": "u", "realm_access": {"roles": ["r"]}}).encode())
    sig = key.sign(f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{head}.{body}.{b64u(sig)}"


def test_jwks_file_is_reloaded_when_it_changes():
    d = nginx_dir()
    key_a = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_b = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwks = os.path.join(d, "jwks.json")
    with open(jwks, "w") as f:
        json.dump({"keys": [jwk(key_a, "a")]}, f)
    port = free_port()
    aud = f"http://127.0.0.1:{port}/mcp"
    location = (f"mcp_identity_secret_file {d}/secret; mcp_jwt_issuer https://idp.test/realms/r;"
                f"mcp_resource {aud}; mcp_jwks_file {jwks};")
    with running_nginx(d, location, port) as url:
        ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
        assert post(url, ping, key=token(key_a, "a", aud)).status == 200
        assert post(url, ping, key=token(key_b, "b", aud)).status == 401
        # an API key at a JWT-only endpoint is refused, not looked up
        assert post(url, ping, key="mcp_" + "1" * 16 + "_" + "2" * 64).status == 401
        with open(jwks + ".new", "w") as f:
            json.dump({"keys": [jwk(key_a, "a"), jwk(key_b, "b")]}, f)
        os.rename(jwks + ".new", jwks)
        assert eventually(lambda: post(url, ping, key=token(key_b, "b", aud)).status == 200, 5)
        # a broken file keeps the keys that work
        with open(jwks, "w") as f:
            f.write("{broken")
        time.sleep(1.5)
        assert post(url, ping, key=token(key_a, "a", aud)).status == 200


def _listening(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def test_session_requests_pass_when_configured():
    """GET (SSE stream) and DELETE (session end) reach the sandbox only with
    mcp_session_requests pass, and only when authenticated."""
    d = nginx_dir()
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwks = os.path.join(d, "jwks.json")
    with open(jwks, "w") as f:
        json.dump({"keys": [jwk(key, "a")]}, f)
    port = free_port()
    aud = f"http://127.0.0.1:{port}/mcp"
    location = (f"mcp_identity_secret_file {d}/secret; mcp_jwt_issuer https://idp.test/realms/r;"
                f"mcp_resource {aud}; mcp_jwks_file {jwks}; mcp_session_requests pass;")
    with running_nginx(d, location, port) as url:
        good = token(key, "a", aud)
        for method in ("GET", "DELETE"):
            assert post(url, b"", key=good, method=method,
                        headers={"Mcp-Session-Id": "s-1"}).status == 200
            assert post(url, b"", method=method).status == 401
        assert post(url, b"", key=good, method="PUT").status == 405
