'use strict';
/**
 * Proof that FakeSlack is faithful: Slack's OFFICIAL Node SDKs (@slack/socket-mode 3.1.0, @slack/web-api 8.2.0)
 * run unchanged against it, pointed at it with slackApiUrl (protocol doc section 5).
 *
 * Run: cd tests/fakes && node --test sdk_proof.test.js
 */
const test = require('node:test');
const assert = require('node:assert/strict');
const { SocketModeClient, LogLevel } = require('@slack/socket-mode');
const { WebClient, ErrorCode } = require('@slack/web-api');
const { FakeSlack } = require('./fake_slack');

const QUIET = LogLevel.ERROR;

/** An @slack/logger-compatible logger that keeps lines in memory instead of printing them (the drop test makes
 *  the SDK log expected errors). */
function memoryLogger() {
  const lines = [];
  let level = LogLevel.INFO;
  const log = (lvl) => (...msg) => lines.push(`[${lvl}] ${msg.join(' ')}`);
  return {
    lines,
    debug: () => {},
    info: log('info'),
    warn: log('warn'),
    error: log('error'),
    setLevel: (l) => { level = l; },
    getLevel: () => level,
    setName: () => {},
  };
}
// Bolt's / the SDK's reconnect waits clientPingTimeout (5 s) after a disconnect; allow some slack on a busy machine.
const RECONNECT_WAIT_MS = 12000;

/** Runs fn(slack, cleanup) with a started fake; everything registered with cleanup is stopped afterwards. */
async function withFake(options, fn) {
  const slack = new FakeSlack(options);
  await slack.start();
  const closers = [];
  try {
    await fn(slack, (c) => closers.push(c));
  } finally {
    for (const c of closers.reverse()) {
      try {
        await c();
      } catch {
        // best effort
      }
    }
    await slack.stop();
  }
}

/** A started SocketModeClient against the fake, disconnected at cleanup. */
async function startSocketClient(slack, cleanup) {
  const client = new SocketModeClient({
    appToken: slack.appToken,
    logger: memoryLogger(),
    clientOptions: { slackApiUrl: slack.apiUrl },
  });
  cleanup(() => client.disconnect());
  await client.start(); // resolves only after the fake's hello
  return client;
}

test('socket-mode: start() resolves after hello; slash command is acked with a payload that becomes the response', async () => {
  await withFake({}, async (slack, cleanup) => {
    slack.addUser({ id: 'U111', name: 'alice', email: 'alice@example.com', real_name: 'Alice A' });
    const client = await startSocketClient(slack, cleanup);

    assert.equal(slack.connections, 1);
    const open = slack.callsTo('apps.connections.open');
    assert.equal(open.length, 1);
    assert.equal(open[0].auth, 'app');
    assert.equal(open[0].tokenSource, 'header');

    const received = [];
    client.on('slash_commands', async ({ ack, body }) => {
      received.push(body);
      await ack({ text: 'got it' });
    });
    const cmd = slack.slashCommand({ user: 'U111', text: 'request --provider aws', channel: 'C0OPS', command: '/jit' });
    const ack = await slack.waitForAck(cmd.envelope_id);

    assert.deepEqual(ack.payload, { text: 'got it' });
    assert.equal(ack.late, false);
    assert.equal(ack.form, 'payload');
    assert.ok(ack.latencyMs > 0 && ack.latencyMs < 3000);
    assert.equal(received.length, 1);
    assert.equal(received[0].user_name, 'alice');
    assert.equal(received[0].is_enterprise_install, 'false');
    assert.equal(received[0].response_url, cmd.response_url);
    const responses = slack.responses(cmd.response_url);
    assert.equal(responses.length, 1);
    assert.equal(responses[0].text, 'got it');
    assert.equal(responses[0].via, 'ack');
  });
});

test('socket-mode: events_api envelope is acked (SDK sends an empty payload)', async () => {
  await withFake({}, async (slack, cleanup) => {
    const client = await startSocketClient(slack, cleanup);
    const seen = [];
    client.on('app_mention', async ({ ack, event, body, retry_num }) => {
      seen.push({ event, event_id: body.event_id, retry_num });
      await ack();
    });
    const ev = slack.sendEvent({ type: 'app_mention', user: 'U222', text: '<@UBOT> hi', channel: 'C111', ts: '1610241741.000200' }, { event_id: 'Ev111' });
    const ack = await slack.waitForAck(ev.envelope_id);
    assert.equal(ack.late, false);
    assert.equal(ack.form, 'empty');
    assert.deepEqual(seen, [{ event: { type: 'app_mention', user: 'U222', text: '<@UBOT> hi', channel: 'C111', ts: '1610241741.000200' }, event_id: 'Ev111', retry_num: 0 }]);
    // Acked in time: never redelivered.
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(slack.deliveries.length, 1);
    assert.equal(slack.eventTimeouts.length, 0);
  });
});

test('socket-mode: SDK reconnects with a fresh ticket after disconnect refresh_requested', { timeout: 20000 }, async () => {
  await withFake({}, async (slack, cleanup) => {
    const client = await startSocketClient(slack, cleanup);
    client.on('slash_commands', ({ ack }) => ack());

    const affected = slack.disconnect('refresh_requested');
    assert.deepEqual(affected, [1]);
    // Bolt/SDK behaviour: close 1000 first, then a new apps.connections.open + connect ~5 s later.
    await slack.waitFor(() => slack.connectionLog[0].closed !== null, 3000, 'old socket closed by the client');
    assert.equal(slack.connectionLog[0].closeCode, 1000);
    await slack.waitFor(() => slack.connectionLog.length === 2 && slack.liveConnections === 1, RECONNECT_WAIT_MS, 'second connection');

    const [first, second] = slack.connectionLog;
    assert.notEqual(first.ticket, second.ticket);
    assert.equal(slack.callsTo('apps.connections.open').length, 2);
    assert.ok(second.opened - first.closed >= 4000, `reconnect gap ${second.opened - first.closed} ms`);

    // The new socket works.
    const cmd = slack.slashCommand({ user: 'U111', channel: 'C0OPS', text: 'status' });
    const ack = await slack.waitForAck(cmd.envelope_id);
    assert.equal(ack.connectionId, 2);
  });
});

test('socket-mode: SDK reconnects after an abrupt TCP drop (dropSockets)', { timeout: 20000 }, async () => {
  await withFake({}, async (slack, cleanup) => {
    const client = await startSocketClient(slack, cleanup);
    client.on('error', () => {}); // the SDK reports the reset as an error event; expected here
    client.on('slash_commands', ({ ack }) => ack());

    assert.deepEqual(slack.dropSockets(), [1]);
    await slack.waitFor(() => slack.connectionLog.length === 2 && slack.liveConnections === 1, RECONNECT_WAIT_MS, 'second connection after drop');
    assert.equal(slack.connectionLog[0].closeCode, 1006); // no close frame
    assert.notEqual(slack.connectionLog[0].ticket, slack.connectionLog[1].ticket);

    const cmd = slack.slashCommand({ user: 'U111', channel: 'C0OPS', text: 'status' });
    const ack = await slack.waitForAck(cmd.envelope_id);
    assert.equal(ack.connectionId, 2);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Web API
// ---------------------------------------------------------------------------------------------------------------

const fastRetry = { retries: 2, minTimeout: 10, maxTimeout: 50 };
const webClient = (slack, token = slack.botToken, extra = {}) =>
  new WebClient(token, { slackApiUrl: slack.apiUrl, logLevel: QUIET, retryConfig: fastRetry, ...extra });

test('web-api: auth.test', async () => {
  await withFake({}, async (slack) => {
    const res = await webClient(slack).auth.test();
    assert.equal(res.ok, true);
    assert.equal(res.user_id, 'UBOT');
    assert.equal(res.team_id, 'T111');
    assert.equal(slack.callsTo('auth.test')[0].auth, 'bot');
  });
});

test('web-api: chat.postMessage then chat.update; the fake keeps the previous version', async () => {
  await withFake({}, async (slack) => {
    slack.addChannel({ id: 'C0APPROVALS', name: 'approvals' });
    const web = webClient(slack);
    const blocks = [
      { type: 'section', text: { type: 'mrkdwn', text: '*req-42* needs approval' } },
      { type: 'actions', block_id: 'req42', elements: [{ type: 'button', action_id: 'jit_approve', text: { type: 'plain_text', text: 'Approve' }, value: 'req-42' }] },
    ];
    const posted = await web.chat.postMessage({ channel: 'C0APPROVALS', text: 'req-42 pending', blocks });
    assert.equal(posted.channel, 'C0APPROVALS');
    assert.match(posted.ts, /^\d{10}\.\d{6}$/);

    // The SDK sent a form body with blocks JSON-stringified; the fake parsed it.
    const call = slack.callsTo('chat.postMessage')[0];
    assert.ok(call.contentType.startsWith('application/x-www-form-urlencoded'));
    assert.equal(call.args.blocks[1].elements[0].value, 'req-42');

    const updated = await web.chat.update({ channel: 'C0APPROVALS', ts: posted.ts, text: 'req-42 approved', blocks: [] });
    assert.equal(updated.ts, posted.ts);
    const msg = slack.message('C0APPROVALS', posted.ts);
    assert.equal(msg.text, 'req-42 approved');
    assert.deepEqual(msg.blocks, []);
    assert.equal(msg.updates.length, 1);
    assert.equal(msg.updates[0].text, 'req-42 pending');
    assert.equal(msg.updates[0].blocks[1].block_id, 'req42');
    assert.equal(slack.messages('C0APPROVALS').length, 1);
  });
});

test('web-api: ok:false surfaces as slack_webapi_platform_error (injected and real channel_not_found)', async () => {
  await withFake({}, async (slack) => {
    slack.addChannel({ id: 'C0APPROVALS', name: 'approvals' });
    const web = webClient(slack);
    slack.injectError('chat.postMessage', { error: 'channel_not_found' });
    await assert.rejects(web.chat.postMessage({ channel: 'C0APPROVALS', text: 'hi' }), (err) => {
      assert.equal(err.code, ErrorCode.PlatformError);
      assert.equal(err.code, 'slack_webapi_platform_error');
      assert.equal(err.data.error, 'channel_not_found');
      return true;
    });
    // A genuinely unknown channel.
    await assert.rejects(web.chat.postMessage({ channel: 'C0NOPE', text: 'hi' }), (err) => err.code === 'slack_webapi_platform_error' && err.data.error === 'channel_not_found');
    // Not retried: exactly one call each.
    assert.equal(slack.callsTo('chat.postMessage').length, 2);
    // And the injection was one-shot.
    const ok = await web.chat.postMessage({ channel: 'C0APPROVALS', text: 'hi' });
    assert.equal(ok.ok, true);
  });
});

test('web-api: an injected 429 with Retry-After: 1 is retried by the SDK at least ~1 s later', async () => {
  await withFake({}, async (slack) => {
    slack.addChannel({ id: 'C0APPROVALS', name: 'approvals' });
    const web = webClient(slack);
    let rateLimitedEvents = 0;
    web.on('rate_limited', () => rateLimitedEvents++);
    slack.injectError('chat.postMessage', { status: 429, retryAfter: 1 });
    const res = await web.chat.postMessage({ channel: 'C0APPROVALS', text: 'hi' });
    assert.equal(res.ok, true);
    const calls = slack.callsTo('chat.postMessage');
    assert.deepEqual(calls.map((c) => c.status), [429, 200]);
    assert.equal(calls[0].error, 'ratelimited');
    assert.ok(calls[1].atMs - calls[0].atMs >= 950, `retry after ${calls[1].atMs - calls[0].atMs} ms`);
    assert.equal(rateLimitedEvents, 1);
  });
});

test('web-api: rateLimits:true — a 4th message within a second to one channel is 429ed, and the SDK retry succeeds', async () => {
  await withFake({ rateLimits: true }, async (slack) => {
    slack.addChannel({ id: 'C0APPROVALS', name: 'approvals' });
    const web = webClient(slack);
    for (let i = 0; i < 4; i++) await web.chat.postMessage({ channel: 'C0APPROVALS', text: `m${i}` });
    const calls = slack.callsTo('chat.postMessage');
    assert.deepEqual(calls.map((c) => c.status), [200, 200, 200, 429, 200]);
    assert.equal(slack.messages('C0APPROVALS').length, 4);
  });
});

test('web-api: a wrong token gets invalid_auth; the xapp token cannot call chat.postMessage', async () => {
  await withFake({}, async (slack) => {
    slack.addChannel({ id: 'C0APPROVALS', name: 'approvals' });
    await assert.rejects(webClient(slack, 'xoxb-wrong').auth.test(), (err) => err.code === 'slack_webapi_platform_error' && err.data.error === 'invalid_auth');
    await assert.rejects(
      webClient(slack, slack.appToken).chat.postMessage({ channel: 'C0APPROVALS', text: 'hi' }),
      (err) => err.code === 'slack_webapi_platform_error' && err.data.error === 'invalid_auth',
    );
    assert.deepEqual(slack.apiCalls.map((c) => c.auth), ['invalid', 'app']);
    assert.equal(slack.messages('C0APPROVALS').length, 0);
  });
});
