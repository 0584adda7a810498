// One endpoint for every tool set (mcp_aggregate), through the official MCP
// TypeScript SDK: each caller sees the tools of the tool sets its roles open,
// under prefixed names, and each call reaches the tool set that owns it.
//
// Environment (set by `demo/stack.py exec`):
//   MCP_AGGREGATE_URL    the aggregate endpoint, e.g. http://127.0.0.1:8787/mcp
//   MCP_BOTH_KEY         roles mcp-log-analyst and mcp-data-scientist
//   MCP_ANALYST_KEY      role mcp-log-analyst only
//   MCP_DS_WORKER_PID    the data-science worker, stopped (SIGSTOP) mid-test

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';

function env(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run this through demo/stack.py exec`);
  return value;
}

// kill() returns before every thread of a process has stopped: waits until
// each one shows state T in /proc, so no request can still be answered
async function stopped(pid) {
  const state = (tid) => {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  };
  for (let i = 0; i < 200; i++) {
    if (readdirSync(`/proc/${pid}/task`).every((tid) => state(tid) === 'T')) return;
    await sleep(5);
  }
  throw new Error(`process ${pid} did not stop`);
}

async function withClient(key, fn) {
  const transport = new StreamableHTTPClientTransport(new URL(env('MCP_AGGREGATE_URL')), {
    requestInit: { headers: { Authorization: `Bearer ${key}` } },
  });
  const client = new Client({ name: 'ngx-mcp-e2e-aggregate', version: '0.0.0' });
  await client.connect(transport);
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}

const names = async (client) => (await client.listTools()).tools.map((t) => t.name).sort();

function textOf(result) {
  return (result.content ?? []).filter((c) => c.type === 'text').map((c) => c.text).join('\n');
}

describe('aggregate endpoint through the official SDK', () => {
  test('two roles: both tool sets listed, a call to each reaches its tool set', async () => {
    await withClient(env('MCP_BOTH_KEY'), async (client) => {
      const listed = await names(client);
      assert.ok(listed.includes('log_analysis__execute_code'), listed.join(', '));
      assert.ok(listed.includes('data_science__describe'), listed.join(', '));
      assert.ok(listed.every((n) => /^(log_analysis|data_science)__/.test(n)), listed.join(', '));
      // each tool set's own rules still apply: sandbox_status is for mcp-admin
      assert.ok(!listed.some((n) => n.endsWith('__sandbox_status')), listed.join(', '));

      const logs = await client.callTool({
        name: 'log_analysis__execute_code',
        arguments: { code: 'import os; print(os.getcwd().count("/") > 0, 6 * 7)' },
      });
      assert.ok(!logs.isError, textOf(logs));
      assert.match(textOf(logs), /True 42/);

      const data = await client.callTool({ name: 'data_science__list_datasets', arguments: {} });
      assert.ok(!data.isError, textOf(data));
      assert.match(textOf(data), /sales/);
    });
  });

  test('one role: one tool set listed, the other is unknown', async () => {
    await withClient(env('MCP_ANALYST_KEY'), async (client) => {
      const listed = await names(client);
      assert.ok(listed.length > 0);
      assert.ok(listed.every((n) => n.startsWith('log_analysis__')), listed.join(', '));
      await assert.rejects(
        client.callTool({ name: 'data_science__list_datasets', arguments: {} }),
        (err) => err instanceof McpError && /Unknown tool: data_science__list_datasets/.test(err.message),
      );
    });
  });

  test('a tool set stopped mid-test: a partial list within the deadline, then recovery', async () => {
    const pid = Number(env('MCP_DS_WORKER_PID'));
    await withClient(env('MCP_BOTH_KEY'), async (client) => {
      const before = await names(client);
      assert.ok(before.some((n) => n.startsWith('data_science__')));
      process.kill(pid, 'SIGSTOP');
      let partial;
      const started = Date.now();
      try {
        await stopped(pid);
        partial = await names(client);
      } finally {
        process.kill(pid, 'SIGCONT');
      }
      const took = Date.now() - started;
      assert.ok(took < 6000, `the partial list took ${took} ms (deadline 3 s)`);
      assert.ok(partial.some((n) => n.startsWith('log_analysis__')), partial.join(', '));
      assert.ok(!partial.some((n) => n.startsWith('data_science__')), partial.join(', '));
      // the log-analysis tool set kept serving meanwhile
      const result = await client.callTool({ name: 'log_analysis__execute_code', arguments: { code: 'print(1+1)' } });
      assert.match(textOf(result), /2/);
      // and the stopped one is back once it runs again
      let after = [];
      for (let i = 0; i < 20 && !after.some((n) => n.startsWith('data_science__')); i++) {
        after = await names(client);
      }
      assert.deepEqual(after, before);
    });
  });
});
