// End-to-end tests for the demo identity provider (demo/idp/server.mjs).
// Run: node --test test/e2e/idp.test.mjs

import { spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';

import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';

const here = path.dirname(fileURLToPath(import.meta.url));
const SERVER = path.resolve(here, '../../demo/idp/server.mjs');
const CLIENT_ID = 'mcp-gateway-client';
const AUDIENCE = 'http://127.0.0.1:8787/mcp/log-analysis';
const AUDIENCE2 = 'http://127.0.0.1:8787/mcp/other';

const secret = () => crypto.randomBytes(12).toString('base64url');
const SECRETS = {
  IDP_CLIENT_SECRET: secret(),
  DEMO_ANALYST_PASSWORD: secret(),
  DEMO_ADMIN_PASSWORD: secret(),
  DEMO_VIEWER_PASSWORD: secret(),
  DEMO_SCIENTIST_PASSWORD: secret(),
};

// Start the server; resolve with { child, issuer, output() } once it prints
// its ready line, reject if it exits or stays silent for too long.
function startIdp(args, { env = {}, timeoutMs = 20000 } = {}) {
  const child = spawn(process.execPath, [SERVER, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  const exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  const ready = new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`idp did not become ready in ${timeoutMs} ms\nstdout:\n${stdout}\nstderr:\n${stderr}`));
    }, timeoutMs);
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
      const m = /^idp ready (\S+)$/m.exec(stdout);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.stderr.on('data', (chunk) => { stderr += chunk; });
    exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`idp exited early (code ${code}, signal ${signal})\nstdout:\n${stdout}\nstderr:\n${stderr}`));
    });
  });
  return {
    child,
    ready,
    exited,
    output: () => ({ stdout, stderr }),
  };
}

async function stopIdp(handle) {
  if (handle.child.exitCode === null && handle.child.signalCode === null) {
    handle.child.kill('SIGTERM');
  }
  return handle.exited;
}

function basicAuth(id, pw) {
  return `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(pw)}`).toString('base64')}`;
}

async function tokenRequest(tokenUrl, form, { auth = 'basic', clientId = CLIENT_ID, clientSecret = SECRETS.IDP_CLIENT_SECRET } = {}) {
  const body = new URLSearchParams(form);
  const headers = { 'content-type': 'application/x-www-form-urlencoded' };
  if (auth === 'basic') {
    headers.authorization = basicAuth(clientId, clientSecret);
  } else if (auth === 'post') {
    body.set('client_id', clientId);
    body.set('client_secret', clientSecret);
  }
  const res = await fetch(tokenUrl, { method: 'POST', headers, body });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text, headers: res.headers };
}

async function fetchJwks(jwksUrl) {
  const res = await fetch(jwksUrl);
  assert.equal(res.status, 200);
  return res.json();
}

async function verify(token, jwks, issuer, audience = AUDIENCE) {
  return jwtVerify(token, createLocalJWKSet(jwks), {
    issuer,
    audience,
    algorithms: ['RS256'],
  });
}

describe('demo idp', () => {
  let tmp;
  let keysFile;
  let idp;
  let issuer;
  let discovery;

  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ngx-mcp-idp-test-'));
    keysFile = path.join(tmp, 'keys', 'jwks.json');
    idp = startIdp([
      '--port', '0',
      '--keys-file', keysFile,
      '--audience', AUDIENCE,
      '--audience', AUDIENCE2,
      '--test-endpoints',
    ], { env: SECRETS });
    issuer = await idp.ready;
    const res = await fetch(`${issuer}/.well-known/openid-configuration`);
    assert.equal(res.status, 200);
    discovery = await res.json();
  });

  after(async () => {
    if (idp) await stopIdp(idp);
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('issuer and discovery are Keycloak-shaped', () => {
    assert.match(issuer, /^http:\/\/127\.0\.0\.1:\d+\/realms\/mcp-realm$/);
    assert.equal(discovery.issuer, issuer);
    assert.equal(discovery.jwks_uri, `${issuer}/protocol/openid-connect/certs`);
    assert.equal(discovery.token_endpoint, `${issuer}/protocol/openid-connect/token`);
    assert.ok(discovery.grant_types_supported.includes('password'));
    assert.ok(discovery.grant_types_supported.includes('client_credentials'));
    assert.ok(discovery.token_endpoint_auth_methods_supported.includes('client_secret_basic'));
    assert.ok(discovery.token_endpoint_auth_methods_supported.includes('client_secret_post'));
  });

  test('keys file was created with one private RS256 key', () => {
    const stored = JSON.parse(fs.readFileSync(keysFile, 'utf8'));
    assert.equal(stored.keys.length, 1);
    assert.equal(stored.keys[0].kty, 'RSA');
    assert.equal(stored.keys[0].alg, 'RS256');
    assert.ok(stored.keys[0].d, 'private part present');
    assert.ok(stored.keys[0].kid);
    assert.equal(fs.statSync(keysFile).mode & 0o077, 0, 'keys file is not group/world readable');
  });

  test('published JWKS holds public keys only', async () => {
    const jwks = await fetchJwks(discovery.jwks_uri);
    assert.equal(jwks.keys.length, 1);
    for (const k of jwks.keys) {
      assert.equal(k.kty, 'RSA');
      assert.equal(k.alg, 'RS256');
      assert.equal(k.use, 'sig');
      assert.ok(k.kid);
      for (const priv of ['d', 'p', 'q', 'dp', 'dq', 'qi']) assert.equal(k[priv], undefined);
    }
  });

  for (const [username, envName, roles] of [
    ['demo-analyst', 'DEMO_ANALYST_PASSWORD', ['mcp-log-analyst']],
    ['demo-admin', 'DEMO_ADMIN_PASSWORD', ['mcp-admin', 'mcp-log-analyst']],
    ['demo-viewer', 'DEMO_VIEWER_PASSWORD', ['mcp-viewer']],
    ['demo-scientist', 'DEMO_SCIENTIST_PASSWORD', ['mcp-data-scientist']],
  ]) {
    test(`password grant for ${username} yields a verifiable Keycloak-shaped JWT`, async () => {
      const before = Math.floor(Date.now() / 1000);
      const res = await tokenRequest(discovery.token_endpoint, {
        grant_type: 'password', username, password: SECRETS[envName],
      });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.token_type, 'Bearer');
      assert.equal(res.json.expires_in, 300);
      assert.equal(res.headers.get('cache-control'), 'no-store');

      const jwks = await fetchJwks(discovery.jwks_uri);
      const { payload, protectedHeader } = await verify(res.json.access_token, jwks, issuer);
      assert.equal(protectedHeader.alg, 'RS256');
      assert.ok(jwks.keys.some((k) => k.kid === protectedHeader.kid), 'kid is published');

      assert.equal(payload.iss, issuer);
      assert.equal(payload.aud, AUDIENCE);
      assert.equal(payload.typ, 'Bearer');
      assert.equal(payload.azp, CLIENT_ID);
      assert.equal(payload.preferred_username, username);
      assert.match(payload.sub, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      assert.deepEqual([...payload.realm_access.roles].sort(), [...roles].sort());
      assert.deepEqual([...payload.resource_access[CLIENT_ID].roles].sort(), [...roles].sort());
      assert.deepEqual(payload.scope.split(' ').sort(), ['openid', 'profile']);
      assert.ok(typeof payload.jti === 'string' && payload.jti.length >= 16);
      assert.ok(payload.iat >= before - 5 && payload.iat <= before + 60);
      assert.equal(payload.exp - payload.iat, 300);
    });
  }

  test('subject is stable per user and distinct between users', async () => {
    const sub = async (username, pw) => {
      const res = await tokenRequest(discovery.token_endpoint, { grant_type: 'password', username, password: pw });
      assert.equal(res.status, 200, res.text);
      return (await verify(res.json.access_token, await fetchJwks(discovery.jwks_uri), issuer)).payload.sub;
    };
    const a1 = await sub('demo-analyst', SECRETS.DEMO_ANALYST_PASSWORD);
    const a2 = await sub('demo-analyst', SECRETS.DEMO_ANALYST_PASSWORD);
    const b = await sub('demo-admin', SECRETS.DEMO_ADMIN_PASSWORD);
    assert.equal(a1, a2);
    assert.notEqual(a1, b);
  });

  test('client_secret_post works and resource= / audience= select the audience', async () => {
    const viaResource = await tokenRequest(discovery.token_endpoint, {
      grant_type: 'password', username: 'demo-analyst', password: SECRETS.DEMO_ANALYST_PASSWORD, resource: AUDIENCE2,
    }, { auth: 'post' });
    assert.equal(viaResource.status, 200, viaResource.text);
    const jwks = await fetchJwks(discovery.jwks_uri);
    assert.equal((await verify(viaResource.json.access_token, jwks, issuer, AUDIENCE2)).payload.aud, AUDIENCE2);

    const viaAudience = await tokenRequest(discovery.token_endpoint, {
      grant_type: 'password', username: 'demo-analyst', password: SECRETS.DEMO_ANALYST_PASSWORD, audience: AUDIENCE2,
    });
    assert.equal(viaAudience.status, 200, viaAudience.text);
    assert.equal((await verify(viaAudience.json.access_token, jwks, issuer, AUDIENCE2)).payload.aud, AUDIENCE2);
  });

  test('unknown resource is rejected with invalid_target', async () => {
    const res = await tokenRequest(discovery.token_endpoint, {
      grant_type: 'password', username: 'demo-analyst', password: SECRETS.DEMO_ANALYST_PASSWORD, resource: 'http://127.0.0.1:9/elsewhere',
    });
    assert.equal(res.status, 400, res.text);
    assert.equal(res.json.error, 'invalid_target');
  });

  test('client_credentials yields a service-account token with role mcp-viewer', async () => {
    for (const auth of ['basic', 'post']) {
      const res = await tokenRequest(discovery.token_endpoint, { grant_type: 'client_credentials' }, { auth });
      assert.equal(res.status, 200, res.text);
      const { payload } = await verify(res.json.access_token, await fetchJwks(discovery.jwks_uri), issuer);
      assert.equal(payload.preferred_username, 'service-account-mcp-gateway-client');
      assert.deepEqual(payload.realm_access.roles, ['mcp-viewer']);
      assert.deepEqual(payload.resource_access[CLIENT_ID].roles, ['mcp-viewer']);
      assert.equal(payload.azp, CLIENT_ID);
      assert.equal(payload.typ, 'Bearer');
      assert.equal(payload.aud, AUDIENCE);
    }
    const withAudience = await tokenRequest(discovery.token_endpoint, { grant_type: 'client_credentials', audience: AUDIENCE2 });
    assert.equal(withAudience.status, 200, withAudience.text);
    const { payload } = await verify(withAudience.json.access_token, await fetchJwks(discovery.jwks_uri), issuer, AUDIENCE2);
    assert.equal(payload.aud, AUDIENCE2);
  });

  test('wrong password and unknown user give invalid_grant', async () => {
    for (const [username, password] of [
      ['demo-analyst', 'not-the-password'],
      ['demo-analyst', SECRETS.DEMO_ADMIN_PASSWORD],
      ['nobody', 'whatever'],
    ]) {
      const res = await tokenRequest(discovery.token_endpoint, { grant_type: 'password', username, password });
      assert.ok([400, 401].includes(res.status), `status ${res.status}`);
      assert.equal(res.json.error, 'invalid_grant');
      assert.equal(res.json.access_token, undefined);
    }
  });

  test('missing username or password is an invalid_request', async () => {
    const res = await tokenRequest(discovery.token_endpoint, { grant_type: 'password', username: 'demo-analyst' });
    assert.equal(res.status, 400);
    assert.equal(res.json.error, 'invalid_request');
  });

  test('unknown client, wrong secret and no client auth give 401 invalid_client', async () => {
    const form = { grant_type: 'password', username: 'demo-analyst', password: SECRETS.DEMO_ANALYST_PASSWORD };
    const cases = [
      { auth: 'basic', clientId: 'no-such-client' },
      { auth: 'post', clientId: 'no-such-client' },
      { auth: 'basic', clientSecret: 'wrong-secret' },
      { auth: 'post', clientSecret: 'wrong-secret' },
    ];
    for (const opts of cases) {
      const res = await tokenRequest(discovery.token_endpoint, form, opts);
      assert.equal(res.status, 401, `${JSON.stringify(opts)}: ${res.text}`);
      assert.equal(res.json.error, 'invalid_client');
    }
    const none = await tokenRequest(discovery.token_endpoint, form, { auth: 'none' });
    assert.ok([400, 401].includes(none.status), none.text);
    assert.equal(none.json.access_token, undefined);
  });

  test('unsupported grant types are refused', async () => {
    const res = await tokenRequest(discovery.token_endpoint, { grant_type: 'urn:example:nope' });
    assert.equal(res.status, 400);
    assert.equal(res.json.error, 'unsupported_grant_type');
  });

  test('key rotation publishes a new kid and keeps the old one until dropped', async () => {
    const getToken = async () => {
      const res = await tokenRequest(discovery.token_endpoint, {
        grant_type: 'password', username: 'demo-analyst', password: SECRETS.DEMO_ANALYST_PASSWORD,
      });
      assert.equal(res.status, 200, res.text);
      return res.json.access_token;
    };
    const origin = new URL(issuer).origin;

    const oldToken = await getToken();
    const oldKid = decodeProtectedHeader(oldToken).kid;

    const rotate = await fetch(`${origin}/_test/rotate-keys`, { method: 'POST' });
    assert.equal(rotate.status, 200);
    const rotated = await rotate.json();
    assert.notEqual(rotated.kid, oldKid);
    assert.deepEqual(rotated.kids, [rotated.kid, oldKid]);

    const newToken = await getToken();
    const newKid = decodeProtectedHeader(newToken).kid;
    assert.equal(newKid, rotated.kid);

    const jwks = await fetchJwks(discovery.jwks_uri);
    assert.deepEqual(jwks.keys.map((k) => k.kid).sort(), [oldKid, newKid].sort());
    await verify(oldToken, jwks, issuer);
    await verify(newToken, jwks, issuer);

    const stored = JSON.parse(fs.readFileSync(keysFile, 'utf8'));
    assert.deepEqual(stored.keys.map((k) => k.kid), [newKid, oldKid]);

    const drop = await fetch(`${origin}/_test/drop-old-keys`, { method: 'POST' });
    assert.equal(drop.status, 200);
    assert.deepEqual((await drop.json()).kids, [newKid]);
    const jwksAfter = await fetchJwks(discovery.jwks_uri);
    assert.deepEqual(jwksAfter.keys.map((k) => k.kid), [newKid]);
    await verify(newToken, jwksAfter, issuer);
    await assert.rejects(verify(oldToken, jwksAfter, issuer), { code: 'ERR_JWKS_NO_MATCHING_KEY' });
    assert.equal(JSON.parse(fs.readFileSync(keysFile, 'utf8')).keys.length, 1);

    const getOnly = await fetch(`${origin}/_test/rotate-keys`);
    assert.equal(getOnly.status, 405);
  });

  test('logs contain no secrets, passwords or tokens', async () => {
    const res = await tokenRequest(discovery.token_endpoint, {
      grant_type: 'password', username: 'demo-admin', password: SECRETS.DEMO_ADMIN_PASSWORD,
    });
    assert.equal(res.status, 200);
    const { stdout, stderr } = idp.output();
    const all = stdout + stderr;
    for (const value of Object.values(SECRETS)) {
      assert.ok(!all.includes(value), 'a secret appears in the output');
    }
    assert.ok(!all.includes(res.json.access_token));
    assert.ok(!/eyJ[A-Za-z0-9_-]{10,}\./.test(all), 'something JWT-like appears in the output');
    assert.equal(stdout.match(/^idp ready /gm).length, 1);
  });
});

describe('demo idp process behaviour', () => {
  let tmp;

  before(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ngx-mcp-idp-test-'));
  });

  after(() => {
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('refuses a non-loopback host without --allow-non-loopback', async () => {
    for (const host of ['0.0.0.0', '192.0.2.10', '::']) {
      const handle = startIdp(['--host', host, '--port', '0'], { env: SECRETS });
      handle.ready.catch(() => {});
      const { code } = await handle.exited;
      assert.equal(code, 2, `host ${host}`);
      assert.match(handle.output().stderr, /non-loopback/);
      assert.doesNotMatch(handle.output().stdout, /idp ready/);
    }
  });

  test('test endpoints are absent without --test-endpoints; keys file is reused', async () => {
    const keysFile = path.join(tmp, 'jwks.json');
    const first = startIdp(['--port', '0', '--keys-file', keysFile], { env: SECRETS });
    const issuer1 = await first.ready;
    const kid1 = (await fetchJwks(`${issuer1}/protocol/openid-connect/certs`)).keys[0].kid;
    const rotate = await fetch(`${new URL(issuer1).origin}/_test/rotate-keys`, { method: 'POST' });
    assert.equal(rotate.status, 404);
    const exit1 = await stopIdp(first);
    assert.equal(exit1.code, 0, 'clean exit on SIGTERM');

    const second = startIdp(['--port', '0', '--keys-file', keysFile, '--realm', 'other-realm'], { env: SECRETS });
    const issuer2 = await second.ready;
    assert.match(issuer2, /\/realms\/other-realm$/);
    const jwks = await fetchJwks(`${issuer2}/protocol/openid-connect/certs`);
    assert.deepEqual(jwks.keys.map((k) => k.kid), [kid1]);
    second.child.kill('SIGINT');
    const exit2 = await second.exited;
    assert.equal(exit2.code, 0, 'clean exit on SIGINT');
  });

  test('generates and prints passwords and client secret when unset', async () => {
    const env = { ...process.env };
    for (const name of Object.keys(SECRETS)) delete env[name];
    const handle = spawn(process.execPath, [SERVER, '--port', '0'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    handle.stdout.setEncoding('utf8');
    const exited = new Promise((resolve) => handle.once('exit', resolve));
    const issuer = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`not ready: ${stdout}`)), 20000);
      handle.stdout.on('data', (c) => {
        stdout += c;
        const m = /^idp ready (\S+)$/m.exec(stdout);
        if (m) { clearTimeout(timer); resolve(m[1]); }
      });
    });
    try {
      const generated = Object.fromEntries([...stdout.matchAll(/^generated (\w+)=(\S+)$/gm)].map((m) => [m[1], m[2]]));
      assert.deepEqual(Object.keys(generated).sort(), Object.keys(SECRETS).sort());
      const res = await tokenRequest(`${issuer}/protocol/openid-connect/token`, {
        grant_type: 'password', username: 'demo-viewer', password: generated.DEMO_VIEWER_PASSWORD,
      }, { clientSecret: generated.IDP_CLIENT_SECRET });
      assert.equal(res.status, 200, res.text);
    } finally {
      handle.kill('SIGTERM');
      await exited;
    }
  });
});
