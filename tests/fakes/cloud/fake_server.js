// The HTTP(S) server every fake cloud service runs on: 127.0.0.1, a random port, optional TLS,
// whole bodies read before the handler runs, and every request kept for the test to inspect.
'use strict';
const http = require('node:http');
const https = require('node:https');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

class FakeServer {
  /// handler(req, body: Buffer, res) may be async; it must answer through res.
  /// options.tls: {key, cert[, certFile]} PEM strings → https; true → a fresh test certificate.
  /// caPem and caFile (when known) are what a client must trust.
  constructor(handler, options = {}) {
    this.handler = handler;
    const tls = options.tls === true ? makeTestCertificate() : options.tls || null;
    this.tls = tls && { key: tls.key, cert: tls.cert };
    this.caPem = tls ? tls.cert : null;
    this.caFile = tls ? tls.certFile || null : null;
    this.requests = []; // {method, url, headers, body (string)}
    this.server = null;
    this.url = null; // "http(s)://127.0.0.1:PORT" (no trailing slash)
  }

  async start() {
    const listener = (req, res) => {
      const chunks = [];
      req.on('data', (chunk) => chunks.push(chunk));
      req.on('end', async () => {
        const body = Buffer.concat(chunks);
        this.requests.push({ method: req.method, url: req.url, headers: req.headers, body: body.toString('utf8') });
        try {
          await this.handler(req, body, res);
        } catch (error) {
          if (!res.headersSent) sendJson(res, 500, { message: `fake server error: ${error.message}` });
          else res.end();
        }
      });
    };
    this.server = this.tls ? https.createServer(this.tls, listener) : http.createServer(listener);
    await new Promise((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = this.server.address().port;
    this.url = `${this.tls ? 'https' : 'http'}://127.0.0.1:${this.port}`;
    return this;
  }

  async close() {
    if (!this.server) return;
    this.server.closeAllConnections?.();
    await new Promise((resolve) => this.server.close(resolve));
    this.server = null;
  }
}

function sendJson(res, status, value, headers = {}) {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers });
  res.end(body);
}

function sendText(res, status, text, contentType = 'text/plain', headers = {}) {
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/// A throwaway CA-less self-signed certificate for 127.0.0.1 and localhost, written to a temp folder.
/// Returns {key, cert, certFile, dir}: pass {key, cert} to FakeServer, certFile to clients.
function makeTestCertificate() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jitbot-fake-tls-'));
  const keyFile = path.join(dir, 'key.pem');
  const certFile = path.join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile,
    '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
    '-addext', 'basicConstraints=critical,CA:TRUE'], { stdio: 'ignore' });
  return { key: fs.readFileSync(keyFile, 'utf8'), cert: fs.readFileSync(certFile, 'utf8'), certFile, dir };
}

module.exports = { FakeServer, sendJson, sendText, makeTestCertificate };
