// A DuploCloud portal subset, as duplo-jit's client (duplocloud/api.go) calls it: admin JIT AWS
// access, the user's tenants, and a tenant's AWS console token URL. Every answer carries fresh
// random AWS keys, recorded so tests can prove jitbot never stores, logs or posts them.
'use strict';
const crypto = require('node:crypto');
const { FakeServer, sendJson } = require('./fake_server');

const random = (alphabet, length) => Array.from(crypto.randomBytes(length), (b) => alphabet[b % alphabet.length]).join('');
const UPPER_ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const BASE64ISH = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

const DEFAULT_TENANTS = [
  { TenantId: '9a1f3c2e-5b7d-4e8f-a0b1-c2d3e4f5a6b7', AccountName: 'dev', PlanID: 'nonprod' },
  { TenantId: '0c8e4d6f-1a2b-4c3d-9e8f-7a6b5c4d3e2f', AccountName: 'prod', PlanID: 'prod' },
];

/// Temporary AWS credentials shaped like STS's: ASIA… key ID, 40-character secret, long session token.
function awsCredentials() {
  return {
    AccessKeyId: `ASIA${random(UPPER_ALNUM, 16)}`,
    SecretAccessKey: random(BASE64ISH, 40),
    SessionToken: `IQoJb3JpZ2luX2Vj${random(BASE64ISH, 300)}`,
  };
}

class FakeDuploCloud {
  /// options.tls: true (make a certificate) or {key, cert[, certFile]}; false for plain HTTP.
  /// options.users: [{token, email, admin, tenants: [TenantId…] | '*'}] (default: an admin and a
  /// user with the "dev" tenant, tokens in fake.adminToken / fake.userToken).
  /// options.tenants: [{TenantId, AccountName, PlanID}]. options.region, options.validity (seconds).
  constructor(options = {}) {
    this.tlsOption = options.tls === undefined ? true : options.tls;
    this.tenants = (options.tenants || DEFAULT_TENANTS).map((t) => ({ ...t }));
    this.adminToken = `duplo-admin-${crypto.randomBytes(12).toString('hex')}`;
    this.userToken = `duplo-user-${crypto.randomBytes(12).toString('hex')}`;
    this.users = options.users || [
      { token: this.adminToken, email: 'jitbot@example.com', admin: true, tenants: '*' },
      { token: this.userToken, email: 'dev-bot@example.com', admin: false, tenants: [this.tenants[0].TenantId] },
    ];
    this.region = options.region || 'us-west-2';
    this.validity = options.validity ?? 3600;
    this.consoleBase = options.consoleBase || 'https://signin.aws.amazon.com/federation';
    this.issued = []; // {kind: 'admin'|'tenant', role?, tenantId?, ConsoleUrl, AccessKeyId, SecretAccessKey, SessionToken}
    this.calls = []; // {method, path, status, user (email or null)}
    this.faults = [];
  }

  async start() {
    this.server = new FakeServer((req, body, res) => this.handle(req, res), { tls: this.tlsOption });
    await this.server.start();
    if (this.server.caPem) {
      this.caPem = this.server.caPem;
      this.caFile = this.server.caFile;
    }
    this.url = this.server.url;
    return this;
  }

  async close() {
    await this.server?.close();
  }

  /// The next call fails with `code`; options {message, retryAfter}.
  failNext(code, options = {}) {
    this.faults.push({ code, ...options });
  }

  /// Every AWS secret the fake has handed out: none may appear in jitbot's output or database.
  secrets() {
    return this.issued.flatMap((c) => [c.AccessKeyId, c.SecretAccessKey, c.SessionToken]);
  }

  tenantByName(name) {
    return this.tenants.find((t) => t.AccountName === name);
  }

  // --- request handling ----------------------------------------------------------------------------------------

  handle(req, res) {
    const url = new URL(req.url, 'http://fake');
    const call = { method: req.method, path: url.pathname, status: 0, user: null };
    this.calls.push(call);
    const reply = (code, value, headers) => {
      call.status = code;
      sendJson(res, code, value, headers);
    };

    const user = this.authenticate(req.headers.authorization);
    // DuploCloud answers a bad token with 401 and a short JSON message.
    if (!user) return reply(401, { Message: 'Unauthorized' });
    call.user = user.email;

    const fault = this.faults.shift();
    if (fault) {
      const headers = fault.retryAfter !== undefined ? { 'retry-after': String(fault.retryAfter) } : {};
      return reply(fault.code, { Message: fault.message || `injected failure ${fault.code}` }, headers);
    }
    if (req.method !== 'GET') return reply(405, { Message: `The requested resource does not support http method '${req.method}'.` });
    const [code, value] = this.route(url.pathname, user);
    return reply(code, value);
  }

  authenticate(header) {
    const match = /^Bearer (.+)$/.exec(header || '');
    return match ? this.users.find((u) => u.token === match[1]) || null : null;
  }

  /// Returns [status, body].
  route(pathname, user) {
    let m;
    if ((m = pathname.match(/^\/v3\/admin\/aws\/jitAccess\/([^/]+)$/))) return this.adminJit(decodeURIComponent(m[1]), user);
    if (pathname === '/admin/GetTenantsForUser') return [200, this.visibleTenants(user)];
    if ((m = pathname.match(/^\/subscriptions\/([^/]+)\/GetAwsConsoleTokenUrl$/))) return this.tenantJit(decodeURIComponent(m[1]), user);
    return [404, { Message: `No HTTP resource was found that matches the request URI '${pathname}'.` }];
  }

  visibleTenants(user) {
    return this.tenants.filter((t) => user.tenants === '*' || user.tenants.includes(t.TenantId));
  }

  adminJit(role, user) {
    if (!user.admin) return [403, { Message: 'Forbidden: admin access is required for admin JIT access' }];
    return [200, this.issue({ kind: 'admin', role })];
  }

  tenantJit(tenantId, user) {
    const tenant = this.tenants.find((t) => t.TenantId === tenantId);
    if (!tenant) return [404, { Message: `Tenant ${tenantId} not found` }];
    if (!this.visibleTenants(user).includes(tenant)) return [403, { Message: `User ${user.email} has no access to tenant ${tenantId}` }];
    return [200, this.issue({ kind: 'tenant', tenantId })];
  }

  /// Mints and records one set of JIT credentials with a console URL that embeds a sign-in token.
  issue(what) {
    const credentials = awsCredentials();
    const signinToken = random(BASE64ISH.slice(0, 62), 48);
    const ConsoleUrl = `${this.consoleBase}?Action=login&Issuer=duplocloud&Destination=` +
      `${encodeURIComponent(`https://${this.region}.console.aws.amazon.com/`)}&SigninToken=${signinToken}`;
    this.issued.push({ ...what, ConsoleUrl, ...credentials });
    return { ConsoleUrl, ...credentials, Region: this.region, Validity: this.validity };
  }
}

module.exports = { FakeDuploCloud, DEFAULT_TENANTS };
