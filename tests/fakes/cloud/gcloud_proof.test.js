'use strict';
/**
 * The proof that FakeGcp answers like Cloud Resource Manager: the real gcloud (SDK 528) reads and
 * edits a policy through it, over TLS, with nothing else reachable.
 *
 * gcloud is not in Debian's archive, so a machine may lack it. Then this file says so and exits
 * 77, which ctest reports as Skipped (never as passed). Run: node gcloud_proof.test.js
 */
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const util = require('node:util');
const { execFile } = require('node:child_process');
const { makeTestCertificate } = require('./fake_server');
const { scratchDir } = require('../scratch');
const { TOKEN, PROJECT, initialBindings, expiring, withFake, urlSafe } = require('./gcp_fixtures');

const execFileAsync = util.promisify(execFile);
const GCLOUD = process.env.GCLOUD || '/usr/bin/gcloud';

if (!fs.existsSync(GCLOUD)) {
  console.log(`SKIPPED: gcloud not found at ${GCLOUD}; install the Google Cloud SDK (or set GCLOUD) to run the gcloud proof.`);
  process.exit(77);
}

// ---------------------------------------------------------------------------------------------
// Proof with the real gcloud
// ---------------------------------------------------------------------------------------------

/** Environment for gcloud that can reach nothing but the fake: its own config folder, the token
 *  from a file, the fake's certificate as the only CA, no metadata server, no usage reporting. */
function gcloudEnv(fake, cert, tokenFile) {
  // requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE (set machine-wide here) override gcloud's own
  // custom_ca_certs_file, so every CA variable goes and only the gcloud property remains.
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^CLOUDSDK_|CA_BUNDLE|CA_CERTS|SSL_CERT|^GOOGLE_/.test(k)));
  return {
    ...base,
    CLOUDSDK_CONFIG: scratchDir('jitbot-gcloud-config-'),
    CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDRESOURCEMANAGER: `${fake.url}/`,
    CLOUDSDK_AUTH_ACCESS_TOKEN_FILE: tokenFile,
    CLOUDSDK_CORE_CUSTOM_CA_CERTS_FILE: cert.certFile,
    CLOUDSDK_CORE_DISABLE_PROMPTS: '1',
    CLOUDSDK_CORE_DISABLE_USAGE_REPORTING: 'true',
    CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK: 'true',
    CLOUDSDK_CORE_CHECK_GCE_METADATA: 'false',
    GCE_METADATA_HOST: '127.0.0.1:1',
    GCE_METADATA_IP: '127.0.0.1:1',
    NO_PROXY: '*',
  };
}

/** Runs gcloud asynchronously (the fake answers from this process). Resolves {code, stdout, stderr}. */
async function gcloud(env, args) {
  try {
    const { stdout, stderr } = await execFileAsync(GCLOUD, args, { env, timeout: 60000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    if (error.code === 'ENOENT') throw new Error(`gcloud not found at ${GCLOUD}: install the Google Cloud SDK or set GCLOUD`);
    return { code: error.code, stdout: error.stdout, stderr: error.stderr };
  }
}

async function withGcloud(fn) {
  assert.ok(fs.existsSync(GCLOUD), `gcloud not found at ${GCLOUD}: the real-client proof needs the Google Cloud SDK (or set GCLOUD)`);
  const cert = makeTestCertificate();
  const tokenFile = path.join(cert.dir, 'token');
  fs.writeFileSync(tokenFile, `${TOKEN}\n`);
  await withFake({ tls: { key: cert.key, cert: cert.cert } }, async (fake) => fn(fake, gcloudEnv(fake, cert, tokenFile), tokenFile));
}

const CONDITION = 'expression=request.time < timestamp("2030-06-01T12:00:00Z"),title=jitbot req_gcloud,description=granted by jitbot';

test('gcloud projects get-iam-policy reads the fake over TLS, asking for version 3', async () => {
  await withGcloud(async (fake, env) => {
    const out = await gcloud(env, ['projects', 'get-iam-policy', PROJECT, '--format=json']);
    assert.equal(out.code, 0, out.stderr);
    const shown = JSON.parse(out.stdout);
    assert.deepEqual(shown, { bindings: initialBindings(), etag: shown.etag, version: 1 });
    assert.equal(shown.etag, urlSafe(fake.policy(PROJECT).etag), 'gcloud shows the etag as URL-safe base64');
    const [call] = fake.calls;
    assert.deepEqual(call.body, { options: { requestedPolicyVersion: 3 } });
    assert.equal(call.auth, 'valid');
    assert.match(fake.server.requests[0].url, /^\/v1\/projects\/proj-jitbot-1:getIamPolicy\?alt=json$/);
  });
});

test('gcloud add-iam-policy-binding --condition is a read-modify-write through the fake\'s etag; remove undoes it', async () => {
  await withGcloud(async (fake, env) => {
    const add = await gcloud(env, ['projects', 'add-iam-policy-binding', PROJECT, '--member=user:alice@example.com',
      '--role=roles/cloudsql.admin', `--condition=${CONDITION}`, '--format=json']);
    assert.equal(add.code, 0, add.stderr);
    const expected = {
      role: 'roles/cloudsql.admin', members: ['user:alice@example.com'],
      condition: { title: 'jitbot req_gcloud', description: 'granted by jitbot', expression: 'request.time < timestamp("2030-06-01T12:00:00Z")' },
    };
    assert.deepEqual(fake.policy(PROJECT).bindings, [...initialBindings(), expected]);

    const [get, set] = fake.calls;
    assert.equal(get.op, 'getIamPolicy');
    assert.deepEqual(get.body, { options: { requestedPolicyVersion: 3 } });
    assert.equal(set.op, 'setIamPolicy');
    assert.equal(urlSafe(set.etagSent), urlSafe(set.etagCurrent), 'gcloud sends back the etag it read (URL-safe base64)');
    assert.equal(set.versionSent, 3);
    assert.equal(fake.setsWithoutEtag.length, 0);
    assert.equal(JSON.parse(add.stdout).etag, urlSafe(fake.policy(PROJECT).etag));

    const remove = await gcloud(env, ['projects', 'remove-iam-policy-binding', PROJECT, '--member=user:alice@example.com',
      '--role=roles/cloudsql.admin', `--condition=${CONDITION}`, '--format=json']);
    assert.equal(remove.code, 0, remove.stderr);
    assert.deepEqual(fake.policy(PROJECT).bindings, initialBindings());
    assert.equal(fake.callsTo('setIamPolicy').length, 2);
    assert.ok(fake.callsTo('setIamPolicy').every((c) => urlSafe(c.etagSent) === urlSafe(c.etagCurrent) && c.versionSent === 3));
  });
});

test('gcloud gets 409 ABORTED when the policy changes between its read and its write (it does not retry)', async () => {
  await withGcloud(async (fake, env) => {
    fake.concurrentChangeOnNextSet((bindings) => bindings.push({ role: 'roles/browser', members: ['user:carol@example.com'] }));
    const add = await gcloud(env, ['projects', 'add-iam-policy-binding', PROJECT, '--member=user:alice@example.com',
      '--role=roles/cloudsql.admin', `--condition=${CONDITION}`]);
    assert.notEqual(add.code, 0);
    // gcloud words a 409 as "… is the subject of a conflict: <Google's message>".
    assert.match(add.stderr, /is the subject of a conflict: There were concurrent policy changes/);
    assert.deepEqual(fake.policy(PROJECT).bindings.map((b) => b.role), ['roles/owner', 'roles/viewer', 'roles/browser'],
      'the other writer\'s change stands, gcloud\'s stale write was refused');
  });
});

test('gcloud refuses basic roles with conditions itself, and shows the fake\'s 400 when a policy file has one', async () => {
  await withGcloud(async (fake, env) => {
    const basic = await gcloud(env, ['projects', 'add-iam-policy-binding', PROJECT, '--member=user:alice@example.com',
      '--role=roles/editor', `--condition=${CONDITION}`]);
    assert.notEqual(basic.code, 0);
    assert.match(basic.stderr, /Binding with a condition and a basic role is not allowed/);
    assert.equal(fake.calls.length, 0, 'gcloud checks this before calling');

    // set-iam-policy sends the file as it is, so the server's own check answers.
    const etag = fake.policy(PROJECT).etag;
    const file = path.join(env.CLOUDSDK_CONFIG, 'policy.json');
    const conditional = { role: 'roles/editor', members: ['user:alice@example.com'], condition: expiring('jitbot req_basic') };
    fs.writeFileSync(file, JSON.stringify({ version: 3, etag, bindings: [...initialBindings(), conditional] }));
    const set = await gcloud(env, ['projects', 'set-iam-policy', PROJECT, file]);
    assert.notEqual(set.code, 0);
    assert.match(set.stderr, /INVALID_ARGUMENT: Conditions cannot be added to the basic role roles\/editor/);
    assert.equal(fake.calls.at(-1).status, 400);
    assert.deepEqual(fake.policy(PROJECT).bindings, initialBindings());
  });
});

test('gcloud with a wrong token gets the 401 as an authentication error', async () => {
  await withGcloud(async (fake, env, tokenFile) => {
    fs.writeFileSync(tokenFile, 'ya29.wrong\n');
    const out = await gcloud(env, ['projects', 'get-iam-policy', PROJECT, '--format=json']);
    assert.notEqual(out.code, 0);
    assert.match(out.stderr, /invalid authentication credentials|UNAUTHENTICATED/);
    assert.equal(fake.calls.at(-1).auth, 'invalid');
    assert.equal(fake.calls.at(-1).status, 401);
  });
});
