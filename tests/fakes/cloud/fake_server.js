// The HTTP(S) server every fake cloud service runs on: 127.0.0.1, a random port, optional TLS,
// whole bodies read before the handler runs, and every request kept for the test to inspect.
'use strict';
const http = require('node:http');
const https = require('node:https');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { scratchDir } = require('../scratch');

class FakeServer {
  /// handler(req, body: Buffer, res) may be async; it must answer through res.
  /// options.tls: {key, cert[, certFile]} PEM strings → https; true → a fresh test certificate.
  /// caPem and caFile (when known) are what a client must trust.
  constructor(handler, options = {}) {
    this.handler = handler;
    const tls = options.tls === true ? makeTestCertificate() : options.tls || null;
    this.tls = tls && { key: tls.key, cert: tls.cert };
    // A certificate issued by a test CA (issueTestCertificate) is trusted through that CA.
    this.caPem = tls ? tls.caPem || tls.cert : null;
    this.caFile = tls ? tls.caFile || tls.certFile || null : null;
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
  const dir = scratchDir('jitbot-fake-tls-');
  const keyFile = path.join(dir, 'key.pem');
  const certFile = path.join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile,
    '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
    '-addext', 'basicConstraints=critical,CA:TRUE'], { stdio: 'ignore' });
  return { key: fs.readFileSync(keyFile, 'utf8'), cert: fs.readFileSync(certFile, 'utf8'), certFile, dir };
}

/// A throwaway certificate authority, written to a temp folder: a client that trusts its certFile
/// (a config's ca_file) accepts every certificate issueTestCertificate signs with it, but only for
/// the host names each one names. Returns {key, cert, keyFile, certFile, dir}.
function makeTestCA(commonName = 'jitbot test CA') {
  const dir = scratchDir('jitbot-fake-ca-');
  const keyFile = path.join(dir, 'ca-key.pem');
  const certFile = path.join(dir, 'ca.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', `/CN=${commonName}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], { stdio: 'ignore' });
  return { key: fs.readFileSync(keyFile, 'utf8'), cert: fs.readFileSync(certFile, 'utf8'), keyFile, certFile, dir };
}

/// A server certificate signed by `ca` (from makeTestCA) and valid only for `altNames`, the
/// subjectAltName entries, e.g. ['DNS:wrong.example'] or ['IP:127.0.0.1', 'DNS:localhost']. It is not
/// a CA itself. Returns {key, cert, certFile, caPem, caFile, altNames}: give {key, cert} (or the
/// whole object) to a server, and caFile to the client.
function issueTestCertificate(ca, altNames) {
  const keyFile = path.join(ca.dir, `leaf-${crypto.randomBytes(6).toString('hex')}-key.pem`);
  const csrFile = keyFile.replace(/-key\.pem$/, '.csr');
  const certFile = keyFile.replace(/-key\.pem$/, '.pem');
  const extFile = keyFile.replace(/-key\.pem$/, '.ext');
  const commonName = altNames[0].replace(/^[A-Z]+:/, '');
  execFileSync('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', keyFile, '-out', csrFile, '-subj', `/CN=${commonName}`], { stdio: 'ignore' });
  fs.writeFileSync(extFile, [`subjectAltName=${altNames.join(',')}`, 'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment', 'extendedKeyUsage=serverAuth', ''].join('\n'));
  execFileSync('openssl', ['x509', '-req', '-in', csrFile, '-CA', ca.certFile, '-CAkey', ca.keyFile,
    '-set_serial', `0x${crypto.randomBytes(8).toString('hex')}`, '-days', '2', '-extfile', extFile, '-out', certFile],
  { stdio: 'ignore' });
  return { key: fs.readFileSync(keyFile, 'utf8'), cert: fs.readFileSync(certFile, 'utf8'), certFile, caPem: ca.cert,
    caFile: ca.certFile, altNames: [...altNames] };
}

module.exports = { FakeServer, sendJson, sendText, makeTestCertificate, makeTestCA, issueTestCertificate };
