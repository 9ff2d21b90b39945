'use strict';
/**
 * Self-tests of FakeProxy against a real client, curl: it tunnels curl's TLS to a local HTTPS server
 * with CONNECT, asks for credentials with 407, refuses targets with 403, and records what it saw.
 *
 * Run: cd tests/fakes && node --test fake_proxy.test.js
 */
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const https = require('node:https');
const net = require('node:net');
const { execFile } = require('node:child_process');
const { FakeProxy, basicAuthorization, basicCredentials } = require('./fake_proxy');
const { makeTestCA, issueTestCertificate } = require('./cloud/fake_server');

const CA = makeTestCA('fake proxy self-test CA');
const LOOPBACK = issueTestCertificate(CA, ['IP:127.0.0.1']);
const SHOP = issueTestCertificate(CA, ['DNS:shop.test']); // a name only the proxy resolves
test.after(() => fs.rmSync(CA.dir, { recursive: true, force: true }));

const USER = 'jitbot-svc';
const PASSWORD = 'tunnel@Pass:7'; // an @ and a : as real passwords have: curl gets them percent-encoded

/// curl's environment: no proxy settings of the machine's own may steer it.
function cleanEnv() {
  const env = { ...process.env };
  for (const name of ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy', 'ALL_PROXY', 'all_proxy', 'NO_PROXY', 'no_proxy']) {
    delete env[name];
  }
  return env;
}

/// Runs curl with `args` (asynchronously: the servers it talks to run in this process). Resolves with
/// {code, stdout, stderr}; a failed transfer is a non-zero code, not a rejection.
function curl(args) {
  return new Promise((resolve) => {
    execFile('curl', ['--silent', '--show-error', '--max-time', '20', ...args], { env: cleanEnv() },
      (error, stdout, stderr) => resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr }));
  });
}

/// An HTTPS server on 127.0.0.1 (by default with a certificate for 127.0.0.1 from CA) answering
/// "hello from <path>"; requests lists the paths it served.
async function startTlsServer(certificate = LOOPBACK) {
  const requests = [];
  const server = https.createServer({ key: certificate.key, cert: certificate.cert }, (req, res) => {
    requests.push(req.url);
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(`hello from ${req.url}\n`);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = server.address().port;
  return {
    port, target: `127.0.0.1:${port}`, url: `https://127.0.0.1:${port}`, requests,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

/// Runs fn({proxy, site}) with a started FakeProxy (options) and TLS server, closing both after.
async function withProxy(options, fn) {
  const proxy = await new FakeProxy(options).start();
  const site = await startTlsServer();
  try {
    await fn({ proxy, site });
  } finally {
    await proxy.close();
    await site.close();
  }
}

/// Sends one raw CONNECT (`headers` as lines) and resolves with the proxy's answer head as text.
function rawConnect(proxy, target, headers = []) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(proxy.port, '127.0.0.1', () => {
      socket.write([`CONNECT ${target} HTTP/1.1`, `Host: ${target}`, ...headers, '', ''].join('\r\n'));
    });
    let text = '';
    socket.on('data', (chunk) => {
      text += chunk.toString('latin1');
      if (text.includes('\r\n\r\n')) {
        socket.destroy();
        resolve(text.slice(0, text.indexOf('\r\n\r\n')));
      }
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(text));
  });
}

test('Basic credentials: encoded and decoded the way Proxy-Authorization carries them', () => {
  assert.equal(basicAuthorization('Aladdin', 'open sesame'), 'Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==');
  assert.deepEqual(basicCredentials('Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=='), { user: 'Aladdin', password: 'open sesame' });
  assert.deepEqual(basicCredentials(basicAuthorization('u', 'a:b@c')), { user: 'u', password: 'a:b@c' }, 'the first colon splits');
  assert.equal(basicCredentials(null), null);
  assert.equal(basicCredentials('Bearer abc'), null);
});

test('curl --proxy http://user:pass@… reaches an HTTPS server through the tunnel; the proxy records the CONNECT and counts the bytes', async () => {
  await withProxy({ credentials: { user: USER, password: PASSWORD } }, async ({ proxy, site }) => {
    assert.equal(proxy.url(USER, PASSWORD), `http://jitbot-svc:tunnel%40Pass%3A7@127.0.0.1:${proxy.port}`);
    const result = await curl(['--proxy', proxy.url(USER, PASSWORD), '--cacert', CA.certFile, `${site.url}/through/the/proxy`]);
    assert.equal(result.code, 0, `curl succeeded: ${result.stderr}`);
    assert.equal(result.stdout, 'hello from /through/the/proxy\n', 'the answer came back through the tunnel');
    assert.deepEqual(site.requests, ['/through/the/proxy']);

    assert.equal(proxy.connects.length, 1, 'one CONNECT');
    const [connect] = proxy.connects;
    assert.equal(connect.target, site.target);
    assert.equal(connect.host, '127.0.0.1');
    assert.equal(connect.port, site.port);
    assert.equal(connect.headers.host, site.target, 'curl names the target in Host');
    assert.equal(connect.authorization, basicAuthorization(USER, PASSWORD));
    assert.deepEqual(connect.credentials, { user: USER, password: PASSWORD }, 'the percent-encoded password arrives decoded');
    assert.equal(connect.status, 200);
    assert.deepEqual(proxy.targets(), [site.target]);

    await until(() => proxy.tunnelTo(site.target).open === 0, 'the tunnel to close after curl exits');
    const tunnel = proxy.tunnelTo(site.target);
    assert.equal(tunnel.connections, 1);
    assert.ok(tunnel.bytesUp > 100, `curl's TLS handshake and request went up the tunnel (${tunnel.bytesUp} bytes)`);
    assert.ok(tunnel.bytesDown > 100, `the server's certificate and answer came down it (${tunnel.bytesDown} bytes)`);
    assert.deepEqual(proxy.tunnelTo('127.0.0.1:1'), { connections: 0, open: 0, bytesUp: 0, bytesDown: 0 });
    assert.deepEqual(proxy.plainRequests, []);
  });
});

test('curl without credentials is refused with 407 and Proxy-Authenticate; nothing reaches the server', async () => {
  await withProxy({ credentials: { user: USER, password: PASSWORD } }, async ({ proxy, site }) => {
    const result = await curl(['--proxy', proxy.url(), '--cacert', CA.certFile, `${site.url}/secret`]);
    assert.notEqual(result.code, 0, 'curl fails');
    assert.match(result.stderr, /407/, `curl reports the 407: ${result.stderr}`);
    assert.deepEqual(site.requests, [], 'the server saw nothing');
    assert.equal(proxy.connects.length, 1);
    assert.equal(proxy.connects[0].target, site.target);
    assert.equal(proxy.connects[0].authorization, null);
    assert.equal(proxy.connects[0].status, 407);
    assert.equal(proxy.tunnelTo(site.target).connections, 0, 'no tunnel was opened');

    const head = await rawConnect(proxy, site.target);
    assert.match(head, /^HTTP\/1\.1 407 Proxy Authentication Required\r\n/);
    assert.match(head, /\r\nProxy-Authenticate: Basic realm="fake proxy"/i);
  });
});

test('a wrong password is refused with 407 and recorded as sent; switching the expected credentials lets the same client in', async () => {
  await withProxy({ credentials: { user: USER, password: PASSWORD } }, async ({ proxy, site }) => {
    const wrong = await curl(['--proxy', proxy.url(USER, 'not-the-password'), '--cacert', CA.certFile, `${site.url}/a`]);
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /407/);
    assert.deepEqual(proxy.connects[0].credentials, { user: USER, password: 'not-the-password' });
    assert.equal(proxy.connects[0].status, 407);

    proxy.requireCredentials(USER, 'not-the-password');
    const right = await curl(['--proxy', proxy.url(USER, 'not-the-password'), '--cacert', CA.certFile, `${site.url}/b`]);
    assert.equal(right.code, 0, right.stderr);
    assert.equal(right.stdout, 'hello from /b\n');

    proxy.acceptAnyone();
    const anyone = await curl(['--proxy', proxy.url(), '--cacert', CA.certFile, `${site.url}/c`]);
    assert.equal(anyone.code, 0, anyone.stderr);
    assert.deepEqual(site.requests, ['/b', '/c']);
    assert.deepEqual(proxy.connects.map((c) => c.status), [407, 200, 200]);
    assert.equal(proxy.tunnelTo(site.target).connections, 2);
  });
});

test('a refused target gets 403, an unreachable one 502, a plain GET 405; each is recorded', async () => {
  await withProxy({}, async ({ proxy, site }) => {
    proxy.refuse(site.target);
    const refused = await curl(['--proxy', proxy.url(), '--cacert', CA.certFile, `${site.url}/x`]);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /403/);
    assert.deepEqual(site.requests, []);

    proxy.allow(site.target);
    const allowed = await curl(['--proxy', proxy.url(), '--cacert', CA.certFile, `${site.url}/y`]);
    assert.equal(allowed.code, 0, allowed.stderr);

    // A port nothing listens on: bind one, note it, close it.
    const spare = net.createServer();
    await new Promise((resolve) => spare.listen(0, '127.0.0.1', resolve));
    const closedPort = spare.address().port;
    await new Promise((resolve) => spare.close(resolve));
    assert.match(await rawConnect(proxy, `127.0.0.1:${closedPort}`), /^HTTP\/1\.1 502 /);
    assert.match(await rawConnect(proxy, 'no-port-here'), /^HTTP\/1\.1 400 /);

    const plain = await curl(['--proxy', proxy.url(), `http://127.0.0.1:${site.port}/plain`, '--write-out', '%{http_code}']);
    assert.match(plain.stdout, /405$/, 'a plain proxied request is not forwarded');
    assert.equal(proxy.plainRequests.length, 1);
    assert.equal(proxy.plainRequests[0].method, 'GET');
    assert.equal(proxy.plainRequests[0].url, `http://127.0.0.1:${site.port}/plain`);

    assert.deepEqual(proxy.connects.map((c) => [c.target, c.status]),
      [[site.target, 403], [site.target, 200], [`127.0.0.1:${closedPort}`, 502], ['no-port-here', 400]]);
    assert.deepEqual(site.requests, ['/y']);
    proxy.clearLogs();
    assert.deepEqual([proxy.connects, proxy.plainRequests, proxy.targets()], [[], [], []]);
  });
});

test('hosts: a name only the proxy resolves is reached through it (and not without it), with TLS checked against that name', async () => {
  await withProxy({ hosts: { 'shop.test': '127.0.0.1' } }, async ({ proxy }) => {
    const shop = await startTlsServer(SHOP);
    try {
      const url = `https://shop.test:${shop.port}/cart`;
      const direct = await curl(['--cacert', CA.certFile, url]);
      assert.notEqual(direct.code, 0, 'without the proxy the name does not resolve');
      const proxied = await curl(['--proxy', proxy.url(), '--cacert', CA.certFile, url]);
      assert.equal(proxied.code, 0, proxied.stderr);
      assert.equal(proxied.stdout, 'hello from /cart\n');
      assert.deepEqual(proxy.connects.map((c) => [c.target, c.host, c.port, c.status]), [[`shop.test:${shop.port}`, 'shop.test', shop.port, 200]]);
      assert.deepEqual(shop.requests, ['/cart']);
    } finally {
      await shop.close();
    }
  });
});

/// Polls `predicate` until it is true (at most 10 s).
async function until(predicate, description) {
  const deadline = Date.now() + 10000;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${description}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
