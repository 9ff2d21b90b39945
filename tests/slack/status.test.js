// The status endpoint of `jitbot run` ([bot] listen): /healthz, /readyz and /metrics as a probe, a Prometheus server
// and an operator would use them against the real binary and the fake Slack, and `--log-format json` as a log
// collector reads it.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const net = require('node:net');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn, spawnSync } = require('node:child_process');
const { isDeepStrictEqual } = require('node:util');
const { performance } = require('node:perf_hooks');
const { AWS, BotUnderTest, USERS, cardText, isActive, runJitbot, until, withBot } = require('./harness');

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const METRICS_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
/// Prometheus's default scrape timeout.
// A kubelet's probe gives up after its timeoutSeconds; 3 s is a common setting.
const PROBE_TIMEOUT_MS = 3000;
const SCRAPE_TIMEOUT_MS = 10000;

/// A TCP port nobody listens on now: bound to port 0 by the kernel's choice, read, and let go. ([bot] listen refuses
/// port 0, so the config names the port itself.)
function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

const listenOn = (port) => `listen = "127.0.0.1:${port}"`;

/// One HTTP request on a fresh connection: {status, headers, body, ms}. Rejects on a network error, or when nothing
/// arrives for timeoutMs.
function request(port, target, { method = 'GET', timeoutMs = 10000 } = {}) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const options = { host: '127.0.0.1', port, path: target, method, agent: false, timeout: timeoutMs };
    const req = http.request(options, (res) => {
      const chunks = [];
      res.on('data', (chunk) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers,
        body: Buffer.concat(chunks).toString('utf8'), ms: performance.now() - started }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer to ${method} ${target} within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/// Sends `text` on a raw TCP connection and resolves with everything the server sent until it closed, and when.
function rawExchange(port, text, timeoutMs = 10000) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const socket = net.connect(port, '127.0.0.1');
    const chunks = [];
    const timer = setTimeout(
      () => socket.destroy(new Error(`the server kept the connection open ${timeoutMs} ms`)), timeoutMs);
    socket.on('connect', () => { if (text) socket.write(text); });
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', (error) => { clearTimeout(timer); reject(error); });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ raw: Buffer.concat(chunks).toString('latin1'), ms: performance.now() - started });
    });
  });
}

/// GET /readyz until it says `status` (200 or 503); a refused connection (the server not up yet) counts as not yet.
async function waitForReadyz(port, status, timeoutMs, description) {
  return until(async () => {
    try {
      const answer = await request(port, '/readyz');
      return answer.status === status && answer;
    } catch {
      return false;
    }
  }, timeoutMs, description, 100);
}

// ---------------------------------------------------------------------------------------------------------------
// A small parser of the Prometheus text format 0.0.4, strict enough to fail on what a Prometheus server refuses.
// ---------------------------------------------------------------------------------------------------------------

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function parseValue(text, line) {
  if (text === '+Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  if (text === 'NaN') return NaN;
  assert.match(text, /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/, `a sample value is a number: ${JSON.stringify(line)}`);
  return Number(text);
}

/// `# HELP` text: \\ and \n are the only escapes.
function unescapeHelp(text) {
  return text.replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c === '\\' ? '\\' : `\\${c}`));
}

/// The labels of a sample, from just after its "{": [labels, index after the "}"].
function parseLabels(line, at) {
  const labels = {};
  for (;;) {
    if (line[at] === '}') return [labels, at + 1];
    const eq = line.indexOf('=', at);
    assert.ok(eq > at, `a label has a name and a value: ${JSON.stringify(line)}`);
    const name = line.slice(at, eq);
    assert.match(name, LABEL_NAME, `a label name is valid: ${JSON.stringify(line)}`);
    assert.equal(line[eq + 1], '"', `a label value is quoted: ${JSON.stringify(line)}`);
    let value = '';
    let i = eq + 2;
    for (; i < line.length && line[i] !== '"'; i++) {
      if (line[i] === '\\') {
        const next = line[++i];
        assert.ok(['\\', '"', 'n'].includes(next),
          `only \\\\, \\" and \\n are escapes in a label value: ${JSON.stringify(line)}`);
        value += next === 'n' ? '\n' : next;
      } else {
        value += line[i];
      }
    }
    assert.equal(line[i], '"', `a label value ends with a quote: ${JSON.stringify(line)}`);
    assert.ok(!(name in labels), `label ${name} appears once: ${JSON.stringify(line)}`);
    labels[name] = value;
    at = i + 1;
    if (line[at] === ',') at++;
    else assert.equal(line[at], '}', `labels are separated by commas: ${JSON.stringify(line)}`);
  }
}

/// The families of an exposition: Map name → {name, help, type, samples: [{name, labels, value}]}. Fails on a
/// malformed line, a sample outside a declared family, a family declared twice or a series given twice.
function parsePrometheus(text) {
  assert.ok(text === '' || text.endsWith('\n'), 'the exposition ends with a newline');
  const families = new Map();
  const series = new Set();
  let current = null;
  const family = (name) => {
    assert.match(name, METRIC_NAME, `a metric name is valid: ${name}`);
    if (!families.has(name)) families.set(name, { name, help: undefined, type: undefined, samples: [] });
    return families.get(name);
  };
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const meta = /^#\s+(HELP|TYPE)\s+(\S+)(?:\s(.*))?$/.exec(line);
    if (meta) {
      const [, kind, name, rest = ''] = meta;
      const entry = family(name);
      if (kind === 'HELP') {
        assert.equal(entry.help, undefined, `one HELP line for ${name}`);
        entry.help = unescapeHelp(rest);
      } else {
        assert.equal(entry.type, undefined, `one TYPE line for ${name}`);
        assert.equal(entry.samples.length, 0, `the TYPE line of ${name} comes before its samples`);
        assert.ok(['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(rest),
          `a known TYPE for ${name}: ${rest}`);
        entry.type = rest;
      }
      current = entry;
      continue;
    }
    if (line.startsWith('#')) continue; // a comment
    const name = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
    assert.ok(name, `a sample line starts with a metric name: ${JSON.stringify(line)}`);
    let at = name[0].length;
    let labels = {};
    if (line[at] === '{') [labels, at] = parseLabels(line, at + 1);
    const fields = line.slice(at).trim().split(/\s+/);
    assert.ok(line[at] === ' ' && fields.length >= 1 && fields.length <= 2,
      `a sample is NAME{LABELS} VALUE [TIMESTAMP]: ${JSON.stringify(line)}`);
    const value = parseValue(fields[0], line);
    // The sample belongs to the family declared last: NAME itself, or NAME_bucket/_sum/_count of a histogram.
    assert.ok(current, `a sample follows the HELP/TYPE of its family: ${JSON.stringify(line)}`);
    const suffix = name[0].slice(current.name.length);
    const allowed = { histogram: ['_bucket', '_sum', '_count'], summary: ['', '_sum', '_count'] }[current.type] || [''];
    assert.ok(name[0].startsWith(current.name) && allowed.includes(suffix),
      `sample ${name[0]} belongs to family ${current.name} (${current.type}) declared before it`);
    const key = `${name[0]}${JSON.stringify(Object.entries(labels).sort())}`;
    assert.ok(!series.has(key), `each series appears once: ${JSON.stringify(line)}`);
    series.add(key);
    current.samples.push({ name: name[0], labels, value });
  }
  return families;
}

/// The samples named `name` whose labels include all of `labels`.
function samples(families, name, labels = {}) {
  const familyName = name.replace(/_(bucket|sum|count)$/, '');
  const found = [...new Set([families.get(name), families.get(familyName)])].filter(Boolean);
  return found.flatMap((family) => family.samples)
    .filter((sample) => sample.name === name && Object.entries(labels).every(([k, v]) => sample.labels[k] === v));
}

/// The one sample named `name` with exactly `labels` (undefined when there is none).
function value(families, name, labels = {}) {
  const hits = samples(families, name, labels)
    .filter((s) => Object.keys(s.labels).length === Object.keys(labels).length);
  assert.ok(hits.length <= 1, `one series ${name}${JSON.stringify(labels)}`);
  return hits.length ? hits[0].value : undefined;
}

const total = (families, name, labels = {}) => samples(families, name, labels).reduce((sum, s) => sum + s.value, 0);

/// Every histogram: buckets in rising `le` order ending at +Inf, cumulative, _count equal to the +Inf bucket and a
/// _sum of at least 0, for each label set. Returns how many series were checked.
function checkHistograms(families) {
  let checked = 0;
  for (const family of families.values()) {
    if (family.type !== 'histogram') continue;
    const bySeries = new Map();
    for (const sample of family.samples) {
      const { le, ...rest } = sample.labels;
      const key = JSON.stringify(Object.entries(rest).sort());
      if (!bySeries.has(key)) bySeries.set(key, { labels: rest, buckets: [], sum: undefined, count: undefined });
      const entry = bySeries.get(key);
      if (sample.name.endsWith('_bucket')) {
        assert.ok(le !== undefined, `${sample.name} has an le label`);
        entry.buckets.push({ le: parseValue(le, le), value: sample.value });
      } else {
        assert.equal(le, undefined, `only buckets have le (${sample.name})`);
        entry[sample.name.endsWith('_sum') ? 'sum' : 'count'] = sample.value;
      }
    }
    for (const { labels, buckets, sum, count } of bySeries.values()) {
      const where = `${family.name}${JSON.stringify(labels)}`;
      assert.ok(buckets.length >= 2, `${where} has buckets`);
      for (let i = 1; i < buckets.length; i++) {
        assert.ok(buckets[i].le > buckets[i - 1].le, `${where}: le rises (${buckets[i - 1].le} then ${buckets[i].le})`);
        assert.ok(buckets[i].value >= buckets[i - 1].value, `${where}: buckets are cumulative at le=${buckets[i].le}`);
      }
      assert.equal(buckets.at(-1).le, Infinity, `${where}: the last bucket is le="+Inf"`);
      assert.equal(count, buckets.at(-1).value, `${where}: _count equals the +Inf bucket`);
      assert.ok(sum >= 0, `${where}: _sum is there and not negative`);
      assert.ok(buckets.every((b) => Number.isInteger(b.value) && b.value >= 0), `${where}: bucket counts are whole`);
      checked++;
    }
  }
  return checked;
}

async function scrape(port, timeoutMs = SCRAPE_TIMEOUT_MS) {
  const answer = await request(port, '/metrics', { timeoutMs });
  assert.equal(answer.status, 200, answer.body);
  assert.equal(answer.headers['content-type'], METRICS_TYPE);
  return parsePrometheus(answer.body);
}

/// The attempts the fake Slack answered, labelled as in jitbot_slack_api_calls_total: "method|status" → count.
function fakeCallCounts(slack) {
  const counts = {};
  for (const call of slack.apiCalls) {
    let status;
    if (call.status === 0) status = 'network_error';
    else if (call.status === 429) status = 'ratelimited';
    else if (call.status !== 200) status = `http_${call.status}`;
    else status = call.ok ? 'ok' : call.error;
    const key = `${call.method}|${status}`;
    counts[key] = (counts[key] || 0) + 1;
  }
  return counts;
}

function metricCallCounts(families) {
  const counts = {};
  for (const sample of samples(families, 'jitbot_slack_api_calls_total')) {
    counts[`${sample.labels.method}|${sample.labels.status}`] = sample.value;
  }
  return counts;
}

test('the Prometheus parser of these tests reads escapes and refuses what Prometheus refuses', () => {
  const families = parsePrometheus([
    '# HELP demo_total Calls, by "kind"\\nsecond line \\\\ done',
    '# TYPE demo_total counter',
    'demo_total{kind="a \\"quoted\\" \\\\ back\\nslash",other="x"} 3',
    'demo_total{kind="plain"} 1e3 1700000000000',
    '# TYPE demo_seconds histogram',
    'demo_seconds_bucket{le="0.5"} 1',
    'demo_seconds_bucket{le="+Inf"} 2',
    'demo_seconds_sum 0.75',
    'demo_seconds_count 2',
    '',
  ].join('\n'));
  assert.equal(families.get('demo_total').help, 'Calls, by "kind"\nsecond line \\ done');
  assert.equal(value(families, 'demo_total', { kind: 'a "quoted" \\ back\nslash', other: 'x' }), 3);
  assert.equal(value(families, 'demo_total', { kind: 'plain' }), 1000);
  assert.equal(checkHistograms(families), 1);
  const refused = [
    'demo 1', // no family declared
    '# TYPE demo gauge\ndemo{kind="unterminated} 1',
    '# TYPE demo gauge\ndemo{kind="bad \\t escape"} 1',
    '# TYPE demo gauge\ndemo one',
    '# TYPE demo gauge\ndemo 1\ndemo 2',
    '# TYPE demo gauge\n# TYPE demo gauge\ndemo 1',
    '# TYPE demo gauge\nother 1',
  ];
  for (const text of refused) assert.throws(() => parsePrometheus(`${text}\n`), assert.AssertionError, text);
  const broken = parsePrometheus('# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n');
  assert.throws(() => checkHistograms(broken), /cumulative/);
});

test('a request from start to expiry: /healthz, /readyz, and /metrics counting what happened', async (t) => {
  const port = await freePort();
  // Slack's error codes become label values; this one needs every escape of the text format.
  const oddError = 'odd "error"\\code\nline two';
  const prepare = (slack) => slack.injectError('auth.test', { error: oddError, count: 1 });
  let families;
  await withBot({ botExtra: listenOn(port), prepare }, async (bot) => {
    const { slack } = bot;
    const healthz = await request(port, '/healthz');
    assert.equal(healthz.status, 200);
    assert.equal(healthz.body, 'ok\n');
    assert.match(healthz.headers['content-type'], /^text\/plain/);
    const readyz = await waitForReadyz(port, 200, 5000, '/readyz 200 once the socket is open');
    assert.equal(readyz.body, 'ready\n');
    assert.equal(readyz.headers['cache-control'], 'no-store', 'a probe answer is never cached');

    const before = await scrape(port);
    assert.equal(value(before, 'jitbot_slack_socket_connections'), 1);
    assert.equal(value(before, 'jitbot_slack_socket_connections_opened_total'), 1);

    // One 429 on the card's update after the approval.
    slack.injectError('chat.update', { status: 429, retryAfter: 1, count: 1 });
    const id = await bot.request(USERS.alice, `${AWS} --duration 4s --reason "INC-7 metrics"`);
    await bot.waitForCard(id);
    await bot.click(USERS.bob, id, 'jit_approve');
    await bot.waitForBackend('grant', id);
    await bot.waitForCard(id, isActive, 'the card showing active access');
    await bot.waitForBackend('revoke', id, 15000);
    await bot.waitForCard(id, (card) => /Expired at/.test(cardText(card)), 'the expired card', 15000);

    // Once everything jitbot had to do is done (no job, notice or input left), the figures hold still.
    await until(async () => {
      families = await scrape(port);
      // The database's figures are jitbot's reading of it, taken every 2 s.
      return value(families, 'jitbot_requests', { state: 'EXPIRED' }) === 1 &&
        value(families, 'jitbot_jobs', { status: 'waiting' }) === 0 &&
        value(families, 'jitbot_jobs', { status: 'running' }) === 0 &&
        value(families, 'jitbot_outbox_notices', { status: 'waiting' }) === 0 &&
        value(families, 'jitbot_inbox_inputs') === 0 &&
        isDeepStrictEqual(metricCallCounts(families), fakeCallCounts(slack));
    }, 15000, 'no work left, and every Slack call the fake answered counted by method and result').catch((error) => {
      error.message += `\nmetrics: ${JSON.stringify(metricCallCounts(families))}` +
        `\nfake: ${JSON.stringify(fakeCallCounts(slack))}`;
      throw error;
    });

    // Every family is declared, and every histogram is well formed.
    for (const family of families.values()) assert.ok(family.type, `${family.name} has a TYPE`);
    assert.ok(checkHistograms(families) >= 3, 'the ack and both backend histograms');

    // Envelopes: the command and the click at least, each acked once.
    const received = total(families, 'jitbot_slack_envelopes_received_total');
    assert.ok(received >= 2, `envelopes received: ${received}`);
    assert.ok(value(families, 'jitbot_slack_envelopes_received_total', { type: 'slash_commands' }) >= 1);
    assert.ok(value(families, 'jitbot_slack_envelopes_received_total', { type: 'interactive' }) >= 1);
    assert.equal(received, slack.deliveries.length, 'one per envelope the fake delivered');
    assert.equal(value(families, 'jitbot_slack_envelopes_acked_total'), received, 'every envelope acked');
    assert.equal(value(families, 'jitbot_slack_envelopes_acked_total'), slack.acks.size,
      'as many acks as the fake saw');
    assert.equal(value(families, 'jitbot_slack_ack_seconds_count'), received, 'one ack time per envelope');

    // The request's life, step by step.
    for (const action of ['request', 'approve', 'grant', 'expire', 'revoke_done']) {
      assert.equal(value(families, 'jitbot_transitions_total', { action }), 1, `one ${action} transition`);
    }
    assert.deepEqual(samples(families, 'jitbot_requests').map((s) => [s.labels.state, s.value]), [['EXPIRED', 1]],
      'the database holds one request, expired');

    // The backend: one grant and one revoke, both ok, timed, none running now.
    for (const action of ['grant', 'revoke']) {
      assert.equal(value(families, 'jitbot_backend_calls_total', { backend: 'recorder', action, outcome: 'ok' }), 1,
        `one ${action} ok`);
      assert.equal(value(families, 'jitbot_backend_call_seconds_count', { backend: 'recorder', action }), 1);
      assert.ok(value(families, 'jitbot_backend_call_seconds_sum', { backend: 'recorder', action }) > 0);
    }
    assert.equal(total(families, 'jitbot_backend_calls_total', { outcome: 'failed' }), 0);
    assert.equal(total(families, 'jitbot_backend_calls_total', { outcome: 'error' }), 0);
    assert.equal(value(families, 'jitbot_backend_calls_in_flight'), 0);

    // Slack calls by method and result, as the fake answered them (compared in full above).
    assert.ok(value(families, 'jitbot_slack_api_calls_total', { method: 'chat.postMessage', status: 'ok' }) >= 1);
    assert.equal(value(families, 'jitbot_slack_api_calls_total', { method: 'chat.update', status: 'ratelimited' }), 1,
      'the 429 is counted as ratelimited');
    assert.equal(value(families, 'jitbot_slack_api_calls_total', { method: 'auth.test', status: oddError }), 1,
      'an error code with quotes, a backslash and a newline comes back intact through the escapes');

    // The outbox, the socket and the process.
    assert.equal(value(families, 'jitbot_outbox_notices', { status: 'parked' }), 0);
    assert.equal(value(families, 'jitbot_outbox_oldest_waiting_seconds'), 0);
    assert.equal(value(families, 'jitbot_slack_socket_connections'), 1);
    assert.equal(value(families, 'jitbot_slack_socket_connections_opened_total'), 1);
    const version = (await runJitbot(['--version'])).stdout.trim().replace(/^jitbot /, '');
    assert.equal(value(families, 'jitbot_build_info', { version }), 1, `build info names ${version}`);
    assert.ok(value(families, 'process_resident_memory_bytes') > 1e6, 'resident memory in bytes');
    assert.ok(value(families, 'process_open_fds') > 3);
    assert.ok(value(families, 'process_cpu_seconds_total') >= 0);
    const started = value(families, 'process_start_time_seconds');
    const now = Date.now() / 1000;
    assert.ok(started <= now + 1 && started > now - 300, `started ${now - started} s ago`);
    // A counter never goes down between scrapes.
    for (const sample of [...before.values()].filter((f) => f.type === 'counter').flatMap((f) => f.samples)) {
      const later = value(families, sample.name, sample.labels);
      assert.ok(later >= sample.value, `${sample.name}${JSON.stringify(sample.labels)}: ${sample.value} then ${later}`);
    }

    // A scraper or a probe may add a query string.
    assert.equal((await request(port, '/metrics?name[]=up')).status, 200);
    assert.equal((await request(port, '/healthz?probe=1')).body, 'ok\n');
  });

  await t.test('process_cpu_seconds_total is a counter, as Prometheus client libraries expose it', () => {
    assert.equal(families.get('process_cpu_seconds_total').type, 'counter');
  });
});

test('no Socket Mode connection: /readyz is 503 and says why, /healthz stays 200; ready again after the reconnect',
  async (t) => {
    const port = await freePort();
    // Slack refuses the first two sockets, so jitbot is up before it is connected. --log-format before `run`.
    const options = { botExtra: listenOn(port), noWaitForConnection: true, globalArgs: ['--log-format', 'json'],
      prepare: (slack) => slack.rejectUpgrades(2, 503) };
    let early;
    let firstScrape;
    await withBot(options, async (bot) => {
      const { slack } = bot;
      // /healthz is polled all along: it never fails while the socket comes and goes.
      const healthz = [];
      let polling = true;
      const poller = (async () => {
        while (polling) {
          try {
            healthz.push((await request(port, '/healthz', { timeoutMs: 3000 })).status);
          } catch (error) {
            if (error.code !== 'ECONNREFUSED' || healthz.length > 0) healthz.push(error.message);
          }
          await sleep(100);
        }
      })();
      try {
        early = await waitForReadyz(port, 503, 10000, '/readyz 503 before the first socket');
        assert.equal(early.body, 'not ready: no Socket Mode connection to Slack (jitbot keeps trying to connect)\n');
        assert.equal(slack.connectionLog.length, 0, 'no socket was open when /readyz said so');
        await waitForReadyz(port, 200, 15000, '/readyz 200 once jitbot is connected');
        assert.ok(slack.connectionLog.length >= 1 && slack.upgradeRejections.length === 2);
        firstScrape = await scrape(port);
        assert.equal(value(firstScrape, 'jitbot_slack_socket_connections'), 1);

        // Slack goes away: the socket drops and every new one is refused for a while.
        slack.rejectUpgrades(1000, 503);
        slack.dropSockets();
        const down = await waitForReadyz(port, 503, 5000, '/readyz 503 once the socket dropped');
        assert.match(down.body, /^not ready: no Socket Mode connection to Slack/);
        assert.equal(down.headers['cache-control'], 'no-store');
        await slack.waitFor(() => slack.upgradeRejections.length >= 4, 10000, 'jitbot to keep trying to reconnect');
        const meanwhile = await scrape(port);
        assert.equal(value(meanwhile, 'jitbot_slack_socket_connections'), 0, 'no socket open');
        assert.equal((await request(port, '/readyz')).status, 503, 'still not ready while Slack refuses');

        slack.rejectUpgrades(0);
        await waitForReadyz(port, 200, 30000, '/readyz 200 again after the reconnect');
        const after = await scrape(port);
        assert.equal(value(after, 'jitbot_slack_socket_connections'), 1);
        assert.equal(value(after, 'jitbot_slack_socket_connections_opened_total'), 2,
          'the first socket, then one reconnect');
        const id = await bot.request(USERS.alice, `${AWS} --duration 1h --reason "after the outage"`);
        await bot.waitForCard(id);
      } finally {
        polling = false;
        await poller;
      }
      assert.ok(healthz.length >= 10, `polled /healthz ${healthz.length} times`);
      assert.deepEqual([...new Set(healthz)], [200], '/healthz answered 200 every time');
      // --log-format json given before `run` applies too.
      const started = bot.stderr.split('\n').find((line) => line.includes(' started: config '));
      assert.ok(started, 'the start-up line is logged');
      assert.equal(JSON.parse(started).logger, 'bot');
    });

    await t.test('every family has HELP text, even when /readyz was asked before Slack connected', () => {
      for (const family of firstScrape.values()) assert.ok(family.help, `# HELP ${family.name} has text`);
    });
  });

/// Holds SQLite's WAL-index locks (bytes 120-127 of the -shm file: the write, checkpoint and recovery locks and the
/// read marks) from another process, as a process stuck mid-recovery would: no connection can start a read or a write
/// until they are let go. An exclusive lock on the database file itself is no use against WAL mode (every open
/// connection holds a shared lock, so `BEGIN EXCLUSIVE` from sqlite3 fails at once). Python's fcntl takes the POSIX
/// record locks SQLite uses, which root does not bypass; resolves with the locker once it holds them.
const SHM_LOCKER = `
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
fcntl.lockf(fd, fcntl.LOCK_EX, 8, 120, 0)
print("locked", flush=True)
sys.stdin.read()
`;
const canLockShm = () => spawnSync('python3', ['-c', 'import fcntl'], { stdio: 'ignore' }).status === 0;

async function lockDatabase(databaseFile) {
  const shm = `${databaseFile}-shm`;
  await until(() => fs.existsSync(shm), 5000, `${path.basename(shm)} (the database is in WAL mode)`);
  const locker = spawn('python3', ['-c', SHM_LOCKER, shm], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise((resolve) => locker.on('exit', resolve));
  try {
    await new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error('the locker did not get the WAL-index locks within 10 s')), 10000);
      locker.stdout.on('data', (chunk) => {
        if (!String(chunk).includes('locked')) return;
        clearTimeout(timer);
        resolve();
      });
      locker.on('exit', (code) => reject(new Error(`the locker exited with ${code}`)));
    });
  } catch (error) {
    locker.kill('SIGKILL');
    await exited;
    throw error;
  }
  return { release: async () => { locker.stdin.end(); await exited; } };
}

test('the database stops answering: /readyz is 503 and says so; ready again once it answers', async (t) => {
  if (!canLockShm()) {
    t.skip('python3 with fcntl is needed to hold the database locks from another process');
    return;
  }
  const port = await freePort();
  const measured = {};
  await withBot({ botExtra: listenOn(port) }, async (bot) => {
    await waitForReadyz(port, 200, 5000, '/readyz 200 before the database is locked');
    const lock = await lockDatabase(path.join(bot.dir, 'jitbot.db'));
    try {
      // jitbot reads the database every 2 s on a thread of its own and answers from its latest reading, so the
      // probes are asked as a kubelet would: each with a probe's timeout, until /readyz says so.
      const deadline = Date.now() + 20000;
      let answer;
      measured.slowestHealthzMs = 0;
      measured.slowestReadyzMs = 0;
      for (;;) {
        answer = await request(port, '/readyz', { timeoutMs: PROBE_TIMEOUT_MS });
        measured.slowestReadyzMs = Math.max(measured.slowestReadyzMs, answer.ms);
        const alive = await request(port, '/healthz', { timeoutMs: PROBE_TIMEOUT_MS });
        assert.equal(alive.status, 200, '/healthz is 200 whatever the database does');
        measured.slowestHealthzMs = Math.max(measured.slowestHealthzMs, alive.ms);
        if (answer.status === 503 || Date.now() > deadline) break;
        await sleep(250);
      }
      assert.equal(answer.status, 503, answer.body);
      assert.match(answer.body, /^not ready: the database (cannot be used: .+|has not answered for \d+ s)\n$/);
      // A Prometheus server gives up on a scrape after 10 s.
      try {
        const scraped = await request(port, '/metrics', { timeoutMs: SCRAPE_TIMEOUT_MS });
        measured.metrics = { status: scraped.status, ms: scraped.ms, body: scraped.body };
      } catch (error) {
        measured.metrics = { error: error.message };
      }
    } finally {
      await lock.release();
    }
    await waitForReadyz(port, 200, 60000, '/readyz 200 once the database answers again');
    // Nothing was lost: jitbot works on.
    const id = await bot.request(USERS.alice, `${AWS} --duration 1h --reason "after the lock"`, 30000);
    await bot.waitForCard(id, () => true, 'the approval card', 30000);
    // The figures follow within jitbot's next reading of the database (every 2 s).
    await until(async () => value(await scrape(port), 'jitbot_requests', { state: 'PENDING' }) === 1, 10000,
      '/metrics counting the new request as pending');
  });
  t.diagnostic(`locked database: slowest /readyz ${Math.round(measured.slowestReadyzMs)} ms, ` +
    `slowest /healthz ${Math.round(measured.slowestHealthzMs)} ms, ` +
    `/metrics ${measured.metrics.error || `${measured.metrics.status} in ${Math.round(measured.metrics.ms)} ms`}`);
  await t.test('/metrics still answers within a scrape timeout, with the process figures', () => {
    assert.equal(measured.metrics.status, 200, measured.metrics.error);
    assert.match(measured.metrics.body, /^process_resident_memory_bytes \d+$/m);
  });
});

test('HTTP: 404 for an unknown path, 405 with Allow for other methods, HEAD without a body, a silent client cut off',
  async () => {
    const port = await freePort();
    await withBot({ botExtra: listenOn(port) }, async () => {
      for (const target of ['/', '/health', '/metrics/x', '/healthz/', '/favicon.ico']) {
        const answer = await request(port, target);
        assert.equal(answer.status, 404, `${target} is not found`);
        assert.match(answer.body, /\/healthz/, 'the 404 says where to look');
      }
      for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
        for (const target of ['/healthz', '/readyz', '/metrics']) {
          const answer = await request(port, target, { method });
          assert.equal(answer.status, 405, `${method} ${target}`);
          assert.equal(answer.headers.allow, 'GET, HEAD', `${method} ${target} says which methods it takes`);
        }
      }
      assert.equal((await request(port, '/nowhere', { method: 'POST' })).status, 404);

      // HEAD: the GET's status and headers, and not one byte of body (read off the wire, not through a client that
      // knows to skip it).
      for (const [target, type] of [['/healthz', 'text/plain; charset=utf-8'], ['/readyz', 'text/plain; charset=utf-8'],
        ['/metrics', METRICS_TYPE]]) {
        const { raw } = await rawExchange(port, `HEAD ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
        const end = raw.indexOf('\r\n\r\n');
        assert.ok(end > 0, `a whole header for HEAD ${target}: ${JSON.stringify(raw)}`);
        assert.match(raw, /^HTTP\/1\.1 200 /, `HEAD ${target}`);
        assert.ok(raw.toLowerCase().includes(`\r\ncontent-type: ${type}\r\n`),
          `HEAD ${target} has the GET's type: ${raw}`);
        assert.equal(raw.slice(end + 4), '', `HEAD ${target} has no body`);
      }
      // HTTP/1.0 and a garbage request line.
      const old = await rawExchange(port, 'GET /healthz HTTP/1.0\r\n\r\n');
      assert.match(old.raw, /^HTTP\/1\.0 200 [^]*\r\n\r\nok\n$/);
      const garbage = await rawExchange(port, 'NOT HTTP AT ALL\r\n\r\n');
      assert.ok(!/^HTTP\/1\.[01] 200/.test(garbage.raw), 'a malformed request is not answered 200');

      // A client that connects and says nothing is cut off after the 5 s limit, and does not hold up anyone else.
      const silent = rawExchange(port, '', 15000);
      await sleep(200);
      const meanwhile = await request(port, '/healthz');
      assert.equal(meanwhile.status, 200);
      assert.ok(meanwhile.ms < 1000, `/healthz took ${Math.round(meanwhile.ms)} ms beside a silent client`);
      const { raw, ms } = await silent;
      assert.equal(raw, '', 'nothing is said to a client that asked nothing');
      assert.ok(ms >= 4000 && ms < 9000, `the silent client was cut off after ${Math.round(ms)} ms`);
    });
  });

test('a listen address that cannot be had: `jitbot run` exits 2 and names it', async (t) => {
  // A port another process holds.
  const holder = net.createServer();
  await new Promise((resolve) => holder.listen(0, '127.0.0.1', resolve));
  const taken = holder.address().port;
  try {
    const bot = new BotUnderTest({ botExtra: listenOn(taken), noWaitForConnection: true });
    try {
      await bot.start();
      const exit = await bot.exitPromise;
      assert.equal(exit.code, 2, `exit status for a port in use:\n${bot.stderr}`);
      assert.match(bot.stderr, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${taken}: .*in use`, 'i'));
      assert.equal(bot.slack.connectionLog.length, 0, 'no Socket Mode connection was opened');
      assert.ok(!/\/boost\/|\.hpp:\d+/.test(bot.stderr), 'no Boost source path in the message');
    } finally {
      await bot.close();
    }
  } finally {
    await new Promise((resolve) => holder.close(resolve));
  }

  // Not an IP address: check-config refuses what is not IP:PORT; run refuses what is no address.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jitbot-status-'));
  const checks = [];
  try {
    const listens = ['localhost:9090', '127.0.0.1:0', '127.0.0.1:65536', '127.0.0.1', ':9090', '999.1.1.1:9090',
      'cafe:9090'];
    for (const listen of listens) {
      const bot = new BotUnderTest({ dir, keepDir: true, botExtra: `listen = ${JSON.stringify(listen)}`,
        noWaitForConnection: true });
      try {
        await bot.start();
        const exit = await bot.exitPromise;
        assert.equal(exit.code, 2, `jitbot run with listen = "${listen}" exits 2:\n${bot.stderr}`);
        assert.match(bot.stderr, /listen/, `the message for "${listen}" names the setting`);
        assert.equal(bot.slack.connectionLog.length, 0);
        checks.push([listen, (await bot.cli(['check-config'])).status]);
      } finally {
        await bot.close();
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  for (const [listen, status] of checks.filter(([listen]) => !/^(999|cafe)/.test(listen))) {
    assert.equal(status, 2, `check-config refuses listen = "${listen}"`);
  }
  await t.test('check-config refuses a listen host that is no IP address', () => {
    for (const [listen, status] of checks) assert.equal(status, 2, `check-config refuses listen = "${listen}"`);
  });
});

test('--log-format json: JSON lines, the start-up line, request IDs, no Boost paths while Slack is unreachable',
  async (t) => {
    const port = await freePort();
    let lines = [];
    let id;
    await withBot({ botExtra: listenOn(port), runArgs: ['--log-format', 'json'] }, async (bot) => {
      const { slack } = bot;
      const version = (await runJitbot(['--version'])).stdout.trim().replace(/^jitbot /, '');
      // The card's post meets closed connections (jitbot retries a stale keep-alive connection once by itself).
      slack.injectError('chat.postMessage', { reset: true, count: 2 });
      id = await bot.request(USERS.alice, `${AWS} --duration 1h --reason "INC-8 logs"`);
      await bot.waitForCard(id, () => true, 'the card once Slack answers again', 15000);

      // Slack unreachable for a moment: the socket drops, the next apps.connections.open calls meet closed
      // connections and the next socket is refused.
      slack.injectError('apps.connections.open', { reset: true, count: 2 });
      slack.rejectUpgrades(1, 503);
      slack.dropSockets();
      await slack.waitFor(() => slack.liveConnections >= 1 && slack.connectionLog.length >= 2, 20000, 'a socket again');
      await bot.click(USERS.bob, id, 'jit_approve');
      await bot.waitForBackend('grant', id);
      await bot.waitForCard(id, isActive, 'the card showing active access');

      const families = await scrape(port);
      for (const method of ['chat.postMessage', 'apps.connections.open']) {
        assert.ok(value(families, 'jitbot_slack_api_calls_total', { method, status: 'network_error' }) >= 1,
          `${method} network errors are counted`);
      }
      assert.ok(value(families, 'jitbot_slack_socket_connections_opened_total') >= 2);
      await bot.stop(); // every line written
      lines = bot.stderr.split('\n').filter((line) => line !== '');

      const records = lines.flatMap((line) => {
        try {
          const record = JSON.parse(line);
          return record && typeof record === 'object' && !Array.isArray(record) ? [record] : [];
        } catch {
          return [];
        }
      });
      assert.ok(records.length >= 5, `JSON lines on stderr: ${records.length} of ${lines.length}`);
      for (const record of records) {
        const where = JSON.stringify(record);
        const fields = ['time', 'level', 'logger', 'message', 'request_id'];
        assert.deepEqual(Object.keys(record).filter((k) => !fields.includes(k)), [],
          `only the documented fields: ${where}`);
        assert.match(record.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/,
          `time is RFC 3339: ${where}`);
        assert.ok(Math.abs(Date.parse(record.time) - Date.now()) < 10 * 60 * 1000, `time is now: ${where}`);
        assert.ok(['trace', 'debug', 'info', 'warning', 'error', 'critical'].includes(record.level),
          `a level: ${where}`);
        assert.ok(typeof record.logger === 'string' && record.logger !== '', `a logger: ${where}`);
        assert.equal(typeof record.message, 'string', `a message: ${where}`);
        const named = /(?<![A-Za-z0-9_])req_[0-9A-Z]{26}(?![A-Za-z0-9])/.exec(record.message);
        if (named) assert.equal(record.request_id, named[0], `the request ID the message names: ${where}`);
        else assert.ok(!('request_id' in record), `no request_id when the message names none: ${where}`);
      }

      const started = records.filter((r) => / started: config /.test(r.message));
      assert.equal(started.length, 1, 'one start-up line');
      assert.equal(started[0].logger, 'bot');
      assert.equal(started[0].level, 'info', 'jitbot run logs at info');
      assert.equal(started[0].message, `jitbot ${version} started: config ${bot.configFile}, database ` +
        `${path.join(bot.dir, 'jitbot.db')}, listen 127.0.0.1:${port}, workspace Acme`);
      assert.ok(records.some((r) => r.request_id === id && r.logger === 'exec' && /grant/.test(r.message)),
        `the backend's grant is logged with request_id ${id}`);
      assert.ok(records.some((r) => r.level === 'warning' && /^chat\.postMessage failed \(network: /.test(r.message)),
        'the failed card post is logged');
      assert.ok(records.some((r) => r.level === 'warning' &&
        /^apps\.connections\.open failed \(network: /.test(r.message)),
        'the failed reconnect is logged');
    });

    // Boost's what() appends the error category and the header, line and function that raised it: none in the log.
    for (const line of lines) {
      assert.ok(!/\/boost\/|\.[ch]pp:\d+|\[[a-z_.]+:\d+ at |in function '/.test(line),
        `no Boost source location: ${line}`);
    }

    await t.test('every stderr line of jitbot run is a JSON object', () => {
      for (const line of lines) assert.doesNotThrow(() => JSON.parse(line), `not JSON: ${line}`);
    });
    await t.test('time carries milliseconds, as the text format does, so lines of one second keep their order', () => {
      const times = lines.filter((line) => line.startsWith('{')).map((line) => JSON.parse(line).time);
      for (const time of times) assert.match(time, /T\d\d:\d\d:\d\d\.\d{3}/, `milliseconds in ${time}`);
    });
  });
