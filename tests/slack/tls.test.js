// How `jitbot run` checks the TLS certificates of Slack's hosts: the Web API ([slack] api_url) and the
// Socket Mode URL that apps.connections.open hands out. A certificate must chain to a trusted CA
// ([slack] ca_file or the system store) AND be issued for the host jitbot connects to. When it is not,
// jitbot refuses the connection, says why on stderr, stays up and keeps retrying, so fixing the
// certificate is enough (no restart).
//
// The certificates that are refused for their host name here come from a test CA that the config
// trusts, so only the host name check can refuse them: without it they would be accepted.
'use strict';
const test = require('node:test');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const assert = require('node:assert/strict');
const net = require('node:net');
const tls = require('node:tls');
const { AWS, BotUnderTest, USERS, writeConfig } = require('./harness');
const { makeTestCA, issueTestCertificate, makeTestCertificate } = require('../fakes/cloud/fake_server');

// What jitbot logs when a handshake fails its certificate check (boost.asio's wording of OpenSSL's
// error), for a Web API call and for a Socket Mode connection.
const VERIFY_FAILED = 'certificate verify failed';
// Each names the host and port jitbot dialled, so an operator sees which name the certificate missed.
const webApiRefused = (method, host = '127\\.0\\.0\\.1') =>
  new RegExp(`${method.replace('.', '\\.')} failed \\(network: ${host}:\\d+: ${VERIFY_FAILED}`, 'g');
const socketRefused = new RegExp(`socket \\d+ could not connect to 127\\.0\\.0\\.1:\\d+: ${VERIFY_FAILED}[^\\n]*; retrying`, 'g');

const count = (text, pattern) => (text.match(pattern) || []).length;

// One CA for the file; each certificate names the hosts it is valid for.
const CA = makeTestCA('jitbot slack test CA');
const WRONG_HOST = issueTestCertificate(CA, ['DNS:wrong.example']);
const LOOPBACK = issueTestCertificate(CA, ['IP:127.0.0.1']);
const LOCALHOST = issueTestCertificate(CA, ['DNS:localhost']);
test.after(() => fs.rmSync(CA.dir, { recursive: true, force: true }));

/// A TLS front on 127.0.0.1, as a load balancer before Slack would be: it presents `certificate` and
/// passes every connection whose handshake completes on to `upstream()` (a socket to the fake).
/// refused counts the handshakes the client broke off; forwarded the connections passed on.
/// present(certificate) swaps the certificate for the connections that follow.
async function startFront(certificate, upstream) {
  const sockets = new Set();
  const front = { refused: 0, forwarded: 0 };
  const server = tls.createServer({ key: certificate.key, cert: certificate.cert }, (client) => {
    front.forwarded += 1;
    const target = upstream();
    for (const socket of [client, target]) {
      sockets.add(socket);
      socket.on('error', () => { client.destroy(); target.destroy(); });
      socket.on('close', () => { sockets.delete(socket); client.destroy(); target.destroy(); });
    }
    client.pipe(target).pipe(client);
  });
  server.on('tlsClientError', () => { front.refused += 1; });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  front.port = server.address().port;
  front.present = (next) => server.setSecureContext({ key: next.key, cert: next.cert });
  front.close = () => new Promise((resolve) => {
    for (const socket of sockets) socket.destroy();
    server.close(() => resolve());
  });
  return front;
}

/// A bot whose Slack is reached through fronts: `web` serves the Web API (api_url points at it) and
/// `socket` the Socket Mode URLs (apps.connections.open hands out wss://127.0.0.1:<its port>).
class FrontedBot extends BotUnderTest {
  constructor(options, fronts) {
    super({ ...options, noWaitForConnection: true });
    this.fronts = fronts;
  }

  async launch() {
    if (this.fronts.web) {
      this.configFile = writeConfig(this.dir, { apiUrl: `https://127.0.0.1:${this.fronts.web.port}/api/` }, this.options);
    }
    if (this.fronts.socket) this.slack.wsBaseUrl = `wss://127.0.0.1:${this.fronts.socket.port}`;
    return super.launch();
  }
}

/// Runs `body(bot)` and closes the bot, showing its stderr when the test fails.
async function withStartedBot(bot, body) {
  try {
    await bot.start();
    await body(bot);
  } catch (error) {
    error.message += `\n--- jitbot stderr ---\n${bot.stderr.slice(-4000)}`;
    throw error;
  } finally {
    await bot.close();
  }
}

/// Waits (generously: the machine may be loaded) until jitbot's stderr matches `pattern` `times`
/// times. Fails at once if jitbot exits meanwhile (a refused certificate must not stop the bot) or
/// if `front` passed a connection on (jitbot accepted the certificate it should have refused).
async function waitForStderr(bot, pattern, times, description, front = null) {
  const accepted = () => front && front.forwarded > 0;
  await bot.slack.waitFor(() => bot.exited || accepted() || count(bot.stderr, pattern) >= times, 60000, description);
  assert.ok(!accepted(), `jitbot completed a TLS handshake with a certificate for another host name (waiting for ${description})`);
  assert.equal(bot.exited, null, `jitbot is still running after ${description} (it exited: ${JSON.stringify(bot.exited)})`);
}

test('TLS: a Web API certificate from the trusted CA but for another host name (wrong.example, not 127.0.0.1) is refused; jitbot stays up, says why, retries, and recovers once the certificate is right', async () => {
  let bot;
  // The Web API is https://127.0.0.1:PORT/api/ behind a front presenting the wrong-host certificate;
  // Socket Mode stays plain ws:// to the fake, so only the Web API's check is tested here.
  const web = await startFront(WRONG_HOST, () => net.connect(bot.slack.port, '127.0.0.1'));
  try {
    bot = new FrontedBot({ caFile: CA.certFile }, { web });
    await withStartedBot(bot, async () => {
      await waitForStderr(bot, webApiRefused('auth.test'), 2,
        'two auth.test calls refused with "auth.test failed (network: 127.0.0.1:PORT: certificate verify failed"', web);
      await waitForStderr(bot, webApiRefused('apps.connections.open'), 2,
        'apps.connections.open refused the same way, again and again (jitbot goes on retrying)', web);
      await bot.slack.waitFor(() => web.refused >= 2, 10000, 'the wrong-host server to see jitbot break off its handshakes');
      assert.equal(web.forwarded, 0, 'no handshake with a certificate for another host name completed');
      assert.deepEqual(bot.slack.apiCalls.map((c) => c.method), [], 'no Web API call reached Slack over the wrong-host certificate');
      assert.equal(bot.slack.connectionLog.length, 0, 'no Socket Mode connection without a Socket Mode URL');

      // The same CA's certificate for 127.0.0.1: the refusal above was the host name, nothing else,
      // and the running bot gets through on its next retry.
      web.present(LOOPBACK);
      await bot.slack.waitFor(() => bot.exited || bot.slack.connectionLog.length >= 1, 60000,
        'a Socket Mode connection once the Web API presents a certificate for 127.0.0.1');
      assert.equal(bot.exited, null, 'jitbot recovered without a restart');
      assert.ok(bot.slack.apiCalls.some((c) => c.method === 'apps.connections.open' && c.ok), 'apps.connections.open went through');
      const id = await bot.request(USERS.alice, `${AWS} --duration 1h --reason "after the certificate fix"`, 15000);
      await bot.waitForCard(id, undefined, 'the approval card, posted through the fixed Web API', 15000);
    });
  } finally {
    await web.close();
  }
});

test('TLS: a Socket Mode URL (wss://127.0.0.1) served with a trusted certificate for another host name is refused while the Web API works; jitbot stays up, says why, retries, and recovers', async () => {
  let bot;
  // The Web API: https://localhost:PORT with the CA's certificate for localhost (accepted). The
  // socket URL: wss://127.0.0.1:FRONT, a front presenting the CA's certificate for wrong.example.
  const socket = await startFront(WRONG_HOST,
    () => tls.connect({ host: '127.0.0.1', port: bot.slack.port, servername: 'localhost', ca: CA.cert }));
  try {
    bot = new FrontedBot({ fake: { tls: LOCALHOST }, caFile: CA.certFile }, { socket });
    await withStartedBot(bot, async () => {
      await waitForStderr(bot, socketRefused, 2,
        'two Socket Mode connections refused with "socket N could not connect to 127.0.0.1:PORT: certificate verify failed …; retrying"', socket);
      assert.match(bot.stderr, /jitbot: connected to Acme as @jitbot/, 'the Web API, with a certificate for its host, was accepted');
      assert.ok(bot.slack.apiCalls.filter((c) => c.method === 'apps.connections.open' && c.ok).length >= 2,
        'jitbot keeps asking for a fresh Socket Mode URL after each refusal');
      await bot.slack.waitFor(() => socket.refused >= 2, 10000, 'the wrong-host socket server to see jitbot break off its handshakes');
      assert.equal(socket.forwarded, 0, 'no WebSocket handshake passed a certificate for another host name');
      assert.equal(bot.slack.connectionLog.length, 0, 'no Socket Mode connection was opened');

      // The same CA's certificate for 127.0.0.1: the next retry connects, and work goes on.
      socket.present(LOOPBACK);
      await bot.slack.waitFor(() => bot.exited || bot.slack.connectionLog.length >= 1, 60000,
        'a Socket Mode connection once the socket URL presents a certificate for 127.0.0.1');
      assert.equal(bot.exited, null, 'jitbot recovered without a restart');
      const id = await bot.request(USERS.alice, `${AWS} --duration 1h --reason "socket fixed"`, 15000);
      await bot.waitForCard(id, undefined, 'the approval card after the socket connected', 15000);
    });
  } finally {
    await socket.close();
  }
});

test('TLS: a Slack certificate no configured CA trusts is refused; jitbot stays up, says why on stderr, and keeps retrying', async (t) => {
  // A self-signed certificate for localhost, and no [slack] ca_file: nothing vouches for it.
  const selfSigned = makeTestCertificate();
  t.after(() => fs.rmSync(selfSigned.dir, { recursive: true, force: true }));
  const bot = new BotUnderTest({ fake: { tls: { key: selfSigned.key, cert: selfSigned.cert } }, noWaitForConnection: true });
  await withStartedBot(bot, async () => {
    assert.match(bot.slack.apiUrl, /^https:\/\/localhost:/);
    await waitForStderr(bot, webApiRefused('auth.test', 'localhost'), 2, 'two auth.test calls refused with "localhost:PORT: certificate verify failed"');
    await waitForStderr(bot, webApiRefused('apps.connections.open', 'localhost'), 2, 'apps.connections.open refused again and again');
    assert.match(bot.stderr, /auth\.test failed \(auth\.test failed: network: localhost:\d+: certificate verify failed[^\n]*\); carrying on, Socket Mode will keep trying/,
      'jitbot says it carries on without auth.test');
    assert.equal(bot.slack.apiCalls.length, 0, 'no request passed an unverified TLS handshake');
    assert.equal(bot.slack.connectionLog.length, 0, 'no Socket Mode connection was opened');
  });
});

/// A directory like /etc/ssl/certs: the test CA under its OpenSSL subject-hash name (`openssl rehash`).
function hashedCertificateDirectory(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jitbot-hashed-certs-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.copyFileSync(CA.certFile, path.join(dir, 'jitbot-test-ca.pem'));
  execFileSync('openssl', ['rehash', dir], { stdio: 'ignore' });
  assert.ok(fs.readdirSync(dir).some((name) => /^[0-9a-f]{8}\.0$/.test(name)), 'openssl rehash named the CA by its hash');
  return dir;
}

test('TLS: the system trust store is read from its hashed directory: a CA found only there (SSL_CERT_DIR, no bundle file, no [slack] ca_file) is trusted', async (t) => {
  const bot = new BotUnderTest({ fake: { tls: LOCALHOST }, env: { SSL_CERT_DIR: hashedCertificateDirectory(t), SSL_CERT_FILE: undefined } });
  await withStartedBot(bot, async () => {
    assert.match(bot.slack.apiUrl, /^https:\/\/localhost:/);
    assert.match(bot.stderr, /jitbot: connected to Acme as @jitbot/, 'the Web API certificate was verified against the directory');
    const id = await bot.request(USERS.alice, `${AWS} --duration 1h --reason "hashed directory"`, 15000);
    await bot.waitForCard(id, undefined, 'the approval card, over Socket Mode and the Web API', 15000);
  });
});

test('TLS: a CA bundle named in SSL_CERT_FILE is trusted, as OpenSSL documents, even where the hashed directory lacks it', async (t) => {
  const emptyDir = fs.mkdtempSync(path.join(os.tmpdir(), 'jitbot-no-certs-'));
  t.after(() => fs.rmSync(emptyDir, { recursive: true, force: true }));
  const bot = new BotUnderTest({ fake: { tls: LOCALHOST }, env: { SSL_CERT_DIR: emptyDir, SSL_CERT_FILE: CA.certFile } });
  await withStartedBot(bot, async () => {
    assert.match(bot.stderr, /jitbot: connected to Acme as @jitbot/, 'the Web API certificate was verified against the bundle');
    const id = await bot.request(USERS.alice, `${AWS} --duration 1h --reason "bundle file"`, 15000);
    await bot.waitForCard(id, undefined, 'the approval card', 15000);
  });
});
