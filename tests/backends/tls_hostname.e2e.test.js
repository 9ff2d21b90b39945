'use strict';
/**
 * End to end: a cloud backend refuses a server whose TLS certificate is for another host name, even
 * when the backend's ca_file trusts the CA that issued it. The real `jitbot shell` with a
 * `type = "azure"` backend talks to FakeAzure on https://127.0.0.1:PORT; the config's ca_file is a test
 * CA, and the server presents that CA's certificate for wrong.example only. Without the host name
 * check the certificate would pass (its chain is trusted), and the grant would go through.
 *
 * Run: cd tests/backends && node --test tls_hostname.e2e.test.js   (needs build/bot/jitbot, or JITBOT_BINARY)
 */
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const { FakeAzure } = require('../fakes/cloud/fake_azure');
const { makeTestCA, issueTestCertificate } = require('../fakes/cloud/fake_server');
const { USERS, writeConfig, runShell, toml, requestIdIn, dmsTo, assertShellOk, backendLine, backendLines } = require('./shell_harness');

const SUBSCRIPTION = '6f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b';
const CONTRIBUTOR = 'b24988ac-6180-42a0-ab88-20f7382dd24c';
const ALICE_OBJECT_ID = '11111111-2222-3333-4444-555555555555';
const TOKEN = 'eyJ0eXAiOiJKV1QifQ.tls-hostname-azure-token.c2ln';

const CA = makeTestCA('jitbot backend test CA');
const WRONG_HOST = issueTestCertificate(CA, ['DNS:wrong.example']);
const LOOPBACK = issueTestCertificate(CA, ['IP:127.0.0.1']);
test.after(() => fs.rmSync(CA.dir, { recursive: true, force: true }));

/** Starts FakeAzure presenting `certificate`, runs `fn(fake)`, stops it. */
async function withFake(certificate, fn) {
  const fake = new FakeAzure({ tls: certificate, token: TOKEN });
  await fake.start();
  try {
    await fn(fake);
  } finally {
    await fake.stop();
  }
}

/**
 * Alice requests Contributor, Bob approves (the grant runs), then Alice lists her requests: the
 * shell must still answer after whatever the grant met. The backend trusts the test CA only, and
 * gives each attempt a short budget (a refused certificate is retried until it runs out).
 */
async function approveAndList(fake) {
  const backend = [
    '[[backends]]',
    'name = "cloud"',
    'type = "azure"',
    `api_url = ${toml(`${fake.url}/`)}`,
    `ca_file = ${toml(CA.certFile)}`,
    'timeout = "3s"',
    '',
    '[backends.roles.Contributor]',
    `role_definition_id = ${toml(CONTRIBUTOR)}`,
    '',
    '[backends.principals]',
    `${toml(USERS.alice.email)} = ${toml(ALICE_OBJECT_ID)}`,
  ].join('\n');
  const { file, dir } = writeConfig({ backend, role: { provider: 'azure', name: 'Contributor', scopes: [SUBSCRIPTION] } });
  try {
    const cleared = Object.fromEntries(Object.keys(process.env).filter((k) => /^AZURE_/.test(k)).map((k) => [k, '']));
    return await runShell(file, [
      `/as ${USERS.alice.id}`,
      `/jit request --provider azure --role Contributor --scope ${SUBSCRIPTION} --duration 2h --reason "INC-4421"`,
      `/as ${USERS.bob.id}`,
      'click 1',
      `/as ${USERS.alice.id}`,
      '/jit list --mine',
    ], { env: { ...cleared, AZURE_ACCESS_TOKEN: TOKEN } });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The shell's answer to the last command (`/jit list --mine`). */
function lastAnswer(stdout) {
  const prompt = stdout.lastIndexOf(`${USERS.alice.id}> /jit list --mine`);
  return prompt < 0 ? '' : stdout.slice(prompt);
}

test('azure backend: a certificate from the trusted CA but for wrong.example, served on 127.0.0.1, fails the grant naming the host; nothing is granted and the shell goes on', async () => {
  await withFake(WRONG_HOST, async (fake) => {
    const result = await approveAndList(fake);
    assertShellOk(result);
    const id = requestIdIn(result.stdout);
    const refused = `Azure Resource Manager (backend cloud) could not be reached (127.0.0.1:${fake.server.port}: certificate verify failed`;

    const grant = backendLine(result, 'grant', id);
    assert.match(grant, /: FAILED/, `the grant failed: ${grant}`);
    assert.ok(grant.includes(refused), `the grant's error names the host and the refused certificate: ${grant}`);
    assert.ok(dmsTo(result.stdout, USERS.alice.id).some((dm) => /grant failed/.test(dm) && dm.includes(refused)),
      `Alice is told the grant failed, and why:\n${dmsTo(result.stdout, USERS.alice.id).join('\n---\n')}`);
    assert.ok(backendLines(result.stdout, 'grant').every((line) => !/: ok/.test(line)), 'no grant succeeded');

    assert.deepEqual(fake.calls, [], 'no request reached Azure over a certificate for another host name');
    assert.deepEqual(fake.activeAssignments(), [], 'nothing was assigned');
    assert.match(lastAnswer(result.stdout), new RegExp(`${id}\\s+GRANT_FAILED`),
      'the shell went on and answered /jit list after the failed grant, showing the request as GRANT_FAILED');
    assert.ok(!result.stdout.includes(TOKEN) && !result.stderr.includes(TOKEN), 'the token never appears');
  });
});

test('azure backend (control): the same CA\'s certificate for 127.0.0.1 is accepted and the grant goes through', async () => {
  // The certificate above failed for its host name only: this one differs in nothing else.
  await withFake(LOOPBACK, async (fake) => {
    const result = await approveAndList(fake);
    assertShellOk(result);
    const id = requestIdIn(result.stdout);
    assert.match(backendLine(result, 'grant', id), /: ok/, 'the grant succeeded over a certificate for 127.0.0.1');
    assert.equal(fake.puts().length, 1, 'one AdminAssign request reached Azure');
    assert.equal(fake.activeAssignments().length, 1, 'Alice holds Contributor');
  });
});
