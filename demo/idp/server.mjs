#!/usr/bin/env node
// ngx_mcp demo identity provider.
//
// A small OAuth 2.1 / OpenID Connect provider built on the `oidc-provider`
// package, laid out like a Keycloak realm so the gateway can be tested against
// the same URLs and token claims it will meet in production:
//
//   issuer     http://<host>:<port>/realms/<realm>
//   discovery  <issuer>/.well-known/openid-configuration
//   JWKS       <issuer>/protocol/openid-connect/certs
//   token      <issuer>/protocol/openid-connect/token
//
// Access tokens are RS256-signed JWTs carrying Keycloak-style claims
// (preferred_username, realm_access.roles, resource_access, azp, typ, scope).
// Supported grants: client_credentials (built in) and the resource-owner
// password grant (registered here as a custom grant type).
//
// Run `node demo/idp/server.mjs --help` for the options.

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import Provider, { errors } from 'oidc-provider';

const CLIENT_ID = 'mcp-gateway-client';
const SERVICE_ACCOUNT_USERNAME = `service-account-${CLIENT_ID}`;
const SERVICE_ACCOUNT_ROLES = ['mcp-viewer'];
const PASSWORD_GRANT = 'password';
const DEFAULT_SCOPE = 'openid profile';
const SUPPORTED_SCOPES = ['openid', 'profile', 'email', 'offline_access'];

const USAGE = `usage: node demo/idp/server.mjs [options]

  --host HOST            listen address (default 127.0.0.1, env IDP_HOST);
                         non-loopback addresses need --allow-non-loopback
  --allow-non-loopback   permit listening on a non-loopback address
  --port PORT            listen port (default 8788, env IDP_PORT; 0 = any free port)
  --realm NAME           realm name (default mcp-realm, env IDP_REALM)
  --audience URL         resource a token may be issued for (repeatable; the
                         first is the default; env IDP_AUDIENCES, space-separated)
  --keys-file PATH       private JWKS file, created with a fresh RS256 key if
                         missing, reused otherwise (env IDP_KEYS_FILE; default:
                         an in-memory key that is lost at exit)
  --token-ttl SECONDS    access token lifetime (default 300, env IDP_TOKEN_TTL)
  --test-endpoints       enable POST /_test/rotate-keys and /_test/drop-old-keys
  --help                 show this text

Secrets (random and printed on stdout when unset):
  IDP_CLIENT_SECRET, DEMO_ANALYST_PASSWORD, DEMO_ADMIN_PASSWORD, DEMO_VIEWER_PASSWORD,
  DEMO_SCIENTIST_PASSWORD
`;

class UsageError extends Error {}

// ---------------------------------------------------------------------------
// configuration

function parseConfig(argv, env) {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        host: { type: 'string' },
        port: { type: 'string' },
        realm: { type: 'string' },
        audience: { type: 'string', multiple: true },
        'keys-file': { type: 'string' },
        'token-ttl': { type: 'string' },
        'test-endpoints': { type: 'boolean' },
        'allow-non-loopback': { type: 'boolean' },
        help: { type: 'boolean' },
      },
    }));
  } catch (err) {
    throw new UsageError(err.message);
  }

  if (values.help) {
    return { help: true };
  }

  const host = values.host ?? env.IDP_HOST ?? '127.0.0.1';
  const portText = values.port ?? env.IDP_PORT ?? '8788';
  const realm = values.realm ?? env.IDP_REALM ?? 'mcp-realm';
  const ttlText = values['token-ttl'] ?? env.IDP_TOKEN_TTL ?? '300';
  const audiences = values.audience?.length
    ? values.audience
    : (env.IDP_AUDIENCES ?? 'http://127.0.0.1:8787/mcp/log-analysis').split(/\s+/).filter(Boolean);

  if (!/^\d+$/.test(portText) || Number(portText) > 65535) {
    throw new UsageError(`invalid --port: ${portText}`);
  }
  if (!/^[1-9]\d{0,5}$/.test(ttlText)) {
    throw new UsageError(`invalid --token-ttl: ${ttlText}`);
  }
  if (!/^[A-Za-z0-9._-]+$/.test(realm)) {
    throw new UsageError(`invalid --realm: ${realm}`);
  }
  if (!net.isIP(host) && host !== 'localhost') {
    throw new UsageError(`--host must be an IP address or localhost: ${host}`);
  }
  const allowNonLoopback = Boolean(values['allow-non-loopback'])
    || env.IDP_ALLOW_NON_LOOPBACK === '1';
  if (!isLoopback(host) && !allowNonLoopback) {
    throw new UsageError(`refusing to listen on non-loopback address ${host} `
      + '(pass --allow-non-loopback to override)');
  }
  for (const audience of audiences) {
    let url;
    try {
      url = new URL(audience);
    } catch {
      throw new UsageError(`--audience must be an absolute URL: ${audience}`);
    }
    if (url.hash || url.href.includes('#')) {
      throw new UsageError(`--audience must not contain a fragment: ${audience}`);
    }
  }

  return {
    host,
    port: Number(portText),
    realm,
    audiences: [...new Set(audiences)],
    keysFile: values['keys-file'] ?? env.IDP_KEYS_FILE,
    tokenTTL: Number(ttlText),
    testEndpoints: Boolean(values['test-endpoints']) || env.IDP_TEST_ENDPOINTS === '1',
  };
}

function isLoopback(host) {
  if (host === 'localhost' || host === '::1') return true;
  if (net.isIPv4(host)) return host.split('.')[0] === '127';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(host);
  return Boolean(mapped && mapped[1].split('.')[0] === '127');
}

function randomSecret() {
  return crypto.randomBytes(18).toString('base64url');
}

// Secrets come from the environment; missing ones are generated and reported
// once on stdout so that a human (or a launcher) can use them.
function loadSecrets(env) {
  const generated = [];
  const pick = (name) => {
    const value = env[name];
    if (value) return value;
    const fresh = randomSecret();
    generated.push([name, fresh]);
    return fresh;
  };
  const secrets = {
    clientSecret: pick('IDP_CLIENT_SECRET'),
    analyst: pick('DEMO_ANALYST_PASSWORD'),
    admin: pick('DEMO_ADMIN_PASSWORD'),
    viewer: pick('DEMO_VIEWER_PASSWORD'),
    scientist: pick('DEMO_SCIENTIST_PASSWORD'),
  };
  return { secrets, generated };
}

// Stable, UUID-shaped subject identifiers (Keycloak uses UUIDs for users).
function stableUuid(realm, name) {
  const h = crypto.createHash('sha256').update(`ngx_mcp-demo-idp\0${realm}\0${name}`).digest();
  h[6] = (h[6] & 0x0f) | 0x50; // version nibble
  h[8] = (h[8] & 0x3f) | 0x80; // RFC 4122 variant
  const hex = h.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function buildUsers(realm, secrets) {
  const users = [
    { username: 'demo-analyst', password: secrets.analyst, roles: ['mcp-log-analyst'] },
    { username: 'demo-admin', password: secrets.admin, roles: ['mcp-admin', 'mcp-log-analyst'] },
    { username: 'demo-viewer', password: secrets.viewer, roles: ['mcp-viewer'] },
    // the data-science tool set's role (a second tenant, docs/adding-a-tool-set.md)
    { username: 'demo-scientist', password: secrets.scientist, roles: ['mcp-data-scientist'] },
  ];
  const byName = new Map();
  const bySub = new Map();
  for (const u of users) {
    const user = { ...u, sub: stableUuid(realm, `user:${u.username}`), email: `${u.username}@example.invalid` };
    byName.set(user.username, user);
    bySub.set(user.sub, user);
  }
  return { byName, bySub };
}

function constantTimeEqual(a, b) {
  const ha = crypto.createHash('sha256').update(String(a)).digest();
  const hb = crypto.createHash('sha256').update(String(b)).digest();
  return crypto.timingSafeEqual(ha, hb);
}

// ---------------------------------------------------------------------------
// signing keys

function generateSigningKey() {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  return { ...jwk, kid: crypto.randomBytes(16).toString('base64url'), use: 'sig', alg: 'RS256' };
}

// The keystore is a private JWKS; keys[0] is the active signing key, the rest
// are older keys that stay published for verification until dropped.
class KeyStoreFile {
  constructor(file) {
    this.file = file ? path.resolve(file) : undefined;
    this.keys = [];
  }

  load() {
    if (this.file && fs.existsSync(this.file)) {
      let parsed;
      try {
        parsed = JSON.parse(fs.readFileSync(this.file, 'utf8'));
      } catch (err) {
        throw new Error(`cannot read keys file ${this.file}: ${err.message}`);
      }
      const keys = parsed?.keys;
      if (!Array.isArray(keys) || keys.length === 0) {
        throw new Error(`keys file ${this.file} holds no keys`);
      }
      for (const k of keys) {
        if (k.kty !== 'RSA' || !k.d || !k.kid) {
          throw new Error(`keys file ${this.file} must hold private RSA JWKs with a kid`);
        }
      }
      this.keys = keys.map((k) => ({ ...k, use: 'sig', alg: 'RS256' }));
      return 'loaded';
    }
    this.keys = [generateSigningKey()];
    this.save();
    return 'created';
  }

  save() {
    if (!this.file) return;
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    const tmp = `${this.file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, `${JSON.stringify({ keys: this.keys }, null, 2)}\n`, { mode: 0o600 });
    fs.renameSync(tmp, this.file);
  }

  rotate() {
    this.keys = [generateSigningKey(), ...this.keys];
    this.save();
  }

  dropOld() {
    this.keys = this.keys.slice(0, 1);
    this.save();
  }

  get activeKid() {
    return this.keys[0].kid;
  }

  get kids() {
    return this.keys.map((k) => k.kid);
  }
}

// ---------------------------------------------------------------------------
// the provider

function createProvider({ issuer, config, users, secrets, keyStore, log }) {
  const { InvalidGrant, InvalidRequest, InvalidTarget, InvalidScope } = errors;
  const audiences = new Set(config.audiences);

  const resourceServerInfo = (resource) => {
    if (!audiences.has(resource)) {
      throw new InvalidTarget('unknown resource / audience');
    }
    return {
      scope: SUPPORTED_SCOPES.join(' '),
      audience: resource,
      accessTokenTTL: config.tokenTTL,
      accessTokenFormat: 'jwt',
      jwt: { sign: { alg: 'RS256', kid: keyStore.activeKid } },
    };
  };

  // Keycloak accepts `audience=`; treat it as an alias for `resource=`.
  const requestedAudience = (ctx) => {
    const raw = ctx.oidc?.body?.audience;
    if (raw === undefined || raw === '') return undefined;
    return raw;
  };

  const principalFor = (token) => {
    if (token.kind === 'ClientCredentials') {
      return {
        username: SERVICE_ACCOUNT_USERNAME,
        sub: stableUuid(config.realm, `service-account:${token.clientId}`),
        roles: SERVICE_ACCOUNT_ROLES,
      };
    }
    return users.bySub.get(token.accountId);
  };

  const provider = new Provider(issuer, {
    jwks: { keys: keyStore.keys },
    clients: [{
      client_id: CLIENT_ID,
      client_secret: secrets.clientSecret,
      grant_types: ['client_credentials', PASSWORD_GRANT],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
    }],
    clientAuthMethods: ['client_secret_basic', 'client_secret_post'],
    scopes: SUPPORTED_SCOPES,
    claims: {
      openid: ['sub'],
      profile: ['preferred_username', 'name'],
      email: ['email', 'email_verified'],
    },
    cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: false },
      revocation: { enabled: false },
      resourceIndicators: {
        enabled: true,
        defaultResource: async (ctx, client, oneOf) => {
          if (oneOf) return oneOf;
          return requestedAudience(ctx) ?? config.audiences[0];
        },
        useGrantedResource: async () => true,
        getResourceServerInfo: async (ctx, resource) => resourceServerInfo(resource),
      },
    },
    ttl: {
      AccessToken: config.tokenTTL,
      ClientCredentials: config.tokenTTL,
    },
    findAccount: async (ctx, sub) => {
      const user = users.bySub.get(sub);
      if (!user) return undefined;
      return {
        accountId: sub,
        claims: async () => ({
          sub,
          preferred_username: user.username,
          name: user.username,
          email: user.email,
          email_verified: true,
        }),
      };
    },
    extraTokenClaims: async (ctx, token) => {
      const principal = principalFor(token);
      if (!principal) return undefined;
      const roles = [...principal.roles];
      return {
        typ: 'Bearer',
        azp: token.clientId,
        preferred_username: principal.username,
        realm_access: { roles },
        resource_access: { [token.clientId]: { roles: [...roles] } },
      };
    },
    formats: {
      customizers: {
        jwt: async (ctx, token, jwt) => {
          // Keycloak-shaped header and claims.
          jwt.header = { typ: 'JWT' };
          const principal = principalFor(token);
          if (principal) jwt.payload.sub = principal.sub;
          if (!jwt.payload.scope) jwt.payload.scope = DEFAULT_SCOPE;
        },
      },
    },
    routes: {
      authorization: '/protocol/openid-connect/auth',
      end_session: '/protocol/openid-connect/logout',
      jwks: '/protocol/openid-connect/certs',
      token: '/protocol/openid-connect/token',
      userinfo: '/protocol/openid-connect/userinfo',
    },
    renderError: async (ctx, out) => {
      ctx.type = 'application/json; charset=utf-8';
      ctx.body = out;
    },
  });

  // Resource-owner password credentials grant, as Keycloak offers it
  // ("direct access grants"). Not part of oidc-provider, so registered here.
  const passwordGrant = async (ctx) => {
    const { params, client } = ctx.oidc;
    if (!params.username) throw new InvalidRequest("missing required parameter 'username'");
    if (params.password === undefined) throw new InvalidRequest("missing required parameter 'password'");

    const user = users.byName.get(params.username);
    // Compare even for unknown users so timing does not reveal who exists.
    const ok = constantTimeEqual(user ? user.password : randomSecret(), params.password) && user;
    if (!ok) {
      throw new InvalidGrant('Invalid user credentials');
    }

    let requested = params.resource ?? params.audience;
    if (Array.isArray(requested)) {
      if (requested.length !== 1) {
        throw new InvalidTarget('only a single resource indicator value is supported for this grant type');
      }
      [requested] = requested;
    }
    const resource = requested || config.audiences[0];
    const info = resourceServerInfo(resource);

    const requestedScopes = (params.scope ?? DEFAULT_SCOPE).split(' ').filter(Boolean);
    for (const s of requestedScopes) {
      if (!SUPPORTED_SCOPES.includes(s)) throw new InvalidScope('requested scope is not allowed', s);
    }
    const scope = [...new Set(requestedScopes)].join(' ') || DEFAULT_SCOPE;

    const token = new provider.AccessToken({
      accountId: user.sub,
      client,
      gty: PASSWORD_GRANT,
      scope,
    });
    token.resourceServer = new provider.ResourceServer(resource, info);

    ctx.oidc.entity('AccessToken', token);
    const accessToken = await token.save();

    ctx.body = {
      access_token: accessToken,
      expires_in: token.expiration,
      token_type: token.tokenType,
      scope,
    };
    log(`token issued grant=password user=${user.username} aud=${resource}`);
  };
  provider.registerGrantType(
    PASSWORD_GRANT,
    passwordGrant,
    ['username', 'password', 'scope', 'resource', 'audience'],
    ['resource', 'audience'],
  );

  provider.on('grant.success', (ctx) => {
    if (ctx.oidc.params.grant_type === 'client_credentials') {
      log(`token issued grant=client_credentials client=${ctx.oidc.client?.clientId}`);
    }
  });
  provider.on('grant.error', (ctx, err) => {
    log(`token request rejected grant=${ctx.oidc.params?.grant_type ?? '-'} error=${err.error ?? err.name}`);
  });
  provider.on('server_error', (ctx, err) => {
    log(`server error: ${err.stack ?? err}`);
  });

  return provider;
}

// ---------------------------------------------------------------------------
// HTTP front: realm prefix routing and the optional test endpoints

function sendJson(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}

export async function main(argv = process.argv.slice(2), env = process.env) {
  let config;
  try {
    config = parseConfig(argv, env);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`idp: ${err.message}\n\n${USAGE}`);
      return 2;
    }
    throw err;
  }
  if (config.help) {
    process.stdout.write(USAGE);
    return 0;
  }

  const log = (msg) => process.stderr.write(`idp: ${msg}\n`);

  const keyStore = new KeyStoreFile(config.keysFile);
  const how = keyStore.load();
  log(`signing keys ${how}${keyStore.file ? ` (${keyStore.file})` : ' (in memory)'}, active kid ${keyStore.activeKid}`);

  const { secrets, generated } = loadSecrets(env);
  const users = buildUsers(config.realm, secrets);
  const realmPath = `/realms/${config.realm}`;

  const server = http.createServer();
  let current; // { provider, callback }

  const rebuild = (issuer) => {
    const provider = createProvider({ issuer, config, users, secrets, keyStore, log });
    current = { provider, callback: provider.callback() };
  };

  const handleTest = (req, res, pathname) => {
    if (req.method !== 'POST') {
      sendJson(res, 405, { error: 'method_not_allowed' });
      return;
    }
    req.resume();
    if (pathname === '/_test/rotate-keys') {
      keyStore.rotate();
    } else if (pathname === '/_test/drop-old-keys') {
      keyStore.dropOld();
    } else {
      sendJson(res, 404, { error: 'not_found' });
      return;
    }
    // The provider reads its keystore once, so swap in a fresh instance.
    rebuild(current.provider.issuer);
    log(`${pathname.slice(7)}: active kid ${keyStore.activeKid}, ${keyStore.keys.length} key(s) published`);
    sendJson(res, 200, { kid: keyStore.activeKid, kids: keyStore.kids });
  };

  server.on('request', (req, res) => {
    const q = req.url.indexOf('?');
    const pathname = q === -1 ? req.url : req.url.slice(0, q);
    if (config.testEndpoints && pathname.startsWith('/_test/')) {
      handleTest(req, res, pathname);
      return;
    }
    if (pathname === realmPath || pathname.startsWith(`${realmPath}/`)) {
      const rest = req.url.slice(realmPath.length);
      // Mounted like express would: the provider derives its URLs from originalUrl.
      req.originalUrl = req.url;
      req.url = rest.startsWith('/') ? rest : `/${rest}`;
      current.callback(req, res);
      return;
    }
    sendJson(res, 404, { error: 'not_found' });
  });
  server.on('clientError', (err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
  });

  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });

  const { port } = server.address();
  const hostPart = net.isIPv6(config.host) ? `[${config.host}]` : config.host;
  const issuer = `http://${hostPart}:${port}${realmPath}`;
  rebuild(issuer);

  for (const [name, value] of generated) {
    process.stdout.write(`generated ${name}=${value}\n`);
  }
  log(`realm ${config.realm}, audiences: ${config.audiences.join(' ')}${config.testEndpoints ? ', test endpoints enabled' : ''}`);
  process.stdout.write(`idp ready ${issuer}\n`);

  return new Promise((resolve) => {
    const stop = (signal) => {
      log(`${signal} received, shutting down`);
      server.close(() => resolve(0));
      server.closeAllConnections?.();
      setTimeout(() => resolve(0), 2000).unref();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}

const invokedDirectly = process.argv[1]
  && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (invokedDirectly) {
  main().then(
    (code) => { process.exitCode = code; },
    (err) => {
      process.stderr.write(`idp: fatal: ${err.message}\n`);
      process.exitCode = 1;
    },
  );
}
