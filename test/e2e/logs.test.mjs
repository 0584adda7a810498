// "What are the top 5 errors in production logs over the last hour?" the way
// an agent answers it in code mode: through the gateway with the official MCP
// SDK, Python runs next to the generated logs and only the answer comes back.
//
// Environment (set by `demo/stack.py exec`): MCP_URL, MCP_ANALYST_KEY.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

// the agent's own aggregation (plain Python over log_store's records),
// printed as JSON next to log_store's own summary for the same hour
const CODE = `
import collections, json
counts = collections.Counter(
    r["error_type"] for r in log_store.iter_records(since="1h", log_level="ERROR")
    if r["error_type"])
mine = counts.most_common(5)
summary = log_store.get_error_summary(since="1h", top=5)["errors_by_type"]
print(json.dumps({"mine": mine, "summary": summary}))
`;

test('top 5 errors of the last hour, computed next to the logs', async () => {
  const transport = new StreamableHTTPClientTransport(new URL(process.env.MCP_URL), {
    requestInit: { headers: { Authorization: `Bearer ${process.env.MCP_ANALYST_KEY}` } },
  });
  const client = new Client({ name: 'ngx-mcp-e2e-logs', version: '0.0.0' });
  await client.connect(transport);
  try {
    const { tools } = await client.listTools();
    assert.ok(tools.some((t) => t.name === 'execute_code'));

    const result = await client.callTool({ name: 'execute_code', arguments: { code: CODE } });
    const text = result.content.filter((c) => c.type === 'text').map((c) => c.text).join('');
    assert.ok(!result.isError, text);
    const { mine, summary } = JSON.parse(text);

    assert.equal(mine.length, 5, text);
    // the generated logs hold a database incident in their last hour
    assert.equal(mine[0][0], 'DatabaseConnectionRefused', text);
    for (let i = 1; i < mine.length; i++) assert.ok(mine[i - 1][1] >= mine[i][1], text);
    // the agent's count and the tool's summary agree
    assert.deepEqual(Object.fromEntries(mine), summary);
    // a few hundred bytes, not the logs
    assert.ok(text.length < 2048, `${text.length} bytes returned`);
  } finally {
    await client.close();
  }
});
