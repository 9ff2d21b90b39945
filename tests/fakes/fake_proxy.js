'use strict';
/**
 * FakeProxy: a small HTTP proxy on 127.0.0.1 that tunnels with CONNECT, as a corporate egress
 * proxy (Squid, say) does for HTTPS. It is what HTTPS_PROXY points jitbot at in the tests.
 *
 *   - CONNECT host:port → "HTTP/1.1 200 Connection established", then bytes flow both ways between
 *     the client and host:port untouched (TLS stays end to end: the proxy never sees plain text);
 *   - requireCredentials(user, password): a CONNECT without Proxy-Authorization: Basic for exactly
 *     those gets 407 with Proxy-Authenticate: Basic realm="…" (the tunnel is not opened);
 *   - refuse(target): a CONNECT to that host:port gets 403 (a proxy's allow-list);
 *   - hosts: the proxy's own name resolution (its /etc/hosts), e.g. {'slack.test': '127.0.0.1'}, so a
 *     test can name hosts only the proxy can reach, as behind an egress firewall;
 *   - a target that cannot be reached gets 502;
 *   - a CONNECT whose target is not host:port gets 400;
 *   - anything other than CONNECT (a plain proxied GET) is recorded and answered 405.
 *
 * Every CONNECT is recorded in `connects` (target, host, port, headers, authorization, the decoded
 * credentials, the status answered), and every opened tunnel is counted per target in `tunnels`
 * (connections, bytesUp: client → target, bytesDown: target → client).
 *
 * Depends only on Node built-ins.
 */
const http = require('node:http');
const net = require('node:net');
const { EventEmitter } = require('node:events');

const REASONS = { 200: 'Connection established', 400: 'Bad Request', 403: 'Forbidden', 405: 'Method Not Allowed',
  407: 'Proxy Authentication Required', 502: 'Bad Gateway' };

/// The user and password a Proxy-Authorization header carries ({user, password}), or null when it is
/// missing or not Basic.
function basicCredentials(header) {
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header || '');
  if (!match) return null;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return null;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/// "Basic " + base64("user:password"): the Proxy-Authorization a client must send.
function basicAuthorization(user, password) {
  return `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`;
}

/// "host:port" → {host, port}; "[::1]:443" → {host: '::1', port: 443}. null if it is no authority.
function splitAuthority(authority) {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(authority || '');
  if (!match) return null;
  const port = Number(match[3]);
  if (port < 1 || port > 65535) return null;
  return { host: match[1] || match[2], port };
}

class FakeProxy extends EventEmitter {
  /// options.credentials: {user, password} to require (default: none required).
  /// options.refuse: targets ("host:port") to answer 403.
  /// options.hosts: {name: address} the proxy connects to instead of resolving name.
  constructor(options = {}) {
    super();
    this.hosts = { ...(options.hosts || {}) };
    this.credentials = options.credentials || null;
    this.refused = new Set(options.refuse || []);
    this.connects = []; // {target, host, port, headers, authorization, credentials, status, reason}
    this.tunnels = new Map(); // target → {connections, open, bytesUp, bytesDown}
    this.plainRequests = []; // {method, url, headers}: requests that were not CONNECT
    this.sockets = new Set();
    this.server = null;
  }

  async start() {
    this.server = http.createServer((req, res) => {
      this.plainRequests.push({ method: req.method, url: req.url, headers: req.headers });
      res.writeHead(405, { 'content-type': 'text/plain', connection: 'close' });
      res.end('this proxy only tunnels (CONNECT)\n');
    });
    this.server.on('connect', (req, socket, head) => this.onConnect(req, socket, head));
    this.server.on('connection', (socket) => this.track(socket));
    await new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.port = this.server.address().port;
    this.address = `127.0.0.1:${this.port}`;
    return this;
  }

  /// The proxy's URL for HTTPS_PROXY, with `user` and `password` percent-encoded into it when given.
  url(user, password) {
    const userinfo = user === undefined ? '' :
      `${encodeURIComponent(user)}${password === undefined ? '' : `:${encodeURIComponent(password)}`}@`;
    return `http://${userinfo}127.0.0.1:${this.port}`;
  }

  /// From now on, only a CONNECT with Basic credentials `user`:`password` is tunneled.
  requireCredentials(user, password) {
    this.credentials = { user, password };
  }

  /// From now on, a CONNECT needs no credentials.
  acceptAnyone() {
    this.credentials = null;
  }

  /// From now on, a CONNECT to `target` ("host:port") is answered 403; allow(target) undoes it.
  refuse(target) {
    this.refused.add(target);
  }

  allow(target) {
    this.refused.delete(target);
  }

  /// The CONNECTs to `target` ("host:port"), oldest first; all of them without an argument.
  connectsTo(target) {
    return target === undefined ? [...this.connects] : this.connects.filter((c) => c.target === target);
  }

  /// The targets CONNECT asked for, each once, in the order first asked.
  targets() {
    return [...new Set(this.connects.map((c) => c.target))];
  }

  /// The counts for tunnels to `target`: {connections, open, bytesUp, bytesDown} (zeros if none).
  tunnelTo(target) {
    return { connections: 0, open: 0, bytesUp: 0, bytesDown: 0, ...(this.tunnels.get(target) || {}) };
  }

  /// Forgets what was recorded (connects, tunnel counts, plain requests); open tunnels stay open.
  clearLogs() {
    this.connects = [];
    this.tunnels = new Map();
    this.plainRequests = [];
  }

  async close() {
    if (!this.server) return;
    const server = this.server;
    this.server = null;
    for (const socket of this.sockets) socket.destroy();
    await new Promise((resolve) => server.close(() => resolve()));
  }

  // --- handling -------------------------------------------------------------------------------------------------

  track(socket) {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
  }

  onConnect(req, client, head) {
    const target = req.url;
    const authority = splitAuthority(target);
    const authorization = req.headers['proxy-authorization'] || null;
    const record = {
      target, host: authority ? authority.host : null, port: authority ? authority.port : null,
      headers: { ...req.headers }, authorization, credentials: basicCredentials(authorization), status: 0, reason: null,
    };
    this.connects.push(record);
    this.track(client);
    client.on('error', () => client.destroy());

    const answer = (status, reason, headers = []) => {
      record.status = status;
      record.reason = reason;
      this.emit('connect', record);
      client.end([`HTTP/1.1 ${status} ${REASONS[status]}`, ...headers, 'Content-Length: 0', 'Connection: close', '', '']
        .join('\r\n'));
    };

    if (!authority) return answer(400, 'not a host:port target');
    if (this.credentials) {
      const given = record.credentials;
      if (!given || given.user !== this.credentials.user || given.password !== this.credentials.password) {
        return answer(407, given ? 'wrong credentials' : 'no credentials',
          ['Proxy-Authenticate: Basic realm="fake proxy"']);
      }
    }
    if (this.refused.has(target)) return answer(403, 'target refused');

    const upstream = net.connect({ host: this.hosts[authority.host.toLowerCase()] || authority.host, port: authority.port });
    this.track(upstream);
    let established = false;
    upstream.once('connect', () => {
      established = true;
      record.status = 200;
      record.reason = 'tunneled';
      const counts = this.tunnels.get(target) || { connections: 0, open: 0, bytesUp: 0, bytesDown: 0 };
      this.tunnels.set(target, counts);
      counts.connections += 1;
      counts.open += 1;
      upstream.once('close', () => { counts.open -= 1; });
      client.on('data', (chunk) => { counts.bytesUp += chunk.length; });
      upstream.on('data', (chunk) => { counts.bytesDown += chunk.length; });
      this.emit('connect', record);
      client.write('HTTP/1.1 200 Connection established\r\n\r\n');
      if (head && head.length) {
        counts.bytesUp += head.length;
        upstream.write(head);
      }
      client.pipe(upstream);
      upstream.pipe(client);
    });
    upstream.on('error', () => {
      if (!established) answer(502, 'target unreachable');
      upstream.destroy();
      client.destroy();
    });
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  }
}

module.exports = { FakeProxy, basicAuthorization, basicCredentials };
