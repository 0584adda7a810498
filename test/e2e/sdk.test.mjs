// End-to-end test of the gateway with the official MCP TypeScript SDK.
//
// Environment (set by the e2e harness):
//   MCP_URL                 MCP endpoint behind the gateway, e.g. http://127.0.0.1:8787/mcp/log-analysis (required)
//   MCP_ANALYST_KEY         API key whose roles allow every tool (required)
//   MCP_VIEWER_KEY          API key with role mcp-viewer: may list tools, may not run execute_code (required)
//   IDP_TOKEN_URL           demo IdP token endpoint          } optional: the JWT test
//   IDP_CLIENT_SECRET       secret of mcp-gateway-client    } is skipped unless
//   DEMO_ANALYST_PASSWORD   password of demo-analyst        } all three are set
//   DEMO_ADMIN_PASSWORD     password of demo-admin: the analyst/admin comparison
//
// Run: MCP_URL=... MCP_ANALYST_KEY=... MCP_VIEWER_KEY=... node --test test/e2e/sdk.test.mjs

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';

const WRONG_KEY = `mcp_0000000000000000_${'0'.repeat(64)}`;

function requireEnv(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set: this test must be launched by the e2e harness, which starts `
      + 'the gateway and exports MCP_URL, MCP_ANALYST_KEY and MCP_VIEWER_KEY');
  }
  return value;
}

function mcpUrl() {
  return new URL(requireEnv('MCP_URL'));
}

function newClient() {
  return new Client({ name: 'ngx-mcp-e2e', version: '0.0.0' });
}

// Connect (initialize) with an optional bearer credential; returns the client.
async function connect(bearer) {
  const headers = bearer === undefined ? {} : { Authorization: `Bearer ${bearer}` };
  const transport = new StreamableHTTPClientTransport(mcpUrl(), { requestInit: { headers } });
  const client = newClient();
  await client.connect(transport);
  return client;
}

async function withClient(bearer, fn) {
  const client = await connect(bearer);
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}

// The SDK (1.32.x), used without an authProvider, reports a non-2xx answer to
// its POST as StreamableHTTPError with `code` = HTTP status. With an
// authProvider it would raise UnauthorizedError instead; accept either.
function assertHttp401(err) {
  if (err instanceof UnauthorizedError) return true;
  assert.ok(err instanceof StreamableHTTPError,
    `expected StreamableHTTPError(401) or UnauthorizedError, got ${err?.constructor?.name}: ${err?.message}`);
  assert.equal(err.code, 401, `expected HTTP 401, got ${err.code}: ${err.message}`);
  return true;
}

async function assertConnectRejected401(bearer) {
  const transport = new StreamableHTTPClientTransport(mcpUrl(), {
    requestInit: { headers: bearer === undefined ? {} : { Authorization: `Bearer ${bearer}` } },
  });
  const client = newClient();
  try {
    await assert.rejects(client.connect(transport), assertHttp401);
  } finally {
    await client.close().catch(() => {});
  }
}

function textOf(result) {
  return (result.content ?? [])
    .filter((c) => c.type === 'text')
    .map((c) => c.text)
    .join('\n');
}

async function callToolError(client, name, args) {
  try {
    const result = await client.callTool({ name, arguments: args });
    assert.fail(`callTool ${name} succeeded but should have failed: ${JSON.stringify(result).slice(0, 500)}`);
  } catch (err) {
    if (err instanceof assert.AssertionError) throw err;
    assert.ok(err instanceof McpError,
      `expected a JSON-RPC error (McpError), got ${err?.constructor?.name}: ${err?.message}`);
    return err;
  }
  return undefined;
}

async function assertAnalystCanExecute(client) {
  const { tools } = await client.listTools();
  const names = tools.map((t) => t.name);
  const exec = tools.find((t) => t.name === 'execute_code');
  assert.ok(exec, `execute_code missing from tools/list: ${names.join(', ')}`);
  assert.equal(exec.inputSchema?.type, 'object');
  assert.ok(exec.inputSchema?.properties?.code, 'execute_code inputSchema has a "code" property');

  const result = await client.callTool({ name: 'execute_code', arguments: { code: 'print(sum(range(10)))' } });
  assert.ok(!result.isError, `execute_code reported an error: ${textOf(result)}`);
  assert.ok(result.content.some((c) => c.type === 'text' && c.text.includes('45')),
    `no text content containing 45: ${JSON.stringify(result.content)}`);
}

describe('MCP gateway through the official SDK', () => {
  test('environment provides MCP_URL and API keys', () => {
    const url = mcpUrl();
    assert.ok(['http:', 'https:'].includes(url.protocol), `MCP_URL must be http(s): ${url}`);
    requireEnv('MCP_ANALYST_KEY');
    requireEnv('MCP_VIEWER_KEY');
  });

  test('analyst: initialize, list tools, run execute_code', async () => {
    await withClient(requireEnv('MCP_ANALYST_KEY'), async (client) => {
      assert.ok(client.getServerVersion()?.name, 'server reported serverInfo on initialize');
      assert.ok(client.getServerCapabilities()?.tools, 'server advertises the tools capability');
      await assertAnalystCanExecute(client);
    });
  });

  test('viewer: execute_code is hidden and indistinguishable from a nonexistent tool', async () => {
    await withClient(requireEnv('MCP_VIEWER_KEY'), async (client) => {
      const { tools } = await client.listTools();
      const names = tools.map((t) => t.name);
      assert.ok(!names.includes('execute_code'), `viewer must not see execute_code: ${names.join(', ')}`);
      assert.ok(names.includes('get_available_tools'), `viewer should see get_available_tools: ${names.join(', ')}`);

      const denied = await callToolError(client, 'execute_code', { code: 'print(1)' });
      const missing = await callToolError(client, 'no_such_tool', { code: 'print(1)' });

      assert.equal(denied.code, ErrorCode.InvalidParams, `execute_code: ${denied.message}`);
      assert.equal(missing.code, ErrorCode.InvalidParams, `no_such_tool: ${missing.message}`);
      assert.match(denied.message, /unknown tool/i);
      assert.match(missing.message, /unknown tool/i);

      // Same shape once the tool name is blanked out: nothing reveals that
      // execute_code exists but is forbidden.
      const shape = (err, name) => JSON.stringify({
        code: err.code,
        message: err.message.split(name).join('<tool>'),
        data: err.data === undefined ? undefined : JSON.stringify(err.data).split(name).join('<tool>'),
      });
      assert.equal(shape(denied, 'execute_code'), shape(missing, 'no_such_tool'));
    });
  });

  test('no credentials: connect fails with HTTP 401', async () => {
    await assertConnectRejected401(undefined);
  });

  test('wrong API key: connect fails with HTTP 401', async () => {
    await assertConnectRejected401(WRONG_KEY);
  });

  test('JWT from the demo IdP (password grant) is accepted', async (t) => {
    const password = process.env.DEMO_ANALYST_PASSWORD;
    if (!process.env.IDP_TOKEN_URL || !process.env.IDP_CLIENT_SECRET || !password) {
      t.skip('IDP_TOKEN_URL, IDP_CLIENT_SECRET and DEMO_ANALYST_PASSWORD are not all set: '
        + 'the gateway JWT test runs only when the harness starts the demo IdP');
      return;
    }
    const token = await passwordToken('demo-analyst', password);

    await withClient(token, assertAnalystCanExecute);

    // A tampered token must be refused like a wrong key.
    const [h, p, s] = token.split('.');
    const flipped = `${s.slice(0, -2)}${s.at(-2) === 'A' ? 'B' : 'A'}${s.at(-1)}`;
    await assertConnectRejected401(`${h}.${p}.${flipped}`);
  });

  test('demo-analyst and demo-admin see different tools; the admin tool is refused to the analyst',
    async (t) => {
      const analystPassword = process.env.DEMO_ANALYST_PASSWORD;
      const adminPassword = process.env.DEMO_ADMIN_PASSWORD;
      if (!process.env.IDP_TOKEN_URL || !process.env.IDP_CLIENT_SECRET || !analystPassword
          || !adminPassword) {
        t.skip('the demo IdP variables are not all set');
        return;
      }
      const analyst = await passwordToken('demo-analyst', analystPassword);
      const admin = await passwordToken('demo-admin', adminPassword);

      const analystTools = await withClient(analyst, async (c) => (await c.listTools()).tools.map((x) => x.name));
      const adminTools = await withClient(admin, async (c) => (await c.listTools()).tools.map((x) => x.name));
      assert.ok(adminTools.includes('sandbox_status'), `admin tools: ${adminTools}`);
      assert.ok(!analystTools.includes('sandbox_status'), `analyst tools: ${analystTools}`);
      assert.deepEqual(adminTools.filter((x) => x !== 'sandbox_status').sort(), [...analystTools].sort());

      const status = await withClient(admin, (c) => c.callTool({ name: 'sandbox_status', arguments: {} }));
      assert.ok(!status.isError);
      assert.equal(status.structuredContent.ready, true);
      assert.equal(typeof status.structuredContent.limits.wall_ms, 'number');

      await withClient(analyst, async (c) => {
        await assert.rejects(c.callTool({ name: 'sandbox_status', arguments: {} }), (err) => {
          assert.ok(err instanceof McpError);
          assert.equal(err.code, ErrorCode.InvalidParams);
          assert.match(err.message, /Unknown tool: sandbox_status/);
          return true;
        });
      });
    });
});


// An access token from the demo IdP by the password grant, for MCP_URL.
async function passwordToken(username, password) {
  const res = await fetch(process.env.IDP_TOKEN_URL, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`mcp-gateway-client:${process.env.IDP_CLIENT_SECRET}`)
        .toString('base64')}`,
    },
    body: new URLSearchParams({ grant_type: 'password', username, password, resource: mcpUrl().href }),
  });
  const body = await res.json().catch(() => ({}));
  assert.equal(res.status, 200,
    `token request failed: ${res.status} ${body.error ?? ''} ${body.error_description ?? ''}`);
  assert.ok(body.access_token, 'token response has an access_token');
  return body.access_token;
}
