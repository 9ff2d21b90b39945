// A do-nothing Socket Mode client for calibrating the benchmark: it acks every envelope the
// moment it arrives ({"envelope_id":…}, no payload) and does nothing else. Run as a separate
// process by slack_bench.js, against the same fake Slack, so the ack latency it gets shows what
// the fake reports for a client that does no work (a reference point: its own event loop counts).
//   SLACK_API_URL=http://127.0.0.1:PORT/api/ SLACK_APP_TOKEN=xapp-… node bench/null_client.js
'use strict';
const WebSocket = require('../tests/fakes/node_modules/ws');

async function main() {
  const response = await fetch(`${process.env.SLACK_API_URL}apps.connections.open`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${process.env.SLACK_APP_TOKEN}` },
  });
  const body = await response.json();
  if (!body.ok) throw new Error(`apps.connections.open failed: ${body.error}`);
  const ws = new WebSocket(body.url, { perMessageDeflate: false });
  ws.on('message', (data) => {
    const text = data.toString();
    const start = text.indexOf('"envelope_id":"');
    if (start < 0) return; // hello, disconnect
    const id = text.slice(start + 15, text.indexOf('"', start + 15));
    ws.send(`{"envelope_id":"${id}"}`);
  });
  ws.on('close', () => process.exit(0));
  process.on('SIGTERM', () => process.exit(0));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
