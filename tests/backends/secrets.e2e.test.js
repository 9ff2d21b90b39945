'use strict';
/**
 * Secrets end to end: full flows (request → approve → grant → expiry → revoke) through every backend
 * type in the real `jitbot shell --manual-clock`, with known secret values in the environment and in
 * files, all present at once. No secret may appear in any log line or chat message (the shell's
 * stdout and stderr), in the SQLite files (requests, outbox rows, audit records; the WAL too), in the
 * audit head anchor, in the audit export, in a child's environment or input that should not have it,
 * nor at any fake service other than its own, where it may appear only where it belongs (the
 * Authorization header, say).
 *
 * "Appear" is strict: the whole value or any 12-character piece of it, raw or percent-decoded.
 *
 * Run: cd tests/backends && node --test secrets.e2e.test.js   (needs build/bot/jitbot or JITBOT_BINARY)
 */
const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFile, spawn } = require('node:child_process');
const { BINARY, USERS, toml } = require('./shell_harness');
const { makeTestCertificate } = require('../fakes/cloud/fake_server');
const { FakeAws } = require('../fakes/cloud/fake_aws');
const { FakeGcp } = require('../fakes/cloud/fake_gcp');
const { FakeAzure } = require('../fakes/cloud/fake_azure');
const { FakeKubernetes, writeKubeconfig } = require('../fakes/cloud/fake_kubernetes');
const { FakeDuploCloud } = require('../fakes/cloud/fake_duplocloud');
const { FakeHttpBackend } = require('../fakes/cloud/fake_http_backend');

// ---------------------------------------------------------------------------------------------------------------
// The secrets: realistic shapes, random, unique. No fixed prefix longer than a few characters, so that
// a 12-character piece of one can only come from that one (the real "IQoJb3JpZ2luX2Vj" session token
// prefix, or a JWT's usual header, would be shared with tokens the fakes issue).
// ---------------------------------------------------------------------------------------------------------------

const PIECE = 12;
const pick = (alphabet, n) => Array.from(crypto.randomBytes(n), (b) => alphabet[b % alphabet.length]).join('');
const UPPER_ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const BASE64ISH = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const DIGITS = '0123456789';
const b64 = (n) => crypto.randomBytes(n).toString('base64');
const b64url = (n) => crypto.randomBytes(n).toString('base64url');
const hex = (n) => crypto.randomBytes(n).toString('hex');

/// In jitbot's environment, by variable name.
const ENV_SECRETS = {
  AWS_ACCESS_KEY_ID: `ASIA${pick(UPPER_ALNUM, 16)}`,
  AWS_SECRET_ACCESS_KEY: pick(BASE64ISH, 40),
  AWS_SESSION_TOKEN: `IQoJ${b64(300)}`,
  GOOGLE_OAUTH_ACCESS_TOKEN: `ya29.a0${b64url(160)}`,
  AZURE_ACCESS_TOKEN: `eyJ${b64url(36)}.eyJ${b64url(300)}.${b64url(256)}`,
  DUPLO_TOKEN: b64url(48),
  JITBOT_HTTP_SECRET: hex(32),
  JITBOT_AUDIT_KEY: hex(32),
  SLACK_BOT_TOKEN: `xoxb-${pick(DIGITS, 12)}-${pick(DIGITS, 13)}-${pick(ALNUM, 24)}`,
  SLACK_APP_TOKEN: `xapp-1-A${pick(UPPER_ALNUM, 10)}-${pick(DIGITS, 13)}-${hex(32)}`,
  // Listed in the exec backend's env = [...]: its child, and only its child, may see it.
  EXEC_BACKEND_TOKEN: b64url(36),
};

/// In files only: named by where they live.
const FILE_SECRETS = {
  'kubeconfig user token (~/.kube/config)': `eyJ${b64url(30)}.eyJ${b64url(400)}.${b64url(256)}`,
  '~/.aws/credentials [default] aws_access_key_id': `AKIA${pick(UPPER_ALNUM, 16)}`,
  '~/.aws/credentials [default] aws_secret_access_key': pick(BASE64ISH, 40),
  'gcp token_command token file': `ya29.c.${b64url(160)}`,
};

const KUBE_TOKEN = FILE_SECRETS['kubeconfig user token (~/.kube/config)'];
const HELPER_TOKEN = FILE_SECRETS['gcp token_command token file'];

/// The fakes hand out session tokens that all begin with the real STS prefix "IQoJb3JpZ2luX2Vj"
/// (16 characters): only the random rest tells one from another, so that is what is looked for.
const randomPart = (token) => token.replace(/^IQoJb3JpZ2luX2Vj/, '');

/// Every secret the test knows, as {name, value}: the fixed ones, then the ones the fakes handed
/// out during the run (STS console credentials, DuploCloud JIT keys), which jitbot must drop or
/// keep to itself. `skipFake` names the one fake a handed-out secret may legitimately be sent to
/// (the console credentials go to the AWS federation endpoint for a sign-in token).
function allSecrets() {
  const fixed = [...Object.entries(ENV_SECRETS), ...Object.entries(FILE_SECRETS)].map(([name, value]) => ({ name, value }));
  const issued = [];
  world.fakes.aws.fake.issuedCredentials().forEach((c, i) => {
    issued.push({ name: `STS-issued console SecretAccessKey #${i + 1}`, value: c.secretAccessKey, skipFake: 'aws' });
    issued.push({ name: `STS-issued console SessionToken #${i + 1}`, value: randomPart(c.sessionToken), skipFake: 'aws' });
  });
  world.fakes.duplo.fake.issued.forEach((c, i) => {
    issued.push({ name: `DuploCloud-issued AccessKeyId #${i + 1}`, value: c.AccessKeyId });
    issued.push({ name: `DuploCloud-issued SecretAccessKey #${i + 1}`, value: c.SecretAccessKey });
    issued.push({ name: `DuploCloud-issued SessionToken #${i + 1}`, value: randomPart(c.SessionToken) });
  });
  for (const s of issued) assert.ok(s.value.length > PIECE, `${s.name} is too short to look for by ${PIECE}-character pieces`);
  return [...fixed, ...issued];
}

for (const [name, value] of [...Object.entries(ENV_SECRETS), ...Object.entries(FILE_SECRETS)]) {
  assert.ok(value.length >= 20, `${name} is too short for a ${PIECE}-character piece check to mean anything`);
}
assert.ok(ENV_SECRETS.JITBOT_AUDIT_KEY.length >= 40);

// ---------------------------------------------------------------------------------------------------------------
// Looking for secrets
// ---------------------------------------------------------------------------------------------------------------

/// Marks every character of `text` that lies in a PIECE-character piece of `value` found there.
function maskOf(text, value) {
  const mask = new Uint8Array(text.length);
  let any = false;
  for (let i = 0; i + PIECE <= value.length; i++) {
    const piece = value.slice(i, i + PIECE);
    for (let at = text.indexOf(piece); at >= 0; at = text.indexOf(piece, at + 1)) {
      mask.fill(1, at, at + PIECE);
      any = true;
    }
  }
  return any ? mask : null;
}

/// `text` with every known secret (and every piece of one) replaced by ‹NAME›: safe to print.
function redact(text) {
  let out = String(text);
  for (const secret of allSecretsSafe()) {
    const mask = maskOf(out, secret.value);
    if (!mask) continue;
    let result = '';
    for (let i = 0; i < out.length;) {
      if (!mask[i]) {
        result += out[i++];
        continue;
      }
      while (i < out.length && mask[i]) i++;
      result += `‹${secret.name}›`;
    }
    out = result;
  }
  return out;
}

/// allSecrets() before the fakes exist (a failure while starting them) is just the fixed ones.
function allSecretsSafe() {
  try {
    return allSecrets();
  } catch {
    return [...Object.entries(ENV_SECRETS), ...Object.entries(FILE_SECRETS)].map(([name, value]) => ({ name, value }));
  }
}

/// Fails unless `haystack` (a string or bytes) holds neither `secret.value` nor any 12-character
/// piece of it. The message names the secret by its variable (never its value) and `where` it was
/// found, with some surrounding text in which the secret is blotted out.
function assertNoSecret(haystack, secret, where) {
  const text = Buffer.isBuffer(haystack) ? haystack.toString('latin1') : String(haystack);
  const whole = text.indexOf(secret.value);
  const mask = maskOf(text, secret.value);
  if (whole < 0 && !mask) return;
  const at = whole >= 0 ? whole : mask.indexOf(1);
  let run = 0;
  if (mask) for (let i = at; i < mask.length && mask[i]; i++) run++;
  const from = Math.max(0, at - 80);
  const to = Math.min(text.length, at + Math.max(run, secret.value.length) + 80);
  let context = redact(text.slice(from, to));
  // Bytes of a binary file: runs of unprintable bytes shown as one '·'.
  if (Buffer.isBuffer(haystack)) context = context.replace(/[\x00-\x08\x0b-\x1f\x7f-\xff]+/g, '·');
  context = JSON.stringify(context);
  assert.fail(`${secret.name} found in ${where}: ${whole >= 0 ? 'the whole value' : `${run} characters of it`} at offset ${at}. ` +
    `Around it (secrets shown as ‹NAME›): ${context}`);
}

/// Lenient percent-decoding: a secret sent URL-encoded is still that secret.
const percentDecoded = (text) => text.replace(/%([0-9A-Fa-f]{2})/g, (_, h) => String.fromCharCode(parseInt(h, 16)));

/// Every 12-character piece of every secret → the first secret it belongs to (built once per list).
const piecesOf = new WeakMap();
function pieceTable(secrets) {
  let table = piecesOf.get(secrets);
  if (table) return table;
  table = new Map();
  for (const secret of secrets) {
    for (let i = 0; i + PIECE <= secret.value.length; i++) {
      const piece = secret.value.slice(i, i + PIECE);
      if (!table.has(piece)) table.set(piece, secret);
    }
  }
  piecesOf.set(secrets, table);
  return table;
}

/// assertNoSecret for each secret, on the text and on its percent-decoded form. One pass over the
/// text looks up each of its 12-character windows (megabytes of WAL × dozens of secrets would be
/// slow one piece at a time); a secret found is then reported by assertNoSecret. Every secret is
/// longer than 12 characters, so a whole one contains pieces and is found too.
function assertNoSecrets(haystack, secrets, where) {
  const binary = Buffer.isBuffer(haystack);
  const text = binary ? haystack.toString('latin1') : String(haystack);
  const table = pieceTable(secrets);
  const decoded = percentDecoded(text);
  for (const [variant, label] of [[text, where], ...(decoded !== text ? [[decoded, `${where} (percent-decoded)`]] : [])]) {
    for (let i = 0; i + PIECE <= variant.length; i++) {
      const secret = table.get(variant.slice(i, i + PIECE));
      if (secret) assertNoSecret(binary ? Buffer.from(variant, 'latin1') : variant, secret, label);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The world: one TLS certificate, a HOME holding the secret files, the fakes, jitbot's environment
// ---------------------------------------------------------------------------------------------------------------

const CERT = makeTestCertificate();
const ACCOUNT = '123456789012';
const PROJECT = 'proj-jitbot-secrets';
const SUBSCRIPTION = '6f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b';
const CONTRIBUTOR = 'b24988ac-6180-42a0-ab88-20f7382dd24c';
const ALICE_OBJECT_ID = '11111111-2222-3333-4444-555555555555';

const world = { fakes: {}, home: null, env: null };

/// Each fake with how its own secret may reach it: `own(req)` checks a recorded request's
/// credentials and returns {headers: the headers with its own secret blotted out where it belongs,
/// authed: whether the request carried exactly its own credentials}.
function bearer(secretName, value) {
  return (req) => {
    const headers = { ...req.headers };
    const authed = headers.authorization === `Bearer ${value}`;
    if (authed) headers.authorization = `Bearer ‹${secretName}›`;
    return { headers, authed };
  };
}

function awsOwn(req) {
  const headers = { ...req.headers };
  if (req.url.startsWith('/federation')) return { headers, authed: !headers.authorization }; // unsigned, as at AWS
  const prefix = `AWS4-HMAC-SHA256 Credential=${ENV_SECRETS.AWS_ACCESS_KEY_ID}/`;
  const signed = typeof headers.authorization === 'string' && headers.authorization.startsWith(prefix);
  if (signed) headers.authorization = headers.authorization.replace(ENV_SECRETS.AWS_ACCESS_KEY_ID, '‹AWS_ACCESS_KEY_ID›');
  const token = headers['x-amz-security-token'] === ENV_SECRETS.AWS_SESSION_TOKEN;
  if (token) headers['x-amz-security-token'] = '‹AWS_SESSION_TOKEN›';
  return { headers, authed: signed && token };
}

function httpOwn(req) {
  // The secret never travels: only an HMAC of it. No Authorization header either.
  return { headers: { ...req.headers }, authed: req.headers.authorization === undefined && /^v0=[0-9a-f]{64}$/.test(req.headers['x-jitbot-signature'] || '') };
}

async function startWorld() {
  const tls = { key: CERT.key, cert: CERT.cert, certFile: CERT.certFile };
  const aws = new FakeAws({
    tls,
    accountId: ACCOUNT, // jitbot's identity in the console role's account, so it can cut sessions off
    credentials: [{ accessKeyId: ENV_SECRETS.AWS_ACCESS_KEY_ID, secretAccessKey: ENV_SECRETS.AWS_SECRET_ACCESS_KEY, sessionToken: ENV_SECRETS.AWS_SESSION_TOKEN }],
  });
  const gcp = new FakeGcp({ tls, token: ENV_SECRETS.GOOGLE_OAUTH_ACCESS_TOKEN, projects: { [PROJECT]: { bindings: [{ role: 'roles/owner', members: ['user:owner@example.com'] }] } } });
  const gcpHelper = new FakeGcp({ tls, token: HELPER_TOKEN, projects: { [PROJECT]: { bindings: [{ role: 'roles/owner', members: ['user:owner@example.com'] }] } } });
  const azure = new FakeAzure({ tls, token: ENV_SECRETS.AZURE_ACCESS_TOKEN });
  const k8s = new FakeKubernetes({ tls, token: KUBE_TOKEN, namespaces: ['default', 'team-a'] });
  const duplo = new FakeDuploCloud({ tls, users: [{ token: ENV_SECRETS.DUPLO_TOKEN, email: 'jitbot@example.com', admin: true, tenants: '*' }] });
  const http = new FakeHttpBackend({ tls, secret: ENV_SECRETS.JITBOT_HTTP_SECRET, consoleUrl: 'https://access.internal.example.com/console' });
  await Promise.all([aws.start(), gcp.start(), gcpHelper.start(), azure.start(), k8s.start(), duplo.start(), http.start()]);
  world.fakes = {
    aws: { fake: aws, own: awsOwn },
    gcp: { fake: gcp, own: bearer('GOOGLE_OAUTH_ACCESS_TOKEN', ENV_SECRETS.GOOGLE_OAUTH_ACCESS_TOKEN) },
    gcpHelper: { fake: gcpHelper, own: bearer('gcp token_command token file', HELPER_TOKEN) },
    azure: { fake: azure, own: bearer('AZURE_ACCESS_TOKEN', ENV_SECRETS.AZURE_ACCESS_TOKEN) },
    k8s: { fake: k8s, own: bearer('kubeconfig user token (~/.kube/config)', KUBE_TOKEN) },
    duplo: { fake: duplo, own: bearer('DUPLO_TOKEN', ENV_SECRETS.DUPLO_TOKEN) },
    http: { fake: http, own: httpOwn },
  };

  // A HOME of our own with the secret files where the tools' own defaults look for them.
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'jitbot-secrets-home-'));
  fs.mkdirSync(path.join(home, '.aws'), { mode: 0o700 });
  fs.writeFileSync(path.join(home, '.aws', 'credentials'), [
    '[default]',
    `aws_access_key_id = ${FILE_SECRETS['~/.aws/credentials [default] aws_access_key_id']}`,
    `aws_secret_access_key = ${FILE_SECRETS['~/.aws/credentials [default] aws_secret_access_key']}`, '',
  ].join('\n'), { mode: 0o600 });
  fs.mkdirSync(path.join(home, '.kube'), { mode: 0o700 });
  writeKubeconfig(path.join(home, '.kube'), { server: k8s.url, caPem: CERT.cert, token: KUBE_TOKEN }, { file: 'config' });
  fs.writeFileSync(path.join(home, 'gcp-token'), `${HELPER_TOKEN}\n`, { mode: 0o600 });
  world.home = home;

  // Nothing of the machine's own cloud or Slack setup; every secret above at once.
  const foreign = /^(AWS_|GOOGLE_|CLOUDSDK_|AZURE_|KUBE|DUPLO_|JITBOT_|SLACK_)/;
  const cleared = Object.fromEntries(Object.keys(process.env).filter((k) => foreign.test(k)).map((k) => [k, undefined]));
  world.env = {
    ...cleared,
    ...ENV_SECRETS,
    HOME: home,
    KUBECONFIG: path.join(home, '.kube', 'config'),
    AWS_CONFIG_FILE: '/dev/null',
    LANG: 'C.UTF-8',
    TZ: 'UTC',
    JITBOT_BINARY: undefined,
  };
}

async function stopWorld() {
  await Promise.all(Object.values(world.fakes).map(({ fake }) => fake.server?.close()));
  if (world.home) fs.rmSync(world.home, { recursive: true, force: true });
  fs.rmSync(CERT.dir, { recursive: true, force: true });
}

// ---------------------------------------------------------------------------------------------------------------
// The flows, one per backend type (gcp twice: token from the environment, and from token_command)
// ---------------------------------------------------------------------------------------------------------------

const lines = (...parts) => parts.flat().join('\n');

/// Writes the programs a flow runs into `dir`: they dump what they were given into dir/dumps.
function writePrograms(dir) {
  const dumps = path.join(dir, 'dumps');
  fs.mkdirSync(dumps, { recursive: true });
  const q = (p) => `'${p.replace(/'/g, `'\\''`)}'`;
  // The exec backend: its exact environment (as jitbot exec'd it), `env`'s view, argv and stdin.
  const exec = path.join(dir, 'exec-backend.sh');
  fs.writeFileSync(exec, [
    '#!/bin/sh',
    `d=${q(dumps)}`,
    'cat /proc/$$/environ > "$d/exec-$1.environ"',
    'env > "$d/exec-$1.env"',
    'printf "%s\\n" "$@" > "$d/exec-$1.argv"',
    'cat > "$d/exec-$1.stdin"',
    'printf \'{"grant_id":"exec-%s","message":"exec backend did %s"}\\n\' "$1" "$1"',
    '',
  ].join('\n'), { mode: 0o755 });
  // The gcp token_command: dumps its environment, prints the token from a file.
  const helper = path.join(dir, 'gcp-token-helper.sh');
  fs.writeFileSync(helper, [
    '#!/bin/sh',
    `cat /proc/$$/environ > ${q(dumps)}/helper-$$.environ`,
    `cat ${q(path.join(world.home, 'gcp-token'))}`,
    '',
  ].join('\n'), { mode: 0o755 });
  return { exec, helper, dumps };
}

const FLOWS = {
  aws: {
    fake: 'aws', provider: 'aws', role: 'prod-infra-admin', scopes: [ACCOUNT], scope: ACCOUNT,
    backend: (name) => {
      const fake = world.fakes.aws.fake;
      return lines('[[backends]]', `name = ${toml(name)}`, 'type = "aws"', `region = ${toml(fake.region)}`,
        `instance_arn = ${toml(fake.instanceArn)}`, `identity_store_id = ${toml(fake.identityStoreId)}`,
        `endpoint_url = ${toml(fake.url)}`, `signin_url = ${toml(fake.signinUrl)}`, 'poll_interval = "1s"', 'timeout = "30s"',
        `ca_file = ${toml(CERT.certFile)}`, '', '[backends.roles.prod-infra-admin]',
        `permission_set_arn = ${toml([...fake.permissionSets][0])}`, 'console = true',
        `console_role_arn = ${toml('arn:aws:iam::{scope}:role/JitbotConsole')}`);
    },
    check: (run) => {
      const fake = world.fakes.aws.fake;
      assert.deepEqual(fake.assignments(), [], 'the assignment is gone after the revoke');
      assert.ok(fake.calls.some((c) => c.operation === 'AssumeRole'), 'the console link was made (STS AssumeRole)');
      assert.match(run.stdout, /Console: https:\/\/127\.0\.0\.1:\d+\/federation\?Action=login/, 'the DM carries the console link');
    },
  },
  gcp: {
    fake: 'gcp', provider: 'gcp', role: 'roles/cloudsql.admin', scopes: ['*'], scope: PROJECT,
    backend: (name) => lines('[[backends]]', `name = ${toml(name)}`, 'type = "gcp"', `api_url = ${toml(`${world.fakes.gcp.fake.url}/`)}`,
      `ca_file = ${toml(CERT.certFile)}`, 'timeout = "20s"'),
    check: () => {
      const policy = world.fakes.gcp.fake.policy(PROJECT);
      assert.ok(world.fakes.gcp.fake.calls.some((c) => c.op === 'setIamPolicy' && c.status === 200));
      assert.ok(!policy.bindings.some((b) => b.condition?.title?.startsWith('jitbot ')), 'our binding is gone after the revoke');
    },
  },
  gcpHelper: {
    fake: 'gcpHelper', provider: 'gcp-helper', role: 'roles/cloudsql.admin', scopes: ['*'], scope: PROJECT,
    backend: (name, programs) => lines('[[backends]]', `name = ${toml(name)}`, 'type = "gcp"',
      `api_url = ${toml(`${world.fakes.gcpHelper.fake.url}/`)}`, `ca_file = ${toml(CERT.certFile)}`, 'timeout = "20s"',
      `token_command = [${toml(programs.helper)}]`),
    check: (run, programs) => {
      assert.ok(world.fakes.gcpHelper.fake.calls.some((c) => c.op === 'setIamPolicy' && c.status === 200));
      const dumps = fs.readdirSync(programs.dumps).filter((f) => f.startsWith('helper-'));
      assert.ok(dumps.length >= 1, 'the token_command ran');
      for (const file of dumps) assertChildEnvironment(path.join(programs.dumps, file), [], 'the gcp token_command');
    },
  },
  azure: {
    fake: 'azure', provider: 'azure', role: 'Contributor', scopes: ['/subscriptions/*'], scope: `/subscriptions/${SUBSCRIPTION}`,
    backend: (name) => lines('[[backends]]', `name = ${toml(name)}`, 'type = "azure"', `api_url = ${toml(`${world.fakes.azure.fake.url}/`)}`,
      `ca_file = ${toml(CERT.certFile)}`, 'timeout = "20s"', '', '[backends.roles.Contributor]', `role_definition_id = ${toml(CONTRIBUTOR)}`,
      '', '[backends.principals]', `${toml(USERS.alice.email)} = ${toml(ALICE_OBJECT_ID)}`),
    check: () => {
      const fake = world.fakes.azure.fake;
      assert.deepEqual(fake.activeAssignments(), [], 'the assignment is gone after the revoke');
      assert.ok(fake.calls.some((c) => c.method === 'PUT' && c.status === 201));
    },
  },
  kubernetes: {
    fake: 'k8s', provider: 'k8s', role: 'view', scopes: ['*'], scope: 'team-a',
    backend: (name) => lines('[[backends]]', `name = ${toml(name)}`, 'type = "kubernetes"',
      `kubeconfig = ${toml(path.join(world.home, '.kube', 'config'))}`, 'timeout = "20s"'),
    check: () => {
      const fake = world.fakes.k8s.fake;
      assert.deepEqual(fake.bindings(), [], 'the binding is gone after the revoke');
      assert.ok(fake.apiCalls().some((c) => c.method === 'POST' && c.status === 201));
    },
  },
  duplocloud: {
    fake: 'duplo', provider: 'duplo', role: 'admin', scopes: ['*'], scope: 'prod',
    backend: (name) => lines('[[backends]]', `name = ${toml(name)}`, 'type = "duplocloud"', `url = ${toml(`${world.fakes.duplo.fake.url}/`)}`,
      `ca_file = ${toml(CERT.certFile)}`, 'timeout = "20s"'),
    check: (run) => {
      const fake = world.fakes.duplo.fake;
      assert.ok(fake.issued.length >= 1, 'DuploCloud handed out keys (which jitbot must drop)');
      assert.ok(run.stdout.includes(`Console: ${fake.issued.at(-1).ConsoleUrl}`), 'the DM carries the console link');
    },
  },
  http: {
    fake: 'http', provider: 'platform', role: 'db-admin', scopes: ['orders'], scope: 'orders',
    backend: (name) => lines('[[backends]]', `name = ${toml(name)}`, 'type = "http"', `url = ${toml(world.fakes.http.fake.baseUrl)}`,
      `ca_file = ${toml(CERT.certFile)}`, 'timeout = "20s"'),
    check: () => {
      const fake = world.fakes.http.fake;
      assert.ok(fake.calls.length >= 2 && fake.calls.every((c) => c.verified), 'every call was signed with JITBOT_HTTP_SECRET');
      assert.ok(fake.grants().every((g) => !g.active), 'the grant is inactive after the revoke');
    },
  },
  exec: {
    fake: null, provider: 'tools', role: 'deployer', scopes: ['*'], scope: 'svc-a',
    backend: (name, programs) => lines('[[backends]]', `name = ${toml(name)}`, 'type = "exec"', `command = [${toml(programs.exec)}]`,
      'env = ["EXEC_BACKEND_TOKEN"]', 'timeout = "20s"'),
    check: (run, programs) => {
      for (const action of ['grant', 'revoke']) {
        const dump = (ext) => path.join(programs.dumps, `exec-${action}.${ext}`);
        assert.ok(fs.existsSync(dump('environ')), `the exec backend ran for ${action}`);
        assertChildEnvironment(dump('environ'), ['EXEC_BACKEND_TOKEN'], `the exec backend (${action})`);
        // `env` as the program's shell sees it: the listed secret, no other.
        const others = allSecrets().filter((s) => s.name !== 'EXEC_BACKEND_TOKEN');
        assertNoSecrets(fs.readFileSync(dump('env')), others, `the exec backend's \`env\` output (${action})`);
        // Its argv and its JSON input carry no secret at all, the listed one included.
        assertNoSecrets(fs.readFileSync(dump('argv')), allSecrets(), `the exec backend's argv (${action})`);
        const input = fs.readFileSync(dump('stdin'), 'utf8');
        assertNoSecrets(input, allSecrets(), `the exec backend's stdin (${action})`);
        assert.equal(JSON.parse(input).action, action);
      }
    },
  },
};

/// The environment a child was started with (NUL-separated, as /proc/PID/environ holds it): only
/// PATH, HOME, LANG, TZ and the `listed` variables; the listed ones with their real values; and
/// no other secret, in any variable.
function assertChildEnvironment(file, listed, who) {
  const entries = fs.readFileSync(file, 'latin1').split('\0').filter(Boolean);
  const names = entries.map((e) => e.slice(0, e.indexOf('=')));
  const allowed = new Set(['PATH', 'HOME', 'LANG', 'TZ', ...listed]);
  const extra = names.filter((n) => !allowed.has(n));
  assert.deepEqual(extra, [], `${who} saw variables it should not have: ${extra.join(', ')}`);
  for (const name of listed) {
    assert.ok(entries.includes(`${name}=${ENV_SECRETS[name]}`), `${who} did not get its listed variable ${name} (or not its value)`);
  }
  assert.ok(entries.includes(`HOME=${world.home}`) && entries.includes('TZ=UTC'), `${who} did not get HOME and TZ`);
  const forbidden = allSecrets().filter((s) => !listed.includes(s.name));
  assertNoSecrets(entries.join('\n'), forbidden, `${who}'s environment`);
}

// ---------------------------------------------------------------------------------------------------------------
// Running a session and checking every place a secret could end up
// ---------------------------------------------------------------------------------------------------------------

/// The config: one [[roles]] and one [[backends]] (named after the flow) per flow.
function writeConfig(dir, flowNames, programs) {
  const out = ['[bot]', `database = ${toml(path.join(dir, 'jitbot.db'))}`, 'pending_timeout = "30m"', '',
    '[slack]', 'approvals_channel = "C0APPROVALS"', 'incident_channels = ["C0INCIDENT"]', ''];
  for (const name of flowNames) {
    const f = FLOWS[name];
    out.push('[[roles]]', `provider = ${toml(f.provider)}`, `name = ${toml(f.role)}`, `scopes = ${toml(f.scopes)}`,
      `backend = ${toml(name)}`, 'requesters = ["*"]', `approvers = [${toml(USERS.bob.id)}]`, 'max_duration = "8h"', '');
  }
  out.push('[directory.users]', ...Object.values(USERS).map((u) => `${u.id} = { name = ${toml(u.name)}, email = ${toml(u.email)} }`), '');
  for (const name of flowNames) out.push(FLOWS[name].backend(name, programs), '');
  const file = path.join(dir, 'jitbot.toml');
  fs.writeFileSync(file, out.join('\n'));
  return file;
}

/// Alice requests every flow's access, Bob approves each (the Approve button of card k is [2k-1]),
/// the grants run, two hours pass, the accesses expire and are revoked.
function story(flowNames) {
  return [
    `/as ${USERS.alice.id}`,
    ...flowNames.map((n) => `/jit request --provider ${FLOWS[n].provider} --role ${FLOWS[n].role} --scope ${FLOWS[n].scope} --duration 2h --reason "INC-4421 ${n}"`),
    `/as ${USERS.bob.id}`,
    ...flowNames.map((_, k) => `click ${2 * k + 1}`),
    '/wait 2h',
    '/jit list --mine',
  ];
}

/// The files jitbot keeps beside the database (jitbot.db, -wal, -shm, .audit-head): {name: bytes}.
function keptFiles(dir) {
  const kept = {};
  for (const f of fs.readdirSync(dir).filter((f) => f.startsWith('jitbot.db'))) {
    try {
      kept[f] = fs.readFileSync(path.join(dir, f));
    } catch (error) {
      if (error.code !== 'ENOENT') throw error; // gone between listing and reading (a checkpoint)
    }
  }
  return kept;
}

/// Like the harness's runShell, but stdin stays open until the last command has been answered, so
/// the database files can be copied while jitbot still has them open: on a clean exit SQLite
/// checkpoints the WAL into the database and deletes it. Resolves {code, stdout, stderr, live}.
function runShellLive(configFile, input, dir, { env, timeoutMs = 60000 }) {
  const LAST_ANSWER = '→ Your requests:'; // the answer to the story's last line, /jit list --mine
  return new Promise((resolve, reject) => {
    const child = spawn(BINARY, ['shell', '--manual-clock', '--config', configFile], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let live = null;
    const finish = () => {
      if (live) return;
      live = keptFiles(dir);
      child.stdin.end();
    };
    const timer = setTimeout(() => {
      finish();
      setTimeout(() => child.kill('SIGKILL'), 10000).unref();
    }, timeoutMs);
    child.stdout.on('data', (d) => {
      stdout += d;
      if (stdout.includes(LAST_ANSWER)) finish();
    });
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, live: live || {} });
    });
    child.stdin.on('error', () => {}); // a shell that exits early (a config error) must not crash the test
    child.stdin.write(input.join('\n') + '\n');
  });
}

function runJitbot(args) {
  return new Promise((resolve) => {
    execFile(BINARY, args, { env: { ...process.env, ...world.env }, maxBuffer: 64 << 20 }, (error, stdout, stderr) =>
      resolve({ code: error ? error.code : 0, stdout, stderr }));
  });
}

/// Every request each fake has received so far (all tests): its own secret only where it belongs,
/// no other secret anywhere (headers, URL, body). Returns {fakeKey: number of requests}.
function assertFakesClean() {
  const counts = {};
  for (const [key, { fake, own }] of Object.entries(world.fakes)) {
    const secrets = allSecrets().filter((s) => s.skipFake !== key);
    fake.server.requests.forEach((req, i) => {
      const { headers } = own(req);
      const haystack = JSON.stringify({ method: req.method, url: req.url, headers, body: req.body });
      assertNoSecrets(haystack, secrets, `request #${i + 1} to the ${key} fake (${req.method} ${redact(req.url.split('?')[0])})`);
    });
    counts[key] = fake.server.requests.length;
  }
  return counts;
}

async function session(flowNames) {
  assert.ok(fs.existsSync(BINARY), `jitbot binary not found at ${BINARY}: build it or set JITBOT_BINARY`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jitbot-secrets-e2e-'));
  try {
    const programs = writePrograms(dir);
    const config = writeConfig(dir, flowNames, programs);
    const before = Object.fromEntries(Object.entries(world.fakes).map(([k, { fake }]) => [k, fake.server.requests.length]));
    const run = await runShellLive(config, story(flowNames), dir, { env: world.env, timeoutMs: 60000 });
    const shown = () => `\n--- stdout (secrets redacted) ---\n${redact(run.stdout)}\n--- stderr ---\n${redact(run.stderr)}`;
    assert.equal(run.code, 0, `jitbot shell exited ${run.code}${shown()}`);

    // Leaks first (a leak matters more than a failed flow), then whether the flows really ran.
    const secrets = allSecrets();
    // Log lines and chat messages.
    assertNoSecrets(run.stdout, secrets, 'the shell\'s stdout (chat messages and log lines)');
    assertNoSecrets(run.stderr, secrets, 'the shell\'s stderr (log lines)');

    // Everything jitbot keeps on disk: the database, its WAL (and -shm) while jitbot ran, the same
    // after it exited (the WAL then checkpointed into the database), and the audit head anchor.
    assert.ok(run.live['jitbot.db-wal'], `no WAL file while the shell ran (files: ${Object.keys(run.live).join(', ')})`);
    const kept = keptFiles(dir);
    assert.ok(kept['jitbot.db'], 'no database');
    assert.ok(kept['jitbot.db.audit-head'], 'no audit head anchor beside the database');
    for (const [file, bytes] of Object.entries(run.live)) assertNoSecrets(bytes, secrets, `the file ${file} (while the shell ran)`);
    for (const [file, bytes] of Object.entries(kept)) assertNoSecrets(bytes, secrets, `the file ${file} (after the shell exited)`);

    // The audit trail was sealed with JITBOT_AUDIT_KEY (so the key was in use), and what an
    // operator or a SIEM gets out of it shows none either.
    const verified = await runJitbot(['audit', 'verify', '--config', config]);
    assert.equal(verified.code, 0, redact(verified.stdout + verified.stderr));
    assert.match(verified.stdout, /(\d+) records \(\1 sealed with the audit key\)/, redact(verified.stdout));
    const exported = await runJitbot(['audit', 'export', '--config', config]);
    assert.equal(exported.code, 0, redact(exported.stderr));
    assert.ok(exported.stdout.trim().split('\n').length >= 4 * flowNames.length, 'the audit export is missing records');
    for (const out of [verified, exported]) {
      assertNoSecrets(out.stdout, secrets, 'jitbot audit verify/export stdout');
      assertNoSecrets(out.stderr, secrets, 'jitbot audit verify/export stderr');
    }

    // Secrets at the fakes: none but their own, and that only where it belongs (checked below).
    const after = assertFakesClean();

    // The flows really ran: each request granted and, after expiry, revoked.
    const ids = {};
    for (const m of run.stdout.matchAll(/Request (req_[0-9A-Z]+) submitted: (\S+) on (\S+) for/g)) ids[m[2]] = m[1];
    for (const name of flowNames) {
      const id = ids[`${FLOWS[name].provider}/${FLOWS[name].role}`];
      assert.ok(id, `no request was submitted for ${name}${shown()}`);
      for (const action of ['grant', 'revoke']) {
        const results = run.stdout.split('\n').filter((l) => l.startsWith(`· backend ${name} ${action} ${id}: `));
        assert.ok(results.length > 0 && results.at(-1).startsWith(`· backend ${name} ${action} ${id}: ok`),
          `${name}: the ${action} did not succeed${shown()}`);
      }
      assert.ok(run.stdout.includes(`Your access ${id} (`) && /has expired and was removed/.test(run.stdout), `${name}: no expiry DM${shown()}`);
    }
    for (const name of flowNames) FLOWS[name].check(run, programs);

    // Every flow's own secret reached its own fake, where it belongs.
    for (const name of flowNames) {
      const key = FLOWS[name].fake;
      if (!key) continue;
      const { fake, own } = world.fakes[key];
      const fresh = fake.server.requests.slice(before[key], after[key]);
      assert.ok(fresh.length > 0, `${name}: the ${key} fake got no request`);
      fresh.forEach((req) => assert.ok(own(req).authed,
        `${name}: a request to the ${key} fake (${req.method} ${redact(req.url.split('?')[0])}) did not carry exactly its own credentials where they belong`));
    }
    return run;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------------------------

test.before(startWorld);
test.after(stopWorld);

for (const name of Object.keys(FLOWS)) {
  test(`${name}: a full flow with every secret present leaks none of them`, async () => {
    await session([name]);
  });
}

test('every backend in one jitbot process, each flow while all the others\' secrets are loaded: none leaks', async () => {
  await session(Object.keys(FLOWS));
});

test('the checks themselves: a secret, or a 12-character piece of it, is found and named without showing it', () => {
  const secret = { name: 'AWS_SECRET_ACCESS_KEY', value: ENV_SECRETS.AWS_SECRET_ACCESS_KEY };
  const piece = secret.value.slice(7, 7 + PIECE);
  assert.doesNotThrow(() => assertNoSecret('nothing here', secret, 'a string'));
  for (const text of [`x ${secret.value} y`, `x ${piece} y`, Buffer.from(`x ${piece} y`)]) {
    assert.throws(() => assertNoSecret(text, secret, 'a string'), (error) => {
      assert.match(error.message, /^AWS_SECRET_ACCESS_KEY found in a string/);
      assert.ok(!error.message.includes(piece), 'the message shows the secret');
      return true;
    });
  }
  assert.doesNotThrow(() => assertNoSecret(secret.value.slice(0, PIECE - 1), secret, 'a string'));
  const encoded = encodeURIComponent(`${ENV_SECRETS.AWS_SESSION_TOKEN}`).replace(/[A-Za-z0-9]/g, (c) => `%${c.charCodeAt(0).toString(16)}`);
  assert.throws(() => assertNoSecrets(encoded, [{ name: 'AWS_SESSION_TOKEN', value: ENV_SECRETS.AWS_SESSION_TOKEN }], 'a URL'), /percent-decoded/);
});
