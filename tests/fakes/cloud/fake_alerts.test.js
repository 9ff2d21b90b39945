'use strict';
/**
 * Self-tests of the alerting and on-call fakes: each must refuse what the real service refuses
 * (bad signatures and keys, missing or invalid fields, wrong identifiers) and keep the state the
 * real service keeps (de-duplicated deliveries, incidents per dedup_key, on-call windows).
 *
 * Run: cd tests/fakes/cloud && node --test fake_alerts.test.js
 */
const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const https = require('node:https');
const { sign } = require('./fake_http_backend');
const { FakeWebhookReceiver, FakePagerDutyEvents, FakePagerDutyOncalls, FakeOpsgenieOncalls } = require('./fake_alerts');

const now = () => Math.floor(Date.now() / 1000);

/// One request to a fake, trusting its CA. Resolves {status, headers, body (parsed JSON)}; rejects
/// on a network error or when `timeout` ms pass without an answer.
function request(fake, method, path, { headers = {}, body, timeout } = {}) {
  const url = new URL(path, fake.url);
  const client = url.protocol === 'https:' ? https : http;
  const payload = body === undefined ? undefined : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
  if (payload) headers = { 'content-type': 'application/json', 'content-length': payload.length, ...headers };
  return new Promise((resolve, reject) => {
    const req = client.request(url, { method, headers, ca: fake.caPem, timeout }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) }));
    });
    req.on('timeout', () => req.destroy(new Error('client timeout')));
    req.on('error', reject);
    req.end(payload);
  });
}

async function withFake(Fake, options, fn) {
  const fake = await new Fake(options).start();
  try {
    await fn(fake);
  } finally {
    await fake.close();
  }
}

// --- FakeWebhookReceiver ----------------------------------------------------------------------------------------

function alert(overrides = {}) {
  return { event: 'request.approved', request_id: 'req_01JABCDEFGHJKMNPQRSTVWXYZ0', delivery_id: 'dlv_0001', text: 'approved', ...overrides };
}

/// POSTs a signed alert. options: {secret, timestamp, signature, body (raw string), contentType, path}.
function deliver(fake, document, options = {}) {
  const body = options.body ?? JSON.stringify(document);
  const timestamp = String(options.timestamp ?? now());
  return request(fake, 'POST', options.path || fake.path, {
    body,
    headers: {
      'content-type': options.contentType || 'application/json',
      'x-jitbot-timestamp': timestamp,
      'x-jitbot-signature': options.signature ?? sign(options.secret || fake.secret, timestamp, body),
    },
  });
}

test('webhook: a signed alert is accepted over TLS and recorded', async () => {
  await withFake(FakeWebhookReceiver, {}, async (fake) => {
    assert.match(fake.hookUrl, /^https:\/\/127\.0\.0\.1:\d+\/hook$/);
    assert.ok(fake.caFile && fake.caPem);
    const reply = await deliver(fake, alert());
    assert.deepEqual([reply.status, reply.body], [200, { ok: true }]);
    assert.deepEqual(fake.events, [alert()]);
    assert.equal(fake.calls[0].verified, true);
    assert.equal(fake.calls[0].document.event, 'request.approved');
  });
});

test('webhook: wrong secret, tampered body, stale timestamp, missing signature → 401; nothing recorded', async () => {
  await withFake(FakeWebhookReceiver, { secret: 'hook-secret' }, async (fake) => {
    assert.deepEqual((await deliver(fake, alert(), { secret: 'other' })).body, { error: 'invalid signature' });
    const ts = String(now());
    const signature = sign(fake.secret, ts, JSON.stringify(alert()));
    const tampered = await deliver(fake, alert({ event: 'request.denied' }), { timestamp: ts, signature });
    assert.equal(tampered.status, 401);
    const stale = await deliver(fake, alert(), { timestamp: now() - 301 });
    assert.deepEqual([stale.status, stale.body.error], [401, 'X-Jitbot-Timestamp is more than 5 minutes off']);
    assert.equal((await deliver(fake, alert(), { signature: '' })).status, 401);
    assert.equal(fake.events.length, 0);
    assert.ok(fake.calls.every((c) => c.status === 401 && !c.verified && c.error));
  });
});

test('webhook: body checks: JSON content type, an object, string event/request_id/delivery_id', async () => {
  await withFake(FakeWebhookReceiver, {}, async (fake) => {
    assert.equal((await deliver(fake, alert(), { contentType: 'text/plain' })).status, 415);
    assert.equal((await deliver(fake, null, { body: '{' })).status, 400);
    assert.equal((await deliver(fake, null, { body: '[1]' })).status, 400);
    const missing = await deliver(fake, alert({ delivery_id: undefined }));
    assert.deepEqual([missing.status, missing.body.error], [400, 'missing or non-string fields: delivery_id']);
    assert.equal((await deliver(fake, alert({ request_id: 42 }))).status, 400);
    assert.equal((await deliver(fake, alert({ event: '' }))).status, 400);
    assert.equal((await deliver(fake, alert(), { path: '/other' })).status, 404);
    assert.equal(fake.events.length, 0);
  });
});

test('webhook: a repeated delivery_id is answered 200 but kept in duplicates, not events', async () => {
  await withFake(FakeWebhookReceiver, {}, async (fake) => {
    await deliver(fake, alert());
    const again = await deliver(fake, alert());
    assert.deepEqual([again.status, again.body], [200, { ok: true, duplicate: true }]);
    await deliver(fake, alert({ delivery_id: 'dlv_0002' }));
    assert.deepEqual(fake.events.map((e) => e.delivery_id), ['dlv_0001', 'dlv_0002']);
    assert.deepEqual(fake.duplicates.map((e) => e.delivery_id), ['dlv_0001']);
    assert.deepEqual(fake.calls.map((c) => c.duplicate), [false, true, false]);
  });
});

test('webhook faults: down() answers 503 until up(); failNext(n, status) then normal service', async () => {
  await withFake(FakeWebhookReceiver, { tls: false }, async (fake) => {
    assert.match(fake.url, /^http:\/\//);
    fake.down();
    assert.equal((await deliver(fake, alert())).status, 503);
    assert.equal((await deliver(fake, alert())).status, 503);
    fake.up();
    fake.failNext(2, 502, { retryAfter: 3 });
    const failed = await deliver(fake, alert({ delivery_id: 'd2' }));
    assert.deepEqual([failed.status, failed.headers['retry-after']], [502, '3']);
    assert.equal((await deliver(fake, alert({ delivery_id: 'd2' }))).status, 502);
    assert.equal((await deliver(fake, alert({ delivery_id: 'd2' }))).status, 200);
    assert.deepEqual(fake.events.map((e) => e.delivery_id), ['d2'], 'a failed attempt is not a delivery');
    fake.failNext(1, 504, { afterProcessing: true });
    assert.equal((await deliver(fake, alert({ delivery_id: 'd3' }))).status, 504);
    assert.deepEqual((await deliver(fake, alert({ delivery_id: 'd3' }))).body, { ok: true, duplicate: true }, 'the lost reply still delivered');
  });
});

// --- FakePagerDutyEvents ----------------------------------------------------------------------------------------

function trigger(fake, overrides = {}, payload = {}) {
  return {
    routing_key: fake.routingKey, event_action: 'trigger', dedup_key: 'jitbot/req_01',
    payload: { summary: 'Break-glass access granted to alice', source: 'jitbot', severity: 'critical', custom_details: { role: 'db-admin' }, ...payload },
    client: 'jitbot', client_url: 'https://jitbot.example.com', links: [{ href: 'https://jitbot.example.com/r/1', text: 'request' }],
    ...overrides,
  };
}

const enqueue = (fake, event, options) => request(fake, 'POST', '/v2/enqueue', { body: event, ...options });

test('pagerduty events: a valid trigger is 202 and opens an incident; a resolve closes it', async () => {
  await withFake(FakePagerDutyEvents, {}, async (fake) => {
    assert.match(fake.routingKey, /^[0-9a-f]{32}$/);
    const accepted = await enqueue(fake, trigger(fake));
    assert.deepEqual([accepted.status, accepted.body], [202, { status: 'success', message: 'Event processed', dedup_key: 'jitbot/req_01' }]);
    const incident = fake.incidents.get('jitbot/req_01');
    assert.deepEqual([incident.status, incident.triggers, incident.severity, incident.summary], ['triggered', 1, 'critical', 'Break-glass access granted to alice']);
    assert.deepEqual(incident.custom_details, { role: 'db-admin' });
    await enqueue(fake, trigger(fake));
    assert.equal(incident.triggers, 2, 'a repeat trigger joins the open incident');
    await enqueue(fake, { routing_key: fake.routingKey, event_action: 'acknowledge', dedup_key: 'jitbot/req_01' });
    assert.equal(incident.status, 'acknowledged');
    const resolved = await enqueue(fake, { routing_key: fake.routingKey, event_action: 'resolve', dedup_key: 'jitbot/req_01' });
    assert.equal(resolved.status, 202);
    assert.equal(incident.status, 'resolved');
    assert.deepEqual(incident.history, ['trigger', 'trigger', 'acknowledge', 'resolve']);
    // A new trigger for a resolved key opens a new incident.
    await enqueue(fake, trigger(fake));
    assert.deepEqual([fake.incidents.get('jitbot/req_01').status, fake.incidents.get('jitbot/req_01').triggers], ['triggered', 1]);
    assert.equal(fake.closedIncidents.length, 1);
  });
});

test('pagerduty events: a trigger without dedup_key gets a fresh one; resolving an unknown key is 202 and dropped', async () => {
  await withFake(FakePagerDutyEvents, {}, async (fake) => {
    const first = await enqueue(fake, trigger(fake, { dedup_key: undefined }));
    const second = await enqueue(fake, trigger(fake, { dedup_key: undefined }));
    assert.equal(first.status, 202);
    assert.ok(first.body.dedup_key && first.body.dedup_key !== second.body.dedup_key);
    assert.equal(fake.incidents.size, 2);
    const unknown = await enqueue(fake, { routing_key: fake.routingKey, event_action: 'resolve', dedup_key: 'never-triggered' });
    assert.deepEqual([unknown.status, unknown.body.status], [202, 'success']);
    assert.equal(fake.incidents.has('never-triggered'), false);
    assert.equal(fake.calls.at(-1).dropped, true);
  });
});

test('pagerduty events: routing key must be the configured 32-character key → else 400 invalid event', async () => {
  await withFake(FakePagerDutyEvents, { routingKey: 'R0123456789abcdef0123456789abcde' }, async (fake) => {
    const wrong = await enqueue(fake, trigger(fake, { routing_key: 'f'.repeat(32) }));
    assert.deepEqual([wrong.status, wrong.body], [400, { status: 'invalid event', message: 'Event object is invalid', errors: ['Invalid routing key'] }]);
    const short = await enqueue(fake, trigger(fake, { routing_key: 'abc' }));
    assert.match(short.body.errors[0], /should be 32 characters/);
    assert.equal((await enqueue(fake, trigger(fake, { routing_key: undefined }))).status, 400);
    assert.equal(fake.incidents.size, 0);
    assert.equal((await enqueue(fake, trigger(fake))).status, 202);
  });
});

test('pagerduty events: payload checks for trigger, dedup_key for acknowledge/resolve, event_action enum', async () => {
  await withFake(FakePagerDutyEvents, {}, async (fake) => {
    const errorsOf = async (event) => {
      const reply = await enqueue(fake, event);
      assert.equal(reply.status, 400, JSON.stringify(event));
      assert.equal(reply.body.status, 'invalid event');
      return reply.body.errors;
    };
    assert.deepEqual(await errorsOf(trigger(fake, { payload: undefined })), ["'payload' is missing or blank"]);
    assert.deepEqual(await errorsOf(trigger(fake, {}, { summary: undefined, severity: undefined })),
      ["'payload.summary' is missing or blank", "'payload.severity' is missing or blank"]);
    assert.match((await errorsOf(trigger(fake, {}, { severity: 'high' })))[0], /'payload.severity' is invalid/);
    assert.match((await errorsOf(trigger(fake, {}, { source: '' })))[0], /'payload.source'/);
    assert.match((await errorsOf(trigger(fake, {}, { summary: 'x'.repeat(1025) })))[0], /too long/);
    assert.equal((await enqueue(fake, trigger(fake, { dedup_key: 'a' }, { summary: 'x'.repeat(1024) }))).status, 202);
    assert.match((await errorsOf(trigger(fake, { dedup_key: 'k'.repeat(256) })))[0], /'dedup_key' is too long/);
    assert.match((await errorsOf(trigger(fake, {}, { custom_details: 'text' })))[0], /custom_details/);
    assert.match((await errorsOf(trigger(fake, {}, { timestamp: 'yesterday' })))[0], /timestamp/);
    assert.match((await errorsOf(trigger(fake, { links: [{ text: 'no href' }] })))[0], /href/);
    assert.match((await errorsOf({ routing_key: fake.routingKey, event_action: 'resolve' }))[0], /'dedup_key' is missing/);
    assert.match((await errorsOf({ routing_key: fake.routingKey, event_action: 'acknowledge', dedup_key: '' }))[0], /'dedup_key' is missing/);
    assert.match((await errorsOf(trigger(fake, { event_action: 'escalate' })))[0], /'event_action' is invalid/);
    assert.equal((await enqueue(fake, null, { body: '{not json' })).status, 400);
    assert.equal((await enqueue(fake, trigger(fake), { headers: { 'content-type': 'text/plain' } })).status, 400);
    assert.deepEqual([...fake.incidents.keys()], ['a'], 'only the valid trigger left a mark');
  });
});

test('pagerduty events faults: throttleNext gives 429 throttle event; down() 503; failNext', async () => {
  await withFake(FakePagerDutyEvents, {}, async (fake) => {
    fake.throttleNext(2);
    for (let i = 0; i < 2; i++) {
      const throttled = await enqueue(fake, trigger(fake));
      assert.deepEqual([throttled.status, throttled.body.status], [429, 'throttle event']);
      assert.match(throttled.body.message, /arriving too quickly/);
    }
    assert.equal(fake.incidents.size, 0);
    assert.equal((await enqueue(fake, trigger(fake))).status, 202);
    fake.down();
    assert.equal((await enqueue(fake, trigger(fake))).status, 503);
    fake.up();
    fake.failNext(1, 500);
    assert.equal((await enqueue(fake, trigger(fake))).status, 500);
    assert.equal(fake.incidents.get('jitbot/req_01').triggers, 1);
    assert.deepEqual(fake.calls.map((c) => c.status), [429, 429, 202, 503, 500]);
  });
});

// --- FakePagerDutyOncalls ---------------------------------------------------------------------------------------

const PD_HEADERS = (fake) => ({ authorization: `Token token=${fake.token}`, accept: 'application/vnd.pagerduty+json;version=2' });
const oncalls = (fake, query = '', headers = PD_HEADERS(fake), options = {}) => request(fake, 'GET', `/oncalls${query}`, { headers, ...options });

const ALICE = { email: 'alice@example.com', name: 'Alice Liddell', id: 'PALICE1' };
const BOB = { email: 'bob@example.com', name: 'Bob Builder' };

test('pagerduty oncalls: needs "Token token=<token>"; refuses a non-JSON Accept', async () => {
  await withFake(FakePagerDutyOncalls, { token: 'pd-token' }, async (fake) => {
    for (const authorization of [undefined, 'Token token=wrong', 'Bearer pd-token', 'pd-token']) {
      const headers = { accept: 'application/vnd.pagerduty+json;version=2', ...(authorization && { authorization }) };
      const reply = await oncalls(fake, '', headers);
      assert.deepEqual([reply.status, reply.body], [401, { error: { message: 'Authentication failed', code: 2006 } }], String(authorization));
    }
    assert.equal((await oncalls(fake, '', { authorization: 'Token token=pd-token' })).status, 200, 'no Accept is tolerated');
    assert.equal((await oncalls(fake, '', { authorization: 'Token token=pd-token', accept: 'application/json' })).status, 200);
    assert.equal((await oncalls(fake, '', { authorization: 'Token token=pd-token', accept: 'text/html' })).status, 406);
    assert.equal((await oncalls(fake, '', { authorization: 'Token token=pd-token', accept: 'application/vnd.pagerduty+json;version=1' })).status, 406);
  });
});

test('pagerduty oncalls: filters by schedule; user references carry no email unless include[]=users', async () => {
  await withFake(FakePagerDutyOncalls, {}, async (fake) => {
    fake.setOnCall('PSCHED1', [ALICE], { name: 'Platform primary' });
    fake.setOnCall('PSCHED2', [BOB]);
    const plain = await oncalls(fake, '?schedule_ids[]=PSCHED1');
    assert.equal(plain.status, 200);
    assert.deepEqual(Object.keys(plain.body).sort(), ['limit', 'more', 'offset', 'oncalls', 'total']);
    assert.deepEqual([plain.body.limit, plain.body.offset, plain.body.more, plain.body.total], [25, 0, false, null]);
    const [entry] = plain.body.oncalls;
    assert.equal(plain.body.oncalls.length, 1);
    assert.deepEqual(entry.schedule, { id: 'PSCHED1', type: 'schedule_reference', summary: 'Platform primary',
      self: 'https://api.pagerduty.com/schedules/PSCHED1', html_url: 'https://example.pagerduty.com/schedules/PSCHED1' });
    assert.equal(entry.escalation_policy.type, 'escalation_policy_reference');
    assert.equal(entry.escalation_level, 1);
    assert.deepEqual(Object.keys(entry.user).sort(), ['html_url', 'id', 'self', 'summary', 'type']);
    assert.deepEqual([entry.user.type, entry.user.id, entry.user.summary], ['user_reference', 'PALICE1', 'Alice Liddell']);
    assert.match(entry.start, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);

    const full = await oncalls(fake, `?${encodeURI('schedule_ids[]=PSCHED1&include[]=users')}`);
    assert.deepEqual([full.body.oncalls[0].user.type, full.body.oncalls[0].user.email], ['user', 'alice@example.com']);

    const both = await oncalls(fake, '?schedule_ids[]=PSCHED1&schedule_ids[]=PSCHED2&include[]=users');
    assert.deepEqual(both.body.oncalls.map((o) => o.user.email).sort(), ['alice@example.com', 'bob@example.com']);
    assert.equal((await oncalls(fake)).body.oncalls.length, 2, 'no filter: every schedule');
    // An unknown schedule matches nothing (see the fake's comment on this choice).
    assert.deepEqual((await oncalls(fake, '?schedule_ids[]=PNOSUCH')).body.oncalls, []);
    // "schedule_ids" without [] is not a filter to PagerDuty: everything comes back, and the call says so.
    assert.equal((await oncalls(fake, '?schedule_ids=PSCHED1')).body.oncalls.length, 2);
    assert.deepEqual(fake.calls.at(-1).query.ignored, ['schedule_ids']);
    assert.deepEqual(fake.calls[1].query.schedule_ids, ['PSCHED1']);
    assert.deepEqual(fake.calls[1].query.include, ['users']);
  });
});

test('pagerduty oncalls: only shifts overlapping [since, until]; now by default; earliest; paging', async () => {
  await withFake(FakePagerDutyOncalls, {}, async (fake) => {
    fake.setOnCall('PSCHED1', [ALICE], { start: '2030-01-01T00:00:00Z', end: '2030-01-08T00:00:00Z' });
    fake.addOnCall('PSCHED1', [BOB], { start: '2030-01-08T00:00:00Z', end: '2030-01-15T00:00:00Z' });
    fake.addOnCall('PSCHED1', [ALICE], { start: '2030-01-15T00:00:00Z', end: '2030-01-22T00:00:00Z' });
    const during = async (since, until, extra = '') => (await oncalls(fake, `?schedule_ids[]=PSCHED1&include[]=users&since=${since}&until=${until}${extra}`)).body;
    const emails = (body) => body.oncalls.map((o) => o.user.email);
    assert.deepEqual(emails(await during('2030-01-03T00:00:00Z', '2030-01-03T00:00:00Z')), ['alice@example.com']);
    assert.deepEqual(emails(await during('2030-01-08T00:00:00Z', '2030-01-08T00:00:00Z')), ['bob@example.com'], 'end is exclusive');
    assert.deepEqual(emails(await during('2030-01-07T00:00:00Z', '2030-01-09T00:00:00Z')), ['alice@example.com', 'bob@example.com']);
    assert.deepEqual(emails(await during('2029-12-01T00:00:00Z', '2029-12-02T00:00:00Z')), []);
    assert.deepEqual(emails(await during('2030-01-01T00:00:00Z', '2030-01-20T00:00:00Z', '&earliest=true')), ['alice@example.com', 'bob@example.com']);
    const page = await during('2030-01-01T00:00:00Z', '2030-01-20T00:00:00Z', '&limit=2&total=true');
    assert.deepEqual([page.oncalls.length, page.more, page.total, page.limit], [2, true, 3, 2]);
    const rest = await during('2030-01-01T00:00:00Z', '2030-01-20T00:00:00Z', '&limit=2&offset=2');
    assert.deepEqual([emails(rest), rest.more], [['alice@example.com'], false]);
    assert.deepEqual((await oncalls(fake, '?schedule_ids[]=PSCHED1')).body.oncalls, [], 'no since/until: on call right now');
    fake.setOnCall('PSCHED1', [BOB]);
    assert.equal((await oncalls(fake, '?schedule_ids[]=PSCHED1&include[]=users')).body.oncalls[0].user.email, 'bob@example.com');
    const bad = await oncalls(fake, '?since=last-week');
    assert.deepEqual([bad.status, bad.body.error.code], [400, 2001]);
    assert.equal((await oncalls(fake, '?since=2030-01-02T00:00:00Z&until=2030-01-01T00:00:00Z')).status, 400);
  });
});

test('pagerduty oncalls faults: down/up, failNext, and a delay a client times out on', async () => {
  await withFake(FakePagerDutyOncalls, {}, async (fake) => {
    fake.down();
    assert.equal((await oncalls(fake)).status, 503);
    fake.up();
    fake.failNext(1, 429);
    assert.equal((await oncalls(fake)).status, 429);
    assert.equal((await oncalls(fake)).status, 200);
    fake.delay(2000);
    await assert.rejects(oncalls(fake, '', PD_HEADERS(fake), { timeout: 200 }), /client timeout/);
    fake.delay(Infinity);
    await assert.rejects(oncalls(fake, '', PD_HEADERS(fake), { timeout: 200 }), /client timeout/);
    assert.equal(fake.calls.at(-1).status, 0, 'a hung call is logged, unanswered');
    fake.delay(0);
    assert.equal((await oncalls(fake)).status, 200);
  });
});

// --- FakeOpsgenieOncalls ----------------------------------------------------------------------------------------

const genie = (fake, path, key = fake.key) => request(fake, 'GET', path, { headers: key ? { authorization: `GenieKey ${key}` } : {} });

test('opsgenie: needs "GenieKey <key>"; 401 carries took and requestId', async () => {
  await withFake(FakeOpsgenieOncalls, { key: 'genie-key' }, async (fake) => {
    fake.setOnCall('Platform', ['alice@example.com']);
    for (const key of [null, 'wrong']) {
      const reply = await genie(fake, '/v2/schedules/Platform/on-calls?scheduleIdentifierType=name', key);
      assert.equal(reply.status, 401);
      assert.equal(reply.body.message, 'Could not authenticate');
      assert.equal(typeof reply.body.took, 'number');
      assert.match(reply.body.requestId, /^[0-9a-f-]{36}$/);
    }
    const bearer = await request(fake, 'GET', '/v2/schedules/Platform/on-calls?scheduleIdentifierType=name', { headers: { authorization: 'Bearer genie-key' } });
    assert.equal(bearer.status, 401);
  });
});

test('opsgenie: by name and by id; flat=true gives onCallRecipients, otherwise onCallParticipants', async () => {
  await withFake(FakeOpsgenieOncalls, {}, async (fake) => {
    fake.setOnCall('Platform On Call', ['alice@example.com', 'bob@example.com'], { id: 'd875a1f4-9b4e-4219-a1f3-0c26936d18de' });
    const flat = await genie(fake, `/v2/schedules/${encodeURIComponent('Platform On Call')}/on-calls?scheduleIdentifierType=name&flat=true`);
    assert.equal(flat.status, 200);
    assert.deepEqual(flat.body.data, {
      _parent: { id: 'd875a1f4-9b4e-4219-a1f3-0c26936d18de', name: 'Platform On Call', enabled: true },
      onCallRecipients: ['alice@example.com', 'bob@example.com'],
    });
    assert.ok(flat.body.requestId && typeof flat.body.took === 'number');
    const byId = await genie(fake, '/v2/schedules/d875a1f4-9b4e-4219-a1f3-0c26936d18de/on-calls');
    assert.equal(byId.status, 200);
    assert.equal(byId.body.data.onCallRecipients, undefined);
    assert.deepEqual(byId.body.data.onCallParticipants.map((p) => [p.name, p.type]), [['alice@example.com', 'user'], ['bob@example.com', 'user']]);
    assert.match(byId.body.data.onCallParticipants[0].id, /^[0-9a-f-]{36}$/);
    assert.deepEqual(fake.calls[1].query, { scheduleIdentifierType: 'id', flat: false, date: null });
    assert.equal(fake.calls[0].identifier, 'Platform On Call');
  });
});

test('opsgenie: unknown schedule → 404; a name is not an id; date outside the on-call window → nobody', async () => {
  await withFake(FakeOpsgenieOncalls, {}, async (fake) => {
    fake.setOnCall('Platform', ['alice@example.com'], { start: '2030-01-01T00:00:00Z', end: '2030-01-08T00:00:00Z' });
    const unknown = await genie(fake, '/v2/schedules/Nope/on-calls?scheduleIdentifierType=name');
    assert.deepEqual([unknown.status, unknown.body.message], [404, 'Schedule with identifier [Nope] does not exist']);
    assert.ok(unknown.body.requestId);
    assert.equal((await genie(fake, '/v2/schedules/Platform/on-calls')).status, 404, 'identifier type defaults to id');
    const at = async (date) => (await genie(fake, `/v2/schedules/Platform/on-calls?scheduleIdentifierType=name&flat=true&date=${encodeURIComponent(date)}`)).body.data.onCallRecipients;
    assert.deepEqual(await at('2030-01-03T08:00:00+02:00'), ['alice@example.com']);
    assert.deepEqual(await at('2030-01-09T00:00:00Z'), []);
    assert.equal((await genie(fake, '/v2/schedules/Platform/on-calls?scheduleIdentifierType=team')).status, 422);
    assert.equal((await genie(fake, '/v2/schedules/Platform/on-calls?scheduleIdentifierType=name&date=tomorrow')).status, 422);
  });
});

test('opsgenie faults: down/up, failNext, delay', async () => {
  await withFake(FakeOpsgenieOncalls, { tls: false }, async (fake) => {
    fake.setOnCall('Platform', ['alice@example.com']);
    const path = '/v2/schedules/Platform/on-calls?scheduleIdentifierType=name&flat=true';
    fake.down();
    const down = await genie(fake, path);
    assert.deepEqual([down.status, typeof down.body.message, typeof down.body.requestId], [503, 'string', 'string']);
    fake.up();
    fake.failNext(2, 500);
    assert.equal((await genie(fake, path)).status, 500);
    assert.equal((await genie(fake, path)).status, 500);
    assert.equal((await genie(fake, path)).status, 200);
    fake.delay(150);
    const started = Date.now();
    assert.equal((await genie(fake, path)).status, 200);
    assert.ok(Date.now() - started >= 140, 'the answer waited for the delay');
  });
});
