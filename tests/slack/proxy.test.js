// `jitbot run` behind an egress proxy: with HTTPS_PROXY=http://user:password@proxy:port, every TLS
// connection (Slack's Web API, the Socket Mode WebSocket, a backend over HTTPS) goes through a CONNECT
// tunnel, with TLS end to end to the real host; NO_PROXY names the hosts reached directly; plain
// http:// never uses the proxy. A proxy that refuses (407: wrong credentials, 403: not allowed) is
// named in the log, the password never is, and jitbot stays up and retries.
//
// Most tests name Slack's hosts slack.test and wss-primary.slack.test, which only the proxy resolves
// (as behind an egress firewall that lets nothing else out): jitbot can reach them only through it.
'use strict';
const test = require('node:test');
const fs = require('node:fs');
const assert = require('node:assert/strict');
const net = require('node:net');
const { AWS, BotUnderTest, USERS, isActive, redact, withBot, writeConfig } = require('./harness');
const { FakeProxy, basicAuthorization } = require('../fakes/fake_proxy');
const { FakeHttpBackend } = require('../fakes/cloud/fake_http_backend');
const { makeTestCA, issueTestCertificate } = require('../fakes/cloud/fake_server');

const WEB_HOST = 'slack.test';
const SOCKET_HOST = 'wss-primary.slack.test';
const BACKEND_HOST = 'access.corp.test';

// One CA for the file; the fake Slack's certificate is valid for its names and for 127.0.0.1 (the
// tests that reach it directly).
const CA = makeTestCA('jitbot proxy test CA');
const SLACK_CERT = issueTestCertificate(CA, [`DNS:${WEB_HOST}`, `DNS:${SOCKET_HOST}`, 'IP:127.0.0.1']);
const BACKEND_CERT = issueTestCertificate(CA, [`DNS:${BACKEND_HOST}`]);
test.after(() => fs.rmSync(CA.dir, { recursive: true, force: true }));

// The proxy account; the password has characters a URL must percent-encode (@), as real ones do.
const PROXY_USER = 'jitbot-egress';
const PROXY_PASSWORD = 'Egress@Pa55w0rd-k7Qz';
const WRONG_PASSWORD = 'Stale@Pa55w0rd-j2Vx';
const PROXY_AUTHORIZATION = basicAuthorization(PROXY_USER, PROXY_PASSWORD);

// The proxy resolves the test's names to the fakes on 127.0.0.1.
const PROXY_HOSTS = { [WEB_HOST]: '127.0.0.1', [SOCKET_HOST]: '127.0.0.1', [BACKEND_HOST]: '127.0.0.1' };

const count = (text, pattern) => (text.match(pattern) || []).length;
const escape = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/// What jitbot logs when the proxy answers `status` to a CONNECT to `target`.
const refusedBy = (proxy, target, status) => new RegExp(`the proxy ${escape(proxy.address)} refused to tunnel to ` +
  `${escape(target)} \\(HTTP ${status}${status === 407 ? ': check the user and password in HTTPS_PROXY' : ''}\\)`, 'g');

/// A plain TCP relay on 127.0.0.1 to the fake Slack's port: Socket Mode URLs name it, so the
/// WebSocket has a host:port of its own (as wss-primary.slack.com is not slack.com). TLS passes
/// through untouched, end to end with the fake. accepted counts the connections relayed.
async function startRelay(upstreamPort) {
  const sockets = new Set();
  const relay = { accepted: 0 };
  const server = net.createServer((client) => {
    relay.accepted += 1;
    const target = net.connect(upstreamPort(), '127.0.0.1');
    for (const socket of [client, target]) {
      sockets.add(socket);
      socket.on('error', () => { client.destroy(); target.destroy(); });
      socket.on('close', () => { sockets.delete(socket); client.destroy(); target.destroy(); });
    }
    client.pipe(target).pipe(client);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  relay.port = server.address().port;
  relay.close = () => new Promise((resolve) => {
    for (const socket of sockets) socket.destroy();
    server.close(() => resolve());
  });
  return relay;
}

/// A bot whose fake Slack serves TLS (trusted through [slack] ca_file): the Web API at
/// https://HOST:PORT/api/ and Socket Mode at wss://SOCKET_HOST:RELAY. names: true (the default) uses
/// slack.test and wss-primary.slack.test, which only the proxy resolves; false uses 127.0.0.1 for both.
/// proxyEnv(bot) gives the proxy variables for jitbot's environment; it is read at each launch, so a
/// test changes them and restarts, as an operator fixes the EnvironmentFile. onLaunch(bot), if given,
/// runs once the hosts are known, before jitbot starts.
class ProxiedBot extends BotUnderTest {
  constructor(options, { names = true, proxyEnv, onLaunch = null }) {
    super({
      fake: { tls: SLACK_CERT }, caFile: CA.certFile, noWaitForConnection: true,
      ...options,
      // The proxy passwords count as secrets: no piece of them may reach the log or Slack.
      secretEnv: ['JITBOT_TEST_PROXY_PASSWORD', 'JITBOT_TEST_WRONG_PROXY_PASSWORD', ...(options.secretEnv || [])],
    });
    this.webHost = names ? WEB_HOST : '127.0.0.1';
    this.socketHost = names ? SOCKET_HOST : '127.0.0.1';
    this.proxyEnv = proxyEnv;
    this.onLaunch = onLaunch;
  }

  async launch() {
    if (!this.relay) this.relay = await startRelay(() => this.slack.port);
    this.webTarget = `${this.webHost}:${this.slack.port}`;
    this.socketTarget = `${this.socketHost}:${this.relay.port}`;
    this.slack.baseUrl = `https://${this.webTarget}`; // response_url posts go to the Web API's host
    this.slack.apiUrl = `${this.slack.baseUrl}/api/`;
    this.slack.wsBaseUrl = `wss://${this.socketTarget}`;
    this.configFile = writeConfig(this.dir, this.slack, this.options);
    this.options.env = {
      ...(this.options.baseEnv || {}),
      // The machine's own proxy settings must not steer the test: both spellings are set.
      HTTPS_PROXY: '', https_proxy: '', NO_PROXY: '', no_proxy: '',
      JITBOT_TEST_PROXY_PASSWORD: PROXY_PASSWORD, JITBOT_TEST_WRONG_PROXY_PASSWORD: WRONG_PASSWORD,
      ...this.proxyEnv(this),
    };
    if (this.onLaunch) this.onLaunch(this);
    return super.launch();
  }

  async close() {
    try {
      await super.close();
    } finally {
      await this.relay?.close();
    }
  }

  /// Waits until Socket Mode has `n` connections (jitbot connected), failing at once if jitbot exits.
  async waitForSocket(n = 1, description = 'a Socket Mode connection') {
    await this.slack.waitFor(() => this.exited || this.slack.connectionLog.length >= n, 60000, description);
    assert.equal(this.exited, null, `jitbot is still running (waiting for ${description})`);
  }
}

/// Runs body(bot, proxy) with a started FakeProxy (proxyOptions; by default requiring PROXY_USER and
/// PROXY_PASSWORD) and a ProxiedBot (setup: {names, proxyEnv(bot, proxy), onLaunch(bot, proxy)}),
/// closing both after; on failure shows jitbot's stderr with secrets blotted out.
async function withProxiedBot(botOptions, setup, body, proxyOptions = {}) {
  const proxy = await new FakeProxy({
    credentials: { user: PROXY_USER, password: PROXY_PASSWORD }, hosts: PROXY_HOSTS, ...proxyOptions,
  }).start();
  const bot = new ProxiedBot(botOptions, {
    ...setup, proxyEnv: (b) => setup.proxyEnv(b, proxy), onLaunch: setup.onLaunch && ((b) => setup.onLaunch(b, proxy)),
  });
  let failure = null;
  try {
    await bot.start();
    await body(bot, proxy);
  } catch (error) {
    failure = error;
  }
  try {
    await bot.close();
  } catch (error) {
    if (failure) failure.message += `\n--- and after the test ---\n${error.message}`;
    else failure = error;
  } finally {
    await proxy.close();
  }
  if (failure) {
    failure.message += `\n--- proxy saw ---\n${JSON.stringify(proxy.connects.map((c) => [c.target, c.status]))}` +
      `\n--- jitbot stderr ---\n${redact(bot.stderr.slice(-4000), bot.secrets())}`;
    throw failure;
  }
}

/// HTTPS_PROXY with PROXY_USER and `password`, percent-encoded into the URL.
const viaProxy = (password = PROXY_PASSWORD, noProxy = '') => (bot, proxy) => ({
  HTTPS_PROXY: proxy.url(PROXY_USER, password), NO_PROXY: noProxy,
});

/// Alice asks for the AWS role, Bob approves, and the grant runs: the card turns active and Alice
/// gets her DM. Returns the request ID.
async function requestApproveGrant(bot, reason) {
  const id = await bot.request(USERS.alice, `${AWS} --duration 1h --reason "${reason}"`, 15000);
  await bot.waitForCard(id, undefined, 'the approval card', 15000);
  await bot.click(USERS.bob, id, 'jit_approve');
  await bot.waitForBackend('grant', id, 15000);
  await bot.waitForCard(id, isActive, 'the card showing active access', 15000);
  await bot.waitForDm(USERS.alice, /access is active/i, 'the access DM', 15000);
  return id;
}

/// Fails unless no form of a proxy password (plain, percent-encoded, or inside a Basic credential) is
/// in jitbot's stderr.
function assertNoPassword(stderr) {
  for (const password of [PROXY_PASSWORD, WRONG_PASSWORD]) {
    for (const [form, text] of [['the password', password], ['the percent-encoded password', encodeURIComponent(password)],
      ['the Basic credential', basicAuthorization(PROXY_USER, password).slice('Basic '.length)]]) {
      assert.ok(!stderr.includes(text), `${form} is nowhere in jitbot's stderr`);
    }
  }
}

/// Every CONNECT the proxy saw carried the right credentials, named its target in Host, said it was
/// jitbot, and was tunneled.
function assertTunneledWithCredentials(proxy) {
  assert.ok(proxy.connects.length > 0, 'the proxy saw CONNECTs');
  for (const connect of proxy.connects) {
    assert.equal(connect.authorization, PROXY_AUTHORIZATION, `CONNECT ${connect.target} carries Proxy-Authorization: Basic user:password`);
    assert.deepEqual(connect.credentials, { user: PROXY_USER, password: PROXY_PASSWORD }, 'the percent-encoded password arrives decoded');
    assert.equal(connect.headers.host, connect.target, `CONNECT ${connect.target} names it in Host`);
    assert.equal(connect.headers['user-agent'], 'jitbot');
    assert.equal(connect.status, 200, `CONNECT ${connect.target} was tunneled`);
  }
}

test('proxy: with HTTPS_PROXY=http://user:password@…, Slack\'s Web API and Socket Mode go through CONNECT tunnels with the credentials, and request → approve → grant works', async () => {
  await withProxiedBot({}, { proxyEnv: viaProxy() }, async (bot, proxy) => {
    await bot.waitForSocket(1, 'a Socket Mode connection through the proxy');
    assert.match(bot.stderr, /jitbot: connected to Acme as @jitbot/);
    const id = await requestApproveGrant(bot, 'behind the proxy');

    // The proxy tunneled exactly Slack's two hosts, each with the credentials from HTTPS_PROXY.
    assert.deepEqual(proxy.targets().sort(), [bot.webTarget, bot.socketTarget].sort(),
      `the proxy was asked for the Web API (${bot.webTarget}) and Socket Mode (${bot.socketTarget}), by name`);
    assertTunneledWithCredentials(proxy);
    for (const target of [bot.webTarget, bot.socketTarget]) {
      const tunnel = proxy.tunnelTo(target);
      assert.ok(tunnel.connections >= 1, `a tunnel to ${target} was opened`);
      assert.ok(tunnel.bytesUp > 0 && tunnel.bytesDown > 0, `bytes went both ways through the tunnel to ${target}`);
    }
    assert.deepEqual(proxy.plainRequests, [], 'nothing was sent to the proxy but CONNECT');

    // The fake Slack, which jitbot can reach only through the proxy, saw it all.
    for (const method of ['auth.test', 'apps.connections.open', 'chat.postMessage', 'chat.update']) {
      assert.ok(bot.slack.callsTo(method).some((call) => call.ok), `${method} reached Slack and succeeded`);
    }
    assert.ok(bot.relay.accepted >= 1 && bot.slack.connectionLog.length >= 1, 'the Socket Mode connection reached Slack');
    assert.ok(bot.slack.messages(bot.slack.dmChannel(USERS.alice.id)).length >= 1, 'Alice got her DM');
    assert.ok(bot.cardFor(id), 'the card is in the approvals channel');
    assert.doesNotMatch(bot.stderr, /refused to tunnel/);
    assertNoPassword(bot.stderr);
  });
});

test('proxy: NO_PROXY naming Slack\'s host (127.0.0.1, in a list) reaches it directly: the proxy sees nothing and the flow works', async () => {
  await withProxiedBot({}, { names: false, proxyEnv: viaProxy(PROXY_PASSWORD, 'internal.example.com, 127.0.0.1') }, async (bot, proxy) => {
    await bot.waitForSocket(1, 'a direct Socket Mode connection');
    await requestApproveGrant(bot, 'NO_PROXY');
    assert.deepEqual(proxy.connects, [], 'the proxy saw no CONNECT');
    assert.equal(proxy.sockets.size, 0, 'nothing is connected to the proxy');
    assert.ok(bot.slack.callsTo('chat.update').some((call) => call.ok), 'Slack saw the calls, directly');
  });
});

test('proxy: NO_PROXY naming only the Socket Mode host:port sends the WebSocket direct and the Web API through the proxy', async () => {
  await withProxiedBot({}, {
    names: false, proxyEnv: (bot, proxy) => viaProxy(PROXY_PASSWORD, `127.0.0.1:${bot.relay.port}`)(bot, proxy),
  }, async (bot, proxy) => {
    await bot.waitForSocket(1, 'a Socket Mode connection');
    await requestApproveGrant(bot, 'NO_PROXY with a port');
    assert.deepEqual(proxy.targets(), [bot.webTarget], 'only the Web API went through the proxy');
    assertTunneledWithCredentials(proxy);
    assert.equal(proxy.tunnelTo(bot.socketTarget).connections, 0, 'the WebSocket did not');
    assert.ok(bot.relay.accepted >= 1, 'the WebSocket reached Slack directly');
  });
});

test('proxy: a wrong password in HTTPS_PROXY: jitbot logs the 407 naming the proxy (never the password), stays up, retries, and connects once restarted with the right one', async () => {
  await withProxiedBot({}, { proxyEnv: viaProxy(WRONG_PASSWORD) }, async (bot, proxy) => {
    const refused = refusedBy(proxy, bot.webTarget, 407);
    const failing = (method) => new RegExp(`${escape(method)} failed[^\\n]*${refused.source}`, 'g');
    await bot.slack.waitFor(() => bot.exited ||
      (count(bot.stderr, failing('auth.test')) >= 2 && count(bot.stderr, failing('apps.connections.open')) >= 2), 60000,
    `auth.test, then apps.connections.open, failing again and again with "the proxy ${proxy.address} refused to tunnel to ` +
      `${bot.webTarget} (HTTP 407: check the user and password in HTTPS_PROXY)"`);
    assert.equal(bot.exited, null, 'jitbot stays up while the proxy refuses it');
    assert.ok(proxy.connects.length >= 3);
    for (const connect of proxy.connects) {
      assert.equal(connect.status, 407);
      assert.deepEqual(connect.credentials, { user: PROXY_USER, password: WRONG_PASSWORD }, 'jitbot sent what HTTPS_PROXY says');
    }
    assert.deepEqual(bot.slack.apiCalls, [], 'nothing reached Slack');
    assertNoPassword(bot.stderr);

    // The operator fixes the password in the environment and restarts jitbot.
    bot.proxyEnv = (b) => viaProxy(PROXY_PASSWORD)(b, proxy);
    await bot.stop();
    proxy.clearLogs();
    await bot.launch();
    await bot.waitForSocket(1, 'a Socket Mode connection after the restart with the right password');
    await requestApproveGrant(bot, 'right password');
    assert.deepEqual(proxy.targets().sort(), [bot.webTarget, bot.socketTarget].sort());
    assertTunneledWithCredentials(proxy);
    assertNoPassword(bot.stderr);
  });
});

test('proxy: a proxy that refuses the Socket Mode host (403): jitbot says so, keeps the Web API, retries, and connects without a restart once the proxy allows it', async () => {
  // An allow-list without Slack's WebSocket host, from before jitbot starts.
  await withProxiedBot({}, { proxyEnv: viaProxy(), onLaunch: (bot, proxy) => proxy.refuse(bot.socketTarget) }, async (bot, proxy) => {
    const refused = new RegExp(`socket \\d+ could not connect to ${escape(bot.socketTarget)}: ` +
      `${refusedBy(proxy, bot.socketTarget, 403).source}[^\\n]*; retrying`, 'g');
    await bot.slack.waitFor(() => bot.exited || count(bot.stderr, refused) >= 2, 60000,
      `two Socket Mode connections failing with "the proxy ${proxy.address} refused to tunnel to ${bot.socketTarget} (HTTP 403)"`);
    assert.equal(bot.exited, null, 'jitbot stays up');
    assert.match(bot.stderr, /jitbot: connected to Acme as @jitbot/, 'the Web API went through');
    assert.equal(bot.slack.connectionLog.length, 0, 'no Socket Mode connection');
    assert.ok(proxy.connectsTo(bot.socketTarget).every((c) => c.status === 403));

    proxy.allow(bot.socketTarget);
    await bot.waitForSocket(1, 'a Socket Mode connection once the proxy allows the host');
    await requestApproveGrant(bot, 'after the allow-list fix');
    assert.ok(proxy.connectsTo(bot.socketTarget).some((c) => c.status === 200));
  });
});

test('proxy: plain http:// Slack URLs never go through the proxy, even with HTTPS_PROXY set', async () => {
  const proxy = await new FakeProxy({ hosts: PROXY_HOSTS }).start();
  try {
    await withBot({ env: { HTTPS_PROXY: proxy.url(PROXY_USER, PROXY_PASSWORD), https_proxy: '', NO_PROXY: '', no_proxy: '' } }, async (bot) => {
      assert.match(bot.slack.apiUrl, /^http:\/\/127\.0\.0\.1:/);
      await requestApproveGrant(bot, 'plain http');
      assert.deepEqual(proxy.connects, [], 'the proxy saw no CONNECT');
      assert.deepEqual(proxy.plainRequests, [], 'nor any proxied request');
    });
  } finally {
    await proxy.close();
  }
});

test('proxy: HTTPS_PROXY with another scheme (socks5://) is refused with a message saying it must be http://; jitbot stays up and reaches nothing', async () => {
  await withProxiedBot({}, { names: false, proxyEnv: (bot, proxy) => ({ HTTPS_PROXY: `socks5://127.0.0.1:${proxy.port}` }) }, async (bot, proxy) => {
    const message = /HTTPS_PROXY must be an http:\/\/ proxy/g;
    await bot.slack.waitFor(() => bot.exited || count(bot.stderr, message) >= 2, 60000, 'jitbot to say twice that HTTPS_PROXY must be http://');
    assert.equal(bot.exited, null, 'jitbot stays up');
    assert.deepEqual(bot.slack.apiCalls, [], 'no call went around the proxy');
    assert.deepEqual(proxy.connects, []);
  });
});

test('proxy: an http backend over HTTPS is called through the proxy too (https_proxy spelled in lower case, with a trailing slash)', async () => {
  const backend = await new FakeHttpBackend({ tls: BACKEND_CERT }).start();
  try {
    const backendUrl = `https://${BACKEND_HOST}:${backend.server.port}/jit`;
    const extra = [
      '[[backends]]', 'name = "platform"', 'type = "http"', `url = ${JSON.stringify(backendUrl)}`,
      `ca_file = ${JSON.stringify(CA.certFile)}`, 'timeout = "20s"', '',
      '[[roles]]', 'provider = "platform"', 'name = "db-admin"', 'scopes = ["orders"]', 'backend = "platform"',
      'requesters = ["*"]', `approvers = [${JSON.stringify(USERS.bob.id)}]`, 'approvals_required = 1', 'max_duration = "4h"', '',
    ].join('\n');
    await withProxiedBot({ extra, baseEnv: { JITBOT_HTTP_SECRET: backend.secret }, secretEnv: ['JITBOT_HTTP_SECRET'] },
      { proxyEnv: (bot, proxy) => ({ https_proxy: `${proxy.url(PROXY_USER, PROXY_PASSWORD)}/` }) }, async (bot, proxy) => {
        await bot.waitForSocket(1, 'a Socket Mode connection through the proxy');
        const id = await bot.request(USERS.alice, '--provider platform --role db-admin --scope orders --duration 1h --reason "orders db"', 15000);
        await bot.waitForCard(id, undefined, 'the approval card', 15000);
        await bot.click(USERS.bob, id, 'jit_approve');
        await bot.waitForCard(id, isActive, 'the card showing active access', 15000);
        const grants = backend.calls.filter((call) => call.action === 'grant');
        assert.equal(grants.length, 1, 'the receiver got the grant');
        assert.equal(grants[0].status, 200);
        assert.ok(grants[0].verified, 'signed with the shared secret');
        assert.equal(grants[0].document.request_id, id);

        const backendTarget = `${BACKEND_HOST}:${backend.server.port}`;
        assert.deepEqual(proxy.targets().sort(), [bot.webTarget, bot.socketTarget, backendTarget].sort(),
          'the backend call went through the proxy, by name');
        assertTunneledWithCredentials(proxy);
        assert.ok(proxy.tunnelTo(backendTarget).bytesUp > 0 && proxy.tunnelTo(backendTarget).bytesDown > 0);
        assertNoPassword(bot.stderr);
      });
  } finally {
    await backend.close();
  }
});
