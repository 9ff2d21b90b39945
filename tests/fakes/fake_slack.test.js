'use strict';
/**
 * Self-tests of FakeSlack's own checks, using plain fetch / ws (no Slack SDK).
 *
 * Run: cd tests/fakes && node --test fake_slack.test.js
 */
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const https = require('node:https');
const { execFileSync } = require('node:child_process');
const WebSocket = require('ws');
const { FakeSlack, validateBlocks } = require('./fake_slack');

// ---------------------------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------------------------

/** Form-encodes args the way the SDKs do: nested values JSON-stringified. */
function formBody(args) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(args)) p.set(k, typeof v === 'object' ? JSON.stringify(v) : String(v));
  return p.toString();
}

/**
 * Calls a Web API method. token → Authorization: Bearer (token:null sends none); json:true sends a JSON body.
 * Returns {status, headers, body}.
 */
async function api(slack, method, args = {}, { token = slack.botToken, json = false } = {}) {
  const headers = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  let body;
  if (json) {
    headers['Content-Type'] = 'application/json; charset=utf-8';
    body = JSON.stringify(args);
  } else {
    headers['Content-Type'] = 'application/x-www-form-urlencoded';
    body = formBody(args);
  }
  const res = await fetch(slack.apiUrl + method, { method: 'POST', headers, body });
  return { status: res.status, headers: res.headers, body: await res.json() };
}

/** Opens a Socket Mode connection with plain ws. The returned socket collects parsed frames in ws.frames. */
async function openSocket(slack, { url, autoAck = false, wsOptions = {} } = {}) {
  if (!url) {
    const r = await api(slack, 'apps.connections.open', {}, { token: slack.appToken });
    assert.equal(r.body.ok, true, JSON.stringify(r.body));
    url = r.body.url;
  }
  const ws = new WebSocket(url, wsOptions);
  ws.frames = [];
  ws.pings = [];
  ws.on('message', (data) => {
    const frame = JSON.parse(data.toString());
    ws.frames.push(frame);
    if (autoAck && frame.envelope_id) ws.send(JSON.stringify({ envelope_id: frame.envelope_id, payload: {} }));
  });
  ws.on('ping', (d) => ws.pings.push(d.toString()));
  ws.on('error', () => {});
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('unexpected-response', (req, res) => reject(Object.assign(new Error(`upgrade refused: ${res.statusCode}`), { statusCode: res.statusCode })));
    ws.once('error', reject);
  });
  await slack.waitFor(() => ws.frames.length > 0, 2000, 'first frame (hello)');
  return ws;
}

const envelopes = (ws, type) => ws.frames.filter((f) => f.envelope_id && (!type || f.type === type));
const closed = (ws) => new Promise((resolve) => (ws.readyState === WebSocket.CLOSED ? resolve() : ws.once('close', resolve)));

async function withFake(options, fn) {
  const slack = new FakeSlack(options);
  await slack.start();
  const sockets = [];
  try {
    await fn(slack, sockets);
  } finally {
    for (const ws of sockets) ws.terminate();
    await slack.stop();
  }
}

const button = (action_id, value, text = 'Approve') => ({ type: 'button', action_id, value, text: { type: 'plain_text', text } });
const card = (id) => [
  { type: 'section', text: { type: 'mrkdwn', text: `request ${id}` } },
  { type: 'actions', block_id: `req_${id}`, elements: [button('jit_approve', id), button('jit_deny', id, 'Deny')] },
];

// ---------------------------------------------------------------------------------------------------------------
// Socket Mode
// ---------------------------------------------------------------------------------------------------------------

test('hello has the documented shape and the fake pings clients', async () => {
  await withFake({ serverPingIntervalMs: 30 }, async (slack, sockets) => {
    const ws = await openSocket(slack);
    sockets.push(ws);
    assert.deepEqual(ws.frames[0], {
      type: 'hello', num_connections: 1,
      debug_info: { host: 'applink-fake', build_number: 14, approximate_connection_time: 18060 },
      connection_info: { app_id: 'A111' },
    });
    await slack.waitFor(() => ws.pings.length >= 2, 2000, 'server pings');
    assert.equal(ws.pings[0], 'Ping from applink-fake');
    // ...and pongs client pings.
    const pong = new Promise((r) => ws.once('pong', (d) => r(d.toString())));
    ws.ping('client ping');
    assert.equal(await pong, 'client ping');

    const ws2 = await openSocket(slack);
    sockets.push(ws2);
    assert.equal(ws2.frames[0].num_connections, 2);
    assert.equal(slack.connections, 2);
  });
});

test('tickets are single-use: reusing (or inventing) one is refused with 401', async () => {
  await withFake({}, async (slack, sockets) => {
    const { body } = await api(slack, 'apps.connections.open', {}, { token: slack.appToken });
    assert.match(body.url, /^ws:\/\/127\.0\.0\.1:\d+\/link\/\?ticket=[^&]+&app_id=A111$/);
    sockets.push(await openSocket(slack, { url: body.url }));
    await assert.rejects(openSocket(slack, { url: body.url }), (e) => e.statusCode === 401);
    await assert.rejects(openSocket(slack, { url: body.url.replace(/ticket=[^&]+/, 'ticket=999') }), (e) => e.statusCode === 401);
    const second = (await api(slack, 'apps.connections.open', {}, { token: slack.appToken })).body.url;
    assert.notEqual(second, body.url);
    assert.deepEqual(slack.upgradeRejections.map((r) => r.status), [401, 401]);
  });
});

test('apps.connections.open needs Bearer xapp-: body token → not_authed, wrong tokens → invalid_auth', async () => {
  await withFake({}, async (slack) => {
    const bodyToken = await api(slack, 'apps.connections.open', { token: slack.appToken }, { token: null });
    assert.equal(bodyToken.status, 200);
    assert.equal(bodyToken.headers.get('content-type'), 'application/json; charset=utf-8');
    assert.deepEqual(bodyToken.body, { ok: false, error: 'not_authed' });
    assert.equal((await api(slack, 'apps.connections.open', {}, { token: 'xapp-1-wrong' })).body.error, 'invalid_auth');
    assert.equal((await api(slack, 'apps.connections.open', {}, { token: slack.botToken })).body.error, 'invalid_auth');
    assert.equal((await api(slack, 'apps.connections.open', {}, { token: slack.appToken })).body.ok, true);
    assert.deepEqual(slack.callsTo('apps.connections.open').map((c) => c.auth), ['none', 'invalid', 'bot', 'app']);
  });
});

test('other methods need the bot token; JSON bodies need the Bearer header; unknown methods', async () => {
  await withFake({}, async (slack) => {
    slack.addChannel({ id: 'C1', name: 'general' });
    assert.equal((await api(slack, 'auth.test', {}, { token: null })).body.error, 'not_authed');
    assert.equal((await api(slack, 'auth.test', {}, { token: slack.appToken })).body.error, 'invalid_auth');
    // A form body may carry the token (legacy), a JSON body may not.
    const form = await api(slack, 'chat.postMessage', { token: slack.botToken, channel: 'C1', text: 'hi' }, { token: null });
    assert.equal(form.body.ok, true);
    assert.equal(slack.callsTo('chat.postMessage')[0].tokenSource, 'body');
    const json = await api(slack, 'chat.postMessage', { token: slack.botToken, channel: 'C1', text: 'hi' }, { token: null, json: true });
    assert.equal(json.body.error, 'not_authed');
    const jsonOk = await api(slack, 'chat.postMessage', { channel: 'C1', text: 'hi', blocks: card('r1') }, { json: true });
    assert.equal(jsonOk.body.ok, true);
    assert.deepEqual((await api(slack, 'chat.nope', {})).body, { ok: false, error: 'unknown_method', req_method: 'chat.nope' });
  });
});

test('slash command payload, ack forms and ack-as-response', async () => {
  await withFake({}, async (slack, sockets) => {
    slack.addUser({ id: 'U111', name: 'alice' });
    slack.addChannel({ id: 'C0OPS', name: 'ops' });
    const ws = await openSocket(slack);
    sockets.push(ws);
    const c = slack.slashCommand({ user: 'U111', channel: 'C0OPS', text: 'request --provider aws' });
    await slack.waitFor(() => envelopes(ws).length === 1, 2000, 'slash envelope');
    const env = envelopes(ws)[0];
    assert.equal(env.type, 'slash_commands');
    assert.equal(env.accepts_response_payload, true);
    assert.match(env.envelope_id, /^[0-9a-f-]{36}$/);
    assert.deepEqual(Object.keys(env.payload).sort(), ['api_app_id', 'channel_id', 'channel_name', 'command', 'is_enterprise_install',
      'response_url', 'team_domain', 'team_id', 'text', 'token', 'trigger_id', 'user_id', 'user_name'].sort());
    assert.equal(env.payload.is_enterprise_install, 'false');
    assert.equal(env.payload.channel_name, 'ops');
    assert.equal(env.payload.response_url, c.response_url);
    assert.match(c.response_url, /^http:\/\/127\.0\.0\.1:\d+\/response\/\w+$/);
    ws.send(JSON.stringify({ envelope_id: env.envelope_id, payload: { response_type: 'ephemeral', text: 'Request received' } }));
    const ack = await slack.waitForAck(c.envelope_id);
    assert.equal(ack.form, 'payload');
    assert.equal(slack.responses(c.response_url)[0].text, 'Request received');

    // The bare form {"envelope_id":X} is accepted too.
    const c2 = slack.slashCommand({ user: 'U111', channel: 'C0OPS', text: 'help' });
    await slack.waitFor(() => envelopes(ws).length === 2, 2000, 'second envelope');
    ws.send(JSON.stringify({ envelope_id: c2.envelope_id }));
    assert.equal((await slack.waitForAck(c2.envelope_id)).form, 'bare');
    assert.deepEqual(slack.responses(c2.response_url), []);

    // Duplicate acks and malformed frames are recorded, not fatal.
    ws.send(JSON.stringify({ envelope_id: c2.envelope_id }));
    ws.send('{not json');
    await slack.waitFor(() => slack.clientErrors.length === 2, 2000, 'client errors');
    assert.deepEqual(slack.clientErrors.map((e) => e.kind), ['duplicate_ack', 'malformed_json']);
  });
});

test('ack deadline: an un-acked slash command is recorded in timedOut and not redelivered; a late ack is late', async () => {
  await withFake({ ackDeadlineMs: 150 }, async (slack, sockets) => {
    const ws = await openSocket(slack);
    sockets.push(ws);
    const c = slack.slashCommand({ user: 'U111', channel: 'C0OPS', text: 'status' });
    await slack.waitFor(() => slack.timedOut.includes(c.envelope_id), 2000, 'slash timeout');
    ws.send(JSON.stringify({ envelope_id: c.envelope_id, payload: { text: 'too late' } }));
    const ack = await slack.waitForAck(c.envelope_id);
    assert.equal(ack.late, true);
    assert.ok(ack.latencyMs >= 150);
    assert.deepEqual(slack.responses(c.response_url), []); // the user saw the timeout, not this
    assert.equal(envelopes(ws).length, 1);
  });
});

test('events_api not acked in time is redelivered: new envelope_id, same event_id, retry_attempt+1, up to 3 times', async () => {
  await withFake({ ackDeadlineMs: 300 }, async (slack, sockets) => {
    const ws = await openSocket(slack);
    sockets.push(ws);
    const ev = slack.sendEvent({ type: 'app_mention', user: 'U222', text: 'hi', channel: 'C1', ts: '1.000001' }, { event_id: 'Ev42' });
    await slack.waitFor(() => envelopes(ws, 'events_api').length === 2, 2000, 'first redelivery');
    const [first, retry] = envelopes(ws, 'events_api');
    assert.equal(first.envelope_id, ev.envelope_id);
    assert.equal(first.retry_attempt, 0);
    assert.equal(first.retry_reason, '');
    assert.equal(retry.retry_attempt, 1);
    assert.equal(retry.retry_reason, 'timeout');
    assert.equal(retry.payload.event_id, 'Ev42');
    assert.notEqual(retry.envelope_id, first.envelope_id);
    await slack.waitFor(() => slack.eventTimeouts.length === 4, 5000, 'all retries time out');
    await new Promise((r) => setTimeout(r, 350));
    assert.deepEqual(envelopes(ws, 'events_api').map((e) => e.retry_attempt), [0, 1, 2, 3]);

    // Acking a retry stops the chain.
    const ev2 = slack.sendEvent({ type: 'app_mention', text: 'again' }, { event_id: 'Ev43' });
    await slack.waitFor(() => envelopes(ws).find((e) => e.payload.event_id === 'Ev43' && e.retry_attempt === 1), 3000, 'Ev43 retry');
    const r1 = envelopes(ws).find((e) => e.payload.event_id === 'Ev43' && e.retry_attempt === 1);
    ws.send(JSON.stringify({ envelope_id: r1.envelope_id, payload: {} }));
    const ack = await slack.waitForAck(r1.envelope_id);
    assert.equal(ack.late, false);
    assert.equal(ack.event_id, 'Ev43');
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(envelopes(ws).filter((e) => e.payload.event_id === 'Ev43').length, 2);
    assert.equal(slack.acks.has(ev2.envelope_id), false);
  });
});

test('envelopes wait for a socket: a slash command is delivered if one connects within the deadline', async () => {
  await withFake({ ackDeadlineMs: 1000 }, async (slack, sockets) => {
    const c = slack.slashCommand({ user: 'U111', channel: 'C0OPS', text: 'status' });
    const ev = slack.sendEvent({ type: 'app_mention', text: 'x' });
    assert.equal(c.delivered, false);
    const ws = await openSocket(slack, { autoAck: true });
    sockets.push(ws);
    assert.equal((await slack.waitForAck(c.envelope_id)).late, false);
    assert.equal((await slack.waitForAck(ev.envelope_id)).late, false);

    // No socket for longer than the deadline: the user saw a timeout; the command is never delivered.
    ws.close();
    await closed(ws);
    const c2 = slack.slashCommand({ user: 'U111', channel: 'C0OPS', text: 'status' });
    await slack.waitFor(() => slack.timedOut.includes(c2.envelope_id), 2000, 'timeout while disconnected');
    const ws2 = await openSocket(slack, { autoAck: true });
    sockets.push(ws2);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(envelopes(ws2).length, 0);
  });
});

test('each envelope goes to exactly one of several live sockets', async () => {
  await withFake({}, async (slack, sockets) => {
    for (let i = 0; i < 3; i++) sockets.push(await openSocket(slack, { autoAck: true }));
    const ids = [];
    for (let i = 0; i < 30; i++) ids.push(slack.sendEvent({ type: 'app_mention', text: `${i}` }).envelope_id);
    await Promise.all(ids.map((id) => slack.waitForAck(id)));
    const counts = sockets.map((ws) => envelopes(ws).length);
    assert.equal(counts.reduce((a, b) => a + b, 0), 30);
    assert.ok(counts.filter((n) => n > 0).length >= 2, `spread ${counts}`);
  });
});

test('too_many_websockets: the 11th concurrent socket is told so and closed', async () => {
  await withFake({}, async (slack, sockets) => {
    for (let i = 0; i < 10; i++) sockets.push(await openSocket(slack));
    assert.equal(sockets[9].frames[0].num_connections, 10);
    const eleventh = await openSocket(slack);
    sockets.push(eleventh);
    assert.equal(eleventh.frames[0].type, 'disconnect');
    assert.equal(eleventh.frames[0].reason, 'too_many_websockets');
    await closed(eleventh);
    assert.equal(slack.connections, 10);
    assert.equal(slack.connectionLog[10].rejected, true);
  });
});

test('faults: disconnect warning drops TCP later, refresh_requested closes later, rejectUpgrades, linkDisabled', async () => {
  await withFake({ warningDropMs: 100, refreshCloseMs: 100 }, async (slack, sockets) => {
    const a = await openSocket(slack);
    const b = await openSocket(slack);
    sockets.push(a, b);
    assert.deepEqual(slack.disconnect('warning', { which: 'oldest' }), [1]);
    await closed(a);
    await slack.waitFor(() => slack.connectionLog[0].closed !== null, 2000, 'server saw the drop');
    assert.deepEqual(a.frames[1], { type: 'disconnect', reason: 'warning', debug_info: { host: 'applink-fake' } });
    assert.equal(slack.connectionLog[0].closeCode, 1006); // no close frame

    slack.disconnect('refresh_requested');
    const code = await new Promise((r) => b.once('close', (c) => r(c)));
    assert.equal(code, 1001);
    assert.equal(b.frames[1].reason, 'refresh_requested');

    slack.rejectUpgrades(1);
    await assert.rejects(openSocket(slack), (e) => e.statusCode === 409);
    const c = await openSocket(slack);
    sockets.push(c);

    slack.linkDisabled();
    await slack.waitFor(() => c.frames.some((f) => f.reason === 'link_disabled'), 2000, 'link_disabled frame');
    assert.deepEqual((await api(slack, 'apps.connections.open', {}, { token: slack.appToken })).body, { ok: false, error: 'link_disabled' });
    slack.linkEnabled();
    assert.equal((await api(slack, 'apps.connections.open', {}, { token: slack.appToken })).body.ok, true);
  });
});

test('halfOpen: the socket stops ponging and gets no envelopes; a new socket gets them', async () => {
  await withFake({}, async (slack, sockets) => {
    const a = await openSocket(slack);
    sockets.push(a);
    slack.halfOpen();
    assert.equal(slack.liveConnections, 0);
    assert.equal(slack.connections, 1); // TCP still open
    let ponged = false;
    a.once('pong', () => { ponged = true; });
    a.ping('anyone?');
    const c = slack.slashCommand({ user: 'U111', channel: 'C0OPS', text: 'x' });
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(ponged, false);
    assert.equal(envelopes(a).length, 0);
    const b = await openSocket(slack, { autoAck: true });
    sockets.push(b);
    assert.equal((await slack.waitForAck(c.envelope_id)).connectionId, 2);
    assert.deepEqual(slack.dropSockets(), [1, 2]);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Web API
// ---------------------------------------------------------------------------------------------------------------

test('Block Kit limits: 51 blocks, long section text, long button value → invalid_blocks; text > 40000 → msg_too_long', async () => {
  await withFake({}, async (slack) => {
    slack.addChannel({ id: 'C1', name: 'general' });
    const divider = { type: 'divider' };
    const fifty = await api(slack, 'chat.postMessage', { channel: 'C1', text: 't', blocks: Array(50).fill(divider) });
    assert.equal(fifty.body.ok, true);
    const r = await api(slack, 'chat.postMessage', { channel: 'C1', text: 't', blocks: Array(51).fill(divider) });
    assert.equal(r.body.error, 'invalid_blocks');
    assert.match(r.body.errors[0], /json-pointer:\/blocks/);
    const longText = [{ type: 'section', text: { type: 'mrkdwn', text: 'x'.repeat(3001) } }];
    assert.equal((await api(slack, 'chat.postMessage', { channel: 'C1', text: 't', blocks: longText })).body.error, 'invalid_blocks');
    const longValue = [{ type: 'actions', elements: [button('a', 'v'.repeat(2001))] }];
    assert.equal((await api(slack, 'chat.postMessage', { channel: 'C1', text: 't', blocks: longValue })).body.error, 'invalid_blocks');
    assert.deepEqual(validateBlocks([{ type: 'actions', elements: Array(26).fill(0).map((_, i) => button(`a${i}`, 'v')) }]),
      ['no more than 25 items allowed [json-pointer:/blocks/0/elements]']);
    assert.equal((await api(slack, 'chat.postMessage', { channel: 'C1', text: 'x'.repeat(40001) })).body.error, 'msg_too_long');
    assert.equal((await api(slack, 'chat.postMessage', { channel: 'C1' })).body.error, 'no_text');
    assert.equal(slack.messages('C1').length, 1);
  });
});

test('channels, DMs, users and usergroups', async () => {
  await withFake({}, async (slack) => {
    slack.addUser({ id: 'U111', name: 'alice', email: 'alice@example.com', real_name: 'Alice A' });
    slack.addUsergroup('S0APPROVERS', ['U222', 'U333']);
    slack.addChannel({ id: 'C1', name: 'general' });
    assert.equal((await api(slack, 'chat.postMessage', { channel: 'C0NOPE', text: 'x' })).body.error, 'channel_not_found');
    assert.equal((await api(slack, 'chat.postMessage', { channel: 'D0FORGED', text: 'x' })).body.error, 'channel_not_found');
    const open1 = await api(slack, 'conversations.open', { users: 'U111' });
    const open2 = await api(slack, 'conversations.open', { users: 'U111' });
    assert.equal(open1.body.channel.id, open2.body.channel.id);
    assert.equal(open1.body.channel.id, slack.dmChannel('U111'));
    assert.equal((await api(slack, 'chat.postMessage', { channel: open1.body.channel.id, text: 'dm' })).body.ok, true);
    const toUser = await api(slack, 'chat.postMessage', { channel: 'U111', text: 'dm2' });
    assert.equal(toUser.body.channel, open1.body.channel.id);
    assert.deepEqual(slack.messages('U111').map((m) => m.text), ['dm', 'dm2']);
    assert.equal((await api(slack, 'conversations.open', { users: 'U999' })).body.error, 'user_not_found');

    const info = await api(slack, 'users.info', { user: 'U111' });
    assert.equal(info.body.user.profile.email, 'alice@example.com');
    assert.equal((await api(slack, 'users.info', { user: 'U999' })).body.error, 'user_not_found');
    assert.deepEqual((await api(slack, 'usergroups.users.list', { usergroup: 'S0APPROVERS' })).body.users, ['U222', 'U333']);
    assert.equal((await api(slack, 'usergroups.users.list', { usergroup: 'S0NOPE' })).body.error, 'no_such_subteam');

    const eph = await api(slack, 'chat.postEphemeral', { channel: 'C1', user: 'U111', text: 'only you' });
    assert.equal(eph.body.ok, true);
    assert.deepEqual(slack.ephemerals.map((e) => [e.channel, e.user, e.text]), [['C1', 'U111', 'only you']]);

    assert.equal((await api(slack, 'chat.update', { channel: 'C1', ts: '1.000001', text: 'x' })).body.error, 'message_not_found');
  });
});

test('message ts values are unique and increasing', async () => {
  await withFake({}, async (slack) => {
    slack.addChannel({ id: 'C1', name: 'general' });
    const ts = [];
    for (let i = 0; i < 20; i++) ts.push((await api(slack, 'chat.postMessage', { channel: 'C1', text: `${i}` })).body.ts);
    for (const t of ts) assert.match(t, /^\d{10}\.\d{6}$/);
    for (let i = 1; i < ts.length; i++) assert.ok(Number(ts[i].replace('.', '')) > Number(ts[i - 1].replace('.', '')));
  });
});

test('rateLimits:true: per-channel chat.postMessage and per-tier buckets answer 429 with Retry-After', async () => {
  await withFake({ rateLimits: true }, async (slack) => {
    slack.addChannel({ id: 'C1', name: 'general' });
    slack.addChannel({ id: 'C2', name: 'other' });
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await api(slack, 'chat.postMessage', { channel: 'C1', text: `${i}` })).status);
    assert.deepEqual(statuses, [200, 200, 200, 429]);
    const limited = slack.callsTo('chat.postMessage')[3];
    assert.equal(limited.status, 429);
    assert.equal(limited.error, 'ratelimited');
    const r = await api(slack, 'chat.postMessage', { channel: 'C1', text: 'again' });
    assert.equal(r.status, 429);
    assert.equal(r.headers.get('retry-after'), '1');
    assert.deepEqual(r.body, { ok: false, error: 'ratelimited' });
    // Another channel has its own bucket.
    assert.equal((await api(slack, 'chat.postMessage', { channel: 'C2', text: 'x' })).status, 200);
    // Tier 2 (usergroups.users.list): burst 5, then 429 with a multi-second Retry-After.
    slack.addUsergroup('S1', []);
    const t2 = [];
    for (let i = 0; i < 6; i++) t2.push(await api(slack, 'usergroups.users.list', { usergroup: 'S1' }));
    assert.deepEqual(t2.map((x) => x.status), [200, 200, 200, 200, 200, 429]);
    assert.ok(Number(t2[5].headers.get('retry-after')) >= 2);
  });
});

test('injectError: ok:false, 429, 5xx, nth call, reset', async () => {
  await withFake({}, async (slack) => {
    slack.injectError('auth.test', { error: 'fatal_error' });
    assert.deepEqual((await api(slack, 'auth.test')).body, { ok: false, error: 'fatal_error' });
    assert.equal((await api(slack, 'auth.test')).body.ok, true);
    slack.injectError('auth.test', { status: 429, retryAfter: 7 });
    const rl = await api(slack, 'auth.test');
    assert.equal(rl.status, 429);
    assert.equal(rl.headers.get('retry-after'), '7');
    slack.injectError('auth.test', { status: 503, count: 2 });
    assert.equal((await api(slack, 'auth.test')).status, 503);
    assert.equal((await api(slack, 'auth.test')).status, 503);
    assert.equal((await api(slack, 'auth.test')).status, 200);
    slack.injectError('auth.test', { error: 'internal_error', nth: 2 });
    assert.equal((await api(slack, 'auth.test')).body.ok, true);
    assert.equal((await api(slack, 'auth.test')).body.error, 'internal_error');
    assert.equal((await api(slack, 'auth.test')).body.ok, true);
    slack.injectError('auth.test', { reset: true });
    await assert.rejects(api(slack, 'auth.test'));
    assert.equal(slack.callsTo('auth.test').filter((c) => c.injected).length, 6);
  });
});

test('closedBy: a client close frame, a close the fake started, and a dropped TCP connection are told apart', async () => {
  await withFake({ refreshCloseMs: 50 }, async (slack, sockets) => {
    const a = await openSocket(slack);
    const b = await openSocket(slack);
    const c = await openSocket(slack);
    sockets.push(a, b, c);
    a.close(1000, 'bye');
    await slack.waitFor(() => slack.connectionLog[0].closed !== null, 2000, 'the fake to see the client close');
    assert.equal(slack.connectionLog[0].closedBy, 'client');
    assert.equal(slack.connectionLog[0].closeCode, 1000);

    slack.disconnect('refresh_requested', { which: 2 });
    await slack.waitFor(() => slack.connectionLog[1].closed !== null, 3000, 'the close the fake started');
    assert.equal(slack.connectionLog[1].closedBy, 'server');

    c.terminate(); // TCP ends with no close frame, as when a process dies
    await slack.waitFor(() => slack.connectionLog[2].closed !== null, 2000, 'the fake to see the drop');
    assert.equal(slack.connectionLog[2].closedBy, 'drop');
    assert.equal(slack.connectionLog[2].closeCode, 1006);
  });
});

test('injectLatency dropIfGone: a call the client gives up on is recorded when it hangs up, and never answered', async () => {
  await withFake({}, async (slack) => {
    slack.addChannel({ id: 'C1', name: 'general' });
    slack.injectLatency('chat.postMessage', 10 * 60 * 1000, { dropIfGone: true });
    const controller = new AbortController();
    const started = Date.now();
    const pending = fetch(`${slack.apiUrl}chat.postMessage`, {
      method: 'POST', signal: controller.signal,
      headers: { Authorization: `Bearer ${slack.botToken}`, 'Content-Type': 'application/x-www-form-urlencoded' },
      body: formBody({ channel: 'C1', text: 'never answered' }),
    });
    setTimeout(() => controller.abort(), 300);
    await assert.rejects(pending);
    const call = await slack.waitFor(() => slack.callsTo('chat.postMessage')[0], 2000, 'the abandoned call recorded');
    assert.equal(call.dropped, true);
    assert.ok(call.durationMs >= 250 && Date.now() - started < 5000, `recorded when the client hung up (${call.durationMs} ms)`);
    assert.equal(slack.messages('C1').length, 0, 'an abandoned call never takes effect');
  });
});

test('views.open: trigger_id must be live (3 s), single-use and known', async () => {
  await withFake({ triggerTtlMs: 100 }, async (slack) => {
    const view = { type: 'modal', callback_id: 'jit_request', title: { type: 'plain_text', text: 'JIT' }, blocks: [] };
    const { trigger_id } = slack.slashCommand({ user: 'U111', channel: 'C0OPS' });
    const opened = await api(slack, 'views.open', { trigger_id, view });
    assert.equal(opened.body.ok, true);
    assert.match(opened.body.view.id, /^V/);
    assert.equal(opened.body.view.callback_id, 'jit_request');
    assert.equal((await api(slack, 'views.open', { trigger_id, view })).body.error, 'exchanged_trigger_id');
    assert.equal((await api(slack, 'views.open', { trigger_id: '1.2.3', view })).body.error, 'invalid_trigger_id');
    const late = slack.slashCommand({ user: 'U111', channel: 'C0OPS' });
    await new Promise((r) => setTimeout(r, 150));
    assert.equal((await api(slack, 'views.open', { trigger_id: late.trigger_id, view })).body.error, 'expired_trigger_id');
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Interactivity and response_url
// ---------------------------------------------------------------------------------------------------------------

test('clickButton sends the real button and throws for buttons that are not on the current card', async () => {
  await withFake({}, async (slack, sockets) => {
    slack.addUser({ id: 'U222', name: 'bob' });
    slack.addChannel({ id: 'C0APPROVALS', name: 'approvals' });
    const ws = await openSocket(slack);
    sockets.push(ws);
    const { ts } = (await api(slack, 'chat.postMessage', { channel: 'C0APPROVALS', text: 'req-42', blocks: card('req-42') })).body;

    assert.throws(() => slack.clickButton({ user: 'U222', channel: 'C0APPROVALS', ts, action_id: 'jit_revoke' }), /no button action_id=jit_revoke/);
    assert.throws(() => slack.clickButton({ user: 'U222', channel: 'C0APPROVALS', ts: '1.000000', action_id: 'jit_approve' }), /no message/);

    const click = slack.clickButton({ user: 'U222', channel: 'C0APPROVALS', ts, action_id: 'jit_approve' });
    await slack.waitFor(() => envelopes(ws, 'interactive').length === 1, 2000, 'block_actions');
    const env = envelopes(ws, 'interactive')[0];
    assert.equal(env.accepts_response_payload, false);
    const p = env.payload;
    assert.equal(p.type, 'block_actions');
    assert.deepEqual(p.user, { id: 'U222', username: 'bob', name: 'bob', team_id: 'T111' });
    assert.deepEqual(p.container, { type: 'message', message_ts: ts, channel_id: 'C0APPROVALS', is_ephemeral: false });
    assert.deepEqual(p.channel, { id: 'C0APPROVALS', name: 'approvals' });
    assert.equal(p.is_enterprise_install, false);
    assert.equal(p.message.ts, ts);
    assert.equal(p.message.blocks.length, 2);
    assert.equal(p.response_url, click.response_url);
    assert.equal(p.actions[0].action_id, 'jit_approve');
    assert.equal(p.actions[0].block_id, 'req_req-42');
    assert.equal(p.actions[0].value, 'req-42');
    assert.equal(p.actions[0].type, 'button');
    ws.send(JSON.stringify({ envelope_id: env.envelope_id, payload: {} }));
    await slack.waitForAck(click.envelope_id);

    // Blocks sent without block_id get one assigned, as Slack does.
    const plain = (await api(slack, 'chat.postMessage', { channel: 'C0APPROVALS', text: 'x', blocks: [{ type: 'actions', elements: [button('go', '1')] }] })).body;
    assert.match(slack.message('C0APPROVALS', plain.ts).blocks[0].block_id, /^\w+$/);

    // Once the card is updated without buttons, they can no longer be clicked.
    await api(slack, 'chat.update', { channel: 'C0APPROVALS', ts, text: 'approved', blocks: [{ type: 'section', text: { type: 'mrkdwn', text: 'approved' } }] });
    assert.throws(() => slack.clickButton({ user: 'U222', channel: 'C0APPROVALS', ts, action_id: 'jit_approve' }), /no button/);
  });
});

test('response_url: 5 uses then 404; replace_original updates the clicked message; delete_original deletes it', async () => {
  await withFake({}, async (slack, sockets) => {
    slack.addChannel({ id: 'C0APPROVALS', name: 'approvals' });
    sockets.push(await openSocket(slack, { autoAck: true }));
    const { ts } = (await api(slack, 'chat.postMessage', { channel: 'C0APPROVALS', text: 'req-1', blocks: card('req-1') })).body;
    const { response_url } = slack.clickButton({ user: 'U222', channel: 'C0APPROVALS', ts, action_id: 'jit_deny' });
    const post = (body) => fetch(response_url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });

    assert.equal((await post({ replace_original: true, text: 'denied by bob', blocks: [] })).status, 200);
    const msg = slack.message('C0APPROVALS', ts);
    assert.equal(msg.text, 'denied by bob');
    assert.equal(msg.updates.length, 1);
    for (let i = 0; i < 3; i++) assert.equal((await post({ text: `note ${i}` })).status, 200);
    assert.equal((await post({ delete_original: true })).status, 200);
    assert.equal(slack.messages('C0APPROVALS').length, 0);
    assert.equal(slack.message('C0APPROVALS', ts).deleted, true);
    assert.equal((await post({ text: 'sixth' })).status, 404);
    assert.equal(slack.responses(response_url).length, 5);
    assert.equal(slack.responses(response_url)[0].replace_original, true);
  });
});

test('submitView applies response_action errors, and a plain ack closes the modal', async () => {
  await withFake({}, async (slack, sockets) => {
    const ws = await openSocket(slack);
    sockets.push(ws);
    const { trigger_id } = slack.slashCommand({ user: 'U111', channel: 'C0OPS' });
    const blocks = [{ type: 'input', block_id: 'reason_blk', label: { type: 'plain_text', text: 'Reason' }, element: { type: 'plain_text_input', action_id: 'reason' } }];
    const { body } = await api(slack, 'views.open', { trigger_id, view: { type: 'modal', callback_id: 'jit_request', title: { type: 'plain_text', text: 'JIT' }, submit: { type: 'plain_text', text: 'Request' }, blocks } });
    const viewId = body.view.id;
    const s1 = slack.submitView({ view_id: viewId, values: { reason_blk: { reason: { type: 'plain_text_input', value: '' } } } });
    await slack.waitFor(() => envelopes(ws, 'interactive').length === 1, 2000, 'view_submission');
    const env = envelopes(ws, 'interactive')[0];
    assert.equal(env.payload.type, 'view_submission');
    assert.equal(env.payload.view.id, viewId);
    assert.equal(env.payload.view.state.values.reason_blk.reason.value, '');
    ws.send(JSON.stringify({ envelope_id: s1.envelope_id, payload: { response_action: 'errors', errors: { reason_blk: 'Required' } } }));
    await slack.waitForAck(s1.envelope_id);
    assert.deepEqual(slack.views.get(viewId).errors, { reason_blk: 'Required' });
    const s2 = slack.submitView({ view_id: viewId, values: { reason_blk: { reason: { type: 'plain_text_input', value: 'INC-1' } } } });
    await slack.waitFor(() => envelopes(ws, 'interactive').length === 2, 2000, 'second view_submission');
    ws.send(JSON.stringify({ envelope_id: s2.envelope_id, payload: {} }));
    await slack.waitForAck(s2.envelope_id);
    assert.equal(slack.views.get(viewId).state_closed, true);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// TLS
// ---------------------------------------------------------------------------------------------------------------

function httpsJson(url, { method = 'POST', headers = {}, body = '', ca } = {}) {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method, headers, ca }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, body: JSON.parse(Buffer.concat(chunks).toString()) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('TLS mode: https Web API, wss Socket Mode and https response_url with a self-signed certificate', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fake-slack-tls-'));
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-days', '1',
      '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem')], { stdio: 'ignore' });
    const key = fs.readFileSync(path.join(dir, 'key.pem'), 'utf8');
    const cert = fs.readFileSync(path.join(dir, 'cert.pem'), 'utf8');
    await withFake({ tls: { key, cert } }, async (slack, sockets) => {
      assert.match(slack.apiUrl, /^https:\/\/localhost:\d+\/api\/$/);
      const auth = await httpsJson(`${slack.apiUrl}auth.test`, { headers: { Authorization: `Bearer ${slack.botToken}` }, ca: cert });
      assert.equal(auth.body.ok, true);
      const open = await httpsJson(`${slack.apiUrl}apps.connections.open`, { headers: { Authorization: `Bearer ${slack.appToken}` }, ca: cert });
      assert.match(open.body.url, /^wss:\/\/localhost:\d+\/link\/\?ticket=/);
      const ws = await openSocket(slack, { url: open.body.url, autoAck: true, wsOptions: { ca: cert } });
      sockets.push(ws);
      assert.equal(ws.frames[0].type, 'hello');
      const c = slack.slashCommand({ user: 'U111', channel: 'C0OPS', text: 'status' });
      assert.equal((await slack.waitForAck(c.envelope_id)).late, false);
      assert.match(c.response_url, /^https:\/\/localhost:\d+\/response\//);
      const r = await httpsJson(c.response_url, { headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ text: 'over tls' }), ca: cert });
      assert.equal(r.status, 200);
      assert.equal(slack.responses(c.response_url)[0].text, 'over tls');
      // Without trusting the certificate, TLS fails.
      await assert.rejects(httpsJson(`${slack.apiUrl}auth.test`, {}));
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
