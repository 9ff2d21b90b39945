'use strict';
/**
 * The kubernetes backend end to end: the real `jitbot shell` grants and revokes RoleBindings and
 * ClusterRoleBindings on FakeKubernetes (proven against kubectl in tests/fakes/cloud), through a
 * kubeconfig file, over TLS with a Bearer token.
 *
 * Run: cd tests/backends && node --test kubernetes.e2e.test.js   (needs build/bot/jitbot or JITBOT_BINARY)
 */
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { USERS, writeConfig, runShell, approvalStory, toml, requestIdIn, dmsTo, assertShellOk, backendLine, backendLines, SELF_EXTEND,
  extendLines, outputOf, clockAfter, later } = require('./shell_harness');
const { FakeKubernetes, writeKubeconfig, RBAC_GROUP } = require('../fakes/cloud/fake_kubernetes');

const ROLE = 'view'; // the [[roles]] name is the ClusterRole bound
const MANAGED_BY = { 'app.kubernetes.io/managed-by': 'jitbot' };
// A role that opts in to ClusterRoleBindings: its one scope is the word "cluster".
const CLUSTER_WIDE = { scopes: null, extra: ['cluster_wide = true'] };

// ---------------------------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------------------------

// Lower case, '_' as '-': a valid name for every kind of object, not only RBAC's laxer rule.
const bindingName = (requestId) => `jitbot-${requestId.toLowerCase().replace(/[^a-z0-9]/g, '-')}`;

/// Starts FakeKubernetes (TLS, namespace team-a), writes a kubeconfig for it and a jitbot config
/// whose backend "cloud" reads it. `kubeconfigFor(fake, dir)` may write a different kubeconfig;
/// `backendExtra` is more TOML for the [[backends]] entry; `role` overrides the [[roles]] entry
/// (e.g. {scopes: null, extra: ['cluster_wide = true']}).
async function withCluster(fn, { kubeconfigFor, backendExtra = '', role = {} } = {}) {
  const fake = await new FakeKubernetes({ namespaces: ['default', 'team-a'] }).start();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jitbot-k8s-e2e-'));
  try {
    const kubeconfig = kubeconfigFor
      ? kubeconfigFor(fake, dir)
      : writeKubeconfig(dir, { server: fake.url, caPem: fake.caPem, token: fake.token });
    const backend = ['[[backends]]', 'name = "cloud"', 'type = "kubernetes"', `kubeconfig = ${toml(kubeconfig)}`,
      'timeout = "20s"', backendExtra].join('\n');
    const { file } = writeConfig({ dir, backend, role: { provider: 'k8s', name: ROLE, ...role } });
    // KUBECONFIG and HOME point nowhere useful: only the configured kubeconfig may be read.
    const env = { KUBECONFIG: path.join(dir, 'no-such-kubeconfig'), HOME: dir };
    await fn({ fake, dir, shell: (lines) => runShell(file, lines, { env }) });
  } finally {
    await fake.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const requestLines = (scope) => [
  `/as ${USERS.alice.id}`,
  `/jit request --provider k8s --role ${ROLE} --scope ${scope} --duration 2h --reason "INC-4421"`,
];
const grantOnly = (scope) => approvalStory({ provider: 'k8s', role: ROLE, scope }).filter((l) => !l.startsWith('/wait') && !l.startsWith('/jit list'));
const approveLines = (id) => [`/as ${USERS.bob.id}`, `/jit approve ${id}`];

const assertOk = assertShellOk;
const REQUEST_SUBMITTED = /Request req_[0-9A-Z]+ submitted/;

function assertNoSecret(result, secret) {
  assert.ok(!result.stdout.includes(secret) && !result.stderr.includes(secret), 'the token appears in the output');
}

// ---------------------------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------------------------

test('namespaced scope: approve creates the RoleBinding as documented; expiry deletes it', async () => {
  await withCluster(async ({ fake, shell }) => {
    const granted = await shell(grantOnly('team-a'));
    assertOk(granted);
    const id = requestIdIn(granted.stdout);
    assert.match(backendLine(granted, 'grant', id), /: ok/);
    assert.match(dmsTo(granted.stdout, USERS.alice.id).join('\n'), /Your access is active/);

    const [binding] = fake.bindings({ name: bindingName(id) });
    assert.ok(binding, `no RoleBinding ${bindingName(id)}; bindings: ${JSON.stringify(fake.bindings())}`);
    assert.equal(binding.kind, 'RoleBinding');
    assert.equal(binding.metadata.namespace, 'team-a');
    assert.deepEqual(binding.roleRef, { apiGroup: RBAC_GROUP, kind: 'ClusterRole', name: ROLE });
    assert.deepEqual(binding.subjects, [{ kind: 'User', apiGroup: RBAC_GROUP, name: USERS.alice.email }]);
    assert.deepEqual(binding.metadata.labels, { ...MANAGED_BY, 'jitbot.dev/request-id': id });
    const annotations = binding.metadata.annotations || {};
    const expiresAt = Date.parse(annotations['jitbot.dev/expires-at']);
    assert.ok(Math.abs(expiresAt - (Date.now() + 2 * 3600e3)) < 10 * 60e3, `expires-at ${annotations['jitbot.dev/expires-at']} is not about 2h from now`);
    assert.equal(annotations['jitbot.dev/requester'], USERS.alice.email);
    assert.equal(annotations['jitbot.dev/reason'], 'INC-4421');
    const creates = fake.apiCalls().filter((c) => c.method === 'POST');
    assert.deepEqual(creates.map((c) => [c.path, c.status]), [['/apis/rbac.authorization.k8s.io/v1/namespaces/team-a/rolebindings', 201]]);

    // A later session (a restart) expires it.
    const expired = await shell(['/wait 2h', '/jit list --mine']);
    assertOk(expired);
    assert.match(backendLine(expired, 'revoke', id), /: ok/);
    assert.deepEqual(fake.bindings(), []);
    const deletes = fake.apiCalls().filter((c) => c.method === 'DELETE');
    assert.equal(deletes.length, 1);
    assert.equal(deletes[0].path, `/apis/rbac.authorization.k8s.io/v1/namespaces/team-a/rolebindings/${bindingName(id)}`);
    assert.match(dmsTo(expired.stdout, USERS.alice.id).join('\n'), /has expired and was removed/);
    assertNoSecret(granted, fake.token);
    assertNoSecret(expired, fake.token);
  });
});

test('a cluster_wide = true role (--scope cluster) makes a ClusterRoleBinding, deleted at expiry', async () => {
  await withCluster(async ({ fake, shell }) => {
    const result = await shell(grantOnly('cluster'));
    assertOk(result);
    const id = requestIdIn(result.stdout);
    assert.match(backendLine(result, 'grant', id), /: ok/);
    assert.deepEqual(fake.bindings({ kind: 'RoleBinding' }), []);
    const [binding] = fake.bindings({ kind: 'ClusterRoleBinding', name: bindingName(id) });
    assert.ok(binding, `no ClusterRoleBinding ${bindingName(id)}: ${JSON.stringify(fake.bindings())}`);
    assert.equal(binding.metadata.namespace, undefined);
    assert.deepEqual(binding.roleRef, { apiGroup: RBAC_GROUP, kind: 'ClusterRole', name: ROLE });
    assert.deepEqual(binding.subjects, [{ kind: 'User', apiGroup: RBAC_GROUP, name: USERS.alice.email }]);
    assert.equal(binding.metadata.labels['jitbot.dev/request-id'], id);

    const expired = await shell(['/wait 2h']);
    assertOk(expired);
    assert.match(backendLine(expired, 'revoke', id), /: ok/);
    assert.deepEqual(fake.bindings(), []);
    assert.ok(fake.apiCalls().some((c) => c.method === 'DELETE' && c.path === `/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/${bindingName(id)}`));
  }, { role: CLUSTER_WIDE });
});

test('a binding that already carries our request-id label counts as granted (a grant repeated after a crash)', async () => {
  await withCluster(async ({ fake, shell }) => {
    const requested = await shell(requestLines('team-a'));
    assertOk(requested);
    const id = requestIdIn(requested.stdout);
    // What an earlier grant attempt left behind before jitbot died without recording it.
    const earlier = fake.addBinding({
      kind: 'RoleBinding',
      metadata: { name: bindingName(id), namespace: 'team-a', labels: { ...MANAGED_BY, 'jitbot.dev/request-id': id } },
      roleRef: { apiGroup: RBAC_GROUP, kind: 'ClusterRole', name: ROLE },
      subjects: [{ kind: 'User', apiGroup: RBAC_GROUP, name: USERS.alice.email }],
    });

    const approved = await shell([...approveLines(id), '/wait 2h']);
    assertOk(approved);
    assert.match(backendLine(approved, 'grant', id), /: ok/);
    assert.ok(fake.apiCalls().some((c) => c.method === 'POST' && c.status === 409), 'the create met AlreadyExists');
    assert.match(dmsTo(approved.stdout, USERS.alice.id).join('\n'), /Your access is active/);
    // ...and being ours, it is deleted at expiry.
    assert.match(backendLine(approved, 'revoke', id), /: ok/);
    assert.deepEqual(fake.bindings({ name: earlier.metadata.name }), []);
  });
});

test('a foreign binding with our name fails the grant and is left alone', async () => {
  await withCluster(async ({ fake, shell }) => {
    const requested = await shell(requestLines('team-a'));
    assertOk(requested);
    const id = requestIdIn(requested.stdout);
    const foreign = fake.addBinding({
      kind: 'RoleBinding',
      metadata: { name: bindingName(id), namespace: 'team-a', labels: { team: 'platform' } },
      roleRef: { apiGroup: RBAC_GROUP, kind: 'ClusterRole', name: 'admin' },
      subjects: [{ kind: 'Group', apiGroup: RBAC_GROUP, name: 'platform-admins' }],
    });

    const approved = await shell(approveLines(id));
    assertOk(approved);
    const line = backendLine(approved, 'grant', id);
    assert.match(line, /FAILED/);
    assert.match(line, new RegExp(bindingName(id)), 'the error names the binding');
    assert.match(dmsTo(approved.stdout, USERS.alice.id).join('\n'), /grant failed/);
    // The clean-up after a failed grant must not delete what jitbot did not create.
    const [still] = fake.bindings({ name: bindingName(id) });
    assert.ok(still, 'the foreign binding was deleted');
    assert.equal(still.metadata.uid, foreign.metadata.uid);
    assert.deepEqual(still.subjects, foreign.subjects);
  });
});

test('a revoke after someone deleted the binding succeeds', async () => {
  await withCluster(async ({ fake, shell }) => {
    const granted = await shell(grantOnly('team-a'));
    assertOk(granted);
    const id = requestIdIn(granted.stdout);
    assert.match(backendLine(granted, 'grant', id), /: ok/);
    assert.ok(fake.removeBinding('RoleBinding', 'team-a', bindingName(id)), 'the grant left no binding to remove');

    const expired = await shell(['/wait 2h']);
    assertOk(expired);
    assert.match(backendLine(expired, 'revoke', id), /: ok/);
    // Whether it looks first (GET) or deletes straight away, the binding is found gone: a 404.
    assert.ok(fake.apiCalls().some((c) => c.status === 404 && c.path.endsWith(`/${bindingName(id)}`)), 'no 404 for the binding');
    assert.match(dmsTo(expired.stdout, USERS.alice.id).join('\n'), /has expired and was removed/);
  });
});

test('a wrong token fails the grant at once with a clear message, never echoing a token', async () => {
  const wrong = 'wrong-token-7f3a9c';
  await withCluster(async ({ fake, shell }) => {
    const result = await shell(grantOnly('team-a'));
    assertOk(result);
    const id = requestIdIn(result.stdout);
    const line = backendLine(result, 'grant', id);
    assert.match(line, /FAILED/);
    assert.match(line, /401|Unauthorized/);
    assert.match(dmsTo(result.stdout, USERS.alice.id).join('\n'), /grant failed/);
    assert.deepEqual(fake.bindings(), []);
    assert.equal(fake.apiCalls().filter((c) => c.method === 'POST').length, 1, 'a 401 is not retried');
    assertNoSecret(result, wrong);
    assertNoSecret(result, fake.token);
  }, { kubeconfigFor: (fake, dir) => writeKubeconfig(dir, { server: fake.url, caPem: fake.caPem, token: wrong }) });
});

test('a missing namespace fails the grant naming it', async () => {
  await withCluster(async ({ fake, shell }) => {
    const result = await shell(grantOnly('no-such-team'));
    assertOk(result);
    const id = requestIdIn(result.stdout);
    const line = backendLine(result, 'grant', id);
    assert.match(line, /FAILED/);
    assert.match(line, /no-such-team/);
    assert.deepEqual(fake.bindings(), []);
  });
});

test('throttling (429 with Retry-After) and a 5xx are retried', async () => {
  await withCluster(async ({ fake, shell }) => {
    fake.failNext(429, 'TooManyRequests', { retryAfter: 1, method: 'POST' });
    fake.failNext(503, 'ServiceUnavailable', { method: 'DELETE' });
    const result = await shell(approvalStory({ provider: 'k8s', role: ROLE, scope: 'team-a' }));
    assertOk(result);
    const id = requestIdIn(result.stdout);
    assert.match(backendLine(result, 'grant', id), /: ok/);
    assert.match(backendLine(result, 'revoke', id), /: ok/);
    assert.deepEqual(fake.apiCalls().filter((c) => c.method !== 'GET').map((c) => `${c.method} ${c.status}`),
      ['POST 429', 'POST 201', 'DELETE 503', 'DELETE 200']);
    assert.deepEqual(fake.bindings(), []);
  });
});

test('`context` picks a kubeconfig context other than current-context; tokenFile and quoted YAML are read', async () => {
  await withCluster(async ({ fake, shell }) => {
    const result = await shell(grantOnly('team-a'));
    assertOk(result);
    const id = requestIdIn(result.stdout);
    assert.match(backendLine(result, 'grant', id), /: ok/);
    assert.equal(fake.bindings({ name: bindingName(id) }).length, 1);
    assert.ok(fake.calls.every((c) => c.status !== 401), 'the current-context (wrong token) was used');
  }, {
    backendExtra: 'context = "jitbot"',
    kubeconfigFor: (fake, dir) => {
      const tokenFile = path.join(dir, 'sa-token');
      fs.writeFileSync(tokenFile, `${fake.token}\n`);
      // Double-quoted scalars here (the other tests write kubectl's plain style): both are YAML.
      return writeKubeconfig(dir, [
        { name: 'someone-else', server: fake.url, caPem: fake.caPem, token: 'not-ours' },
        { name: 'jitbot', server: fake.url, caPem: fake.caPem, tokenFile },
      ], { quoted: true });
    },
  });
});

test('[backends.principals] maps the requester to the name the cluster knows', async () => {
  await withCluster(async ({ fake, shell }) => {
    const result = await shell(grantOnly('team-a'));
    assertOk(result);
    const id = requestIdIn(result.stdout);
    assert.match(backendLine(result, 'grant', id), /: ok/);
    const [binding] = fake.bindings({ name: bindingName(id) });
    assert.deepEqual(binding.subjects, [{ kind: 'User', apiGroup: RBAC_GROUP, name: 'oidc:alice' }]);
  }, { backendExtra: `\n[backends.principals]\n${toml(USERS.alice.email)} = "oidc:alice"` });
});

// ---------------------------------------------------------------------------------------------------------------
// The revoke's uid precondition: only the binding jitbot created is deleted
// ---------------------------------------------------------------------------------------------------------------

const bindingPath = (id) => `/apis/rbac.authorization.k8s.io/v1/namespaces/team-a/rolebindings/${bindingName(id)}`;

/// Someone else's binding under jitbot's name (a platform team's admin binding, say).
const foreignBinding = (id) => ({
  kind: 'RoleBinding',
  metadata: { name: bindingName(id), namespace: 'team-a', labels: { team: 'platform' } },
  roleRef: { apiGroup: RBAC_GROUP, kind: 'ClusterRole', name: 'admin' },
  subjects: [{ kind: 'Group', apiGroup: RBAC_GROUP, name: 'platform-admins' }],
});

test('the revoke deletes with DeleteOptions preconditions.uid = the uid of the binding jitbot created', async () => {
  await withCluster(async ({ fake, shell }) => {
    const granted = await shell(grantOnly('team-a'));
    assertOk(granted);
    const id = requestIdIn(granted.stdout);
    const [created] = fake.bindings({ name: bindingName(id) });
    assert.ok(created, `the grant created ${bindingName(id)}`);

    const expired = await shell(['/wait 2h']);
    assertOk(expired);
    assert.match(backendLine(expired, 'revoke', id), /: ok/);
    const deletes = fake.apiCalls().filter((c) => c.method === 'DELETE');
    assert.equal(deletes.length, 1, 'one DELETE');
    assert.equal(deletes[0].path, bindingPath(id));
    assert.equal(deletes[0].body?.kind, 'DeleteOptions', `the DELETE carries DeleteOptions: ${JSON.stringify(deletes[0].body)}`);
    assert.deepEqual(deletes[0].body?.preconditions, { uid: created.metadata.uid },
      'the DELETE is conditional on the uid of the binding jitbot created');
    assert.equal(deletes[0].status, 200);
    assert.deepEqual(fake.bindings(), [], 'the binding is gone');
  });
});

test('a binding someone replaces between jitbot\'s read and its delete is not deleted: the API server answers 409 Conflict, and the revoke leaves the replacement alone', async () => {
  await withCluster(async ({ fake, shell }) => {
    const granted = await shell(grantOnly('team-a'));
    assertOk(granted);
    const id = requestIdIn(granted.stdout);
    const [created] = fake.bindings({ name: bindingName(id) });
    assert.ok(created, `the grant created ${bindingName(id)}`);

    // Right after the revoke has read jitbot's binding, someone deletes it and creates their own.
    let replacement = null;
    fake.onCall((call) => {
      if (!replacement && call.method === 'GET' && call.path === bindingPath(id) && call.status === 200) {
        replacement = fake.replaceBinding(foreignBinding(id));
      }
    });
    const expired = await shell(['/wait 2h']);
    assertOk(expired);
    assert.ok(replacement, 'the revoke read the binding before deleting it');

    const [conflict] = fake.apiCalls().filter((c) => c.method === 'DELETE');
    assert.ok(conflict, 'jitbot sent a DELETE');
    assert.deepEqual(conflict.body?.preconditions, { uid: created.metadata.uid }, 'the DELETE named the uid jitbot had read');
    assert.equal(conflict.status, 409, 'the API server refused the DELETE: the uid no longer matches');
    assert.ok(fake.apiCalls().filter((c) => c.method === 'DELETE').every((c) => c.status === 409),
      'no DELETE went through against the replacement');

    // The replacement is someone else's: it stays, as it was created.
    const [still] = fake.bindings({ name: bindingName(id) });
    assert.ok(still, 'the replacement was deleted');
    assert.equal(still.metadata.uid, replacement.metadata.uid);
    assert.deepEqual(still.subjects, replacement.subjects);

    // jitbot's own binding is gone, so the revoke is done, and says that nothing of its own was left.
    const line = backendLine(expired, 'revoke', id);
    assert.match(line, /: ok — There was no binding of jitbot's for this request to delete\./, line);
    assert.match(dmsTo(expired.stdout, USERS.alice.id).join('\n'), /has expired and was removed/);
  });
});

test('a binding re-created under jitbot\'s name and labels since the grant (a restore from a backup) is another object: the revoke leaves it alone', async () => {
  await withCluster(async ({ fake, shell }) => {
    const granted = await shell(grantOnly('team-a'));
    assertOk(granted);
    const id = requestIdIn(granted.stdout);
    const [created] = fake.bindings({ name: bindingName(id) });

    // Someone deletes jitbot's binding and restores a copy, labels and all: a new object, a new uid.
    const copy = { kind: 'RoleBinding', metadata: { ...created.metadata }, roleRef: created.roleRef, subjects: created.subjects };
    for (const field of ['uid', 'resourceVersion', 'creationTimestamp']) delete copy.metadata[field];
    const restored = fake.replaceBinding(copy);
    assert.notEqual(restored.metadata.uid, created.metadata.uid, 'precondition: the copy is another object');

    const expired = await shell(['/wait 2h']);
    assertOk(expired);
    assert.deepEqual(fake.apiCalls().filter((c) => c.method === 'DELETE'), [],
      'jitbot deletes only the object it created (its uid is kept with the grant), never a look-alike');
    const line = backendLine(expired, 'revoke', id);
    assert.match(line, /: ok — There was no binding of jitbot's for this request to delete: .* was re-created since the grant/, line);
    const [still] = fake.bindings({ name: bindingName(id) });
    assert.equal(still?.metadata.uid, restored.metadata.uid, 'the restored binding is still there');
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Extending active access: the expires-at annotation moves by a PUT of the binding as read
// ---------------------------------------------------------------------------------------------------------------

const SELF_EXTENDING = { role: { extra: SELF_EXTEND } };
const expiresAt = (binding) => binding?.metadata.annotations?.['jitbot.dev/expires-at'];
const activeUntil = (stdout) => {
  const until = /Active until (\S+)/.exec(stdout)?.[1];
  assert.ok(until, `the card shows no "Active until":\n${stdout}`);
  return until;
};

test('/jit extend (self_extend): the binding, replaced as read, says the new end; it outlives the old end and is deleted at the new one', async () => {
  await withCluster(async ({ fake, shell }) => {
    const granted = await shell(grantOnly('team-a'));
    assertOk(granted);
    const id = requestIdIn(granted.stdout);
    const oldEnd = activeUntil(granted.stdout);
    const [created] = fake.bindings({ name: bindingName(id) });
    assert.equal(expiresAt(created), oldEnd, 'precondition: the grant annotated the card\'s end');
    const newEnd = later(oldEnd, 3600);

    const extended = await shell([...extendLines(id, '1h'), '/wait 2h10m', '/jit list --mine']);
    assertOk(extended);
    assert.match(backendLine(extended, 'extend', id), /: ok/);
    assert.match(dmsTo(extended.stdout, USERS.alice.id).join(' '), new RegExp(`${id} .*was extended: it now ends at ${newEnd}\\.`));

    // One PUT of the whole binding, at the resourceVersion it was read at; only the end changed.
    const puts = fake.apiCalls().filter((c) => c.method === 'PUT');
    assert.deepEqual(puts.map((c) => [c.path, c.status]), [[bindingPath(id), 200]]);
    assert.equal(puts[0].body.metadata.resourceVersion, created.metadata.resourceVersion);
    const [after] = fake.bindings({ name: bindingName(id) });
    assert.equal(expiresAt(after), newEnd, `annotations: ${JSON.stringify(after.metadata.annotations)}`);
    assert.equal(after.metadata.uid, created.metadata.uid, 'the same object, not a re-created one');
    assert.deepEqual({ ...after.metadata.annotations, 'jitbot.dev/expires-at': oldEnd }, created.metadata.annotations);
    assert.deepEqual([after.metadata.labels, after.roleRef, after.subjects], [created.metadata.labels, created.roleRef, created.subjects]);

    // Past the old end, nothing was deleted: the binding is there, and the list says until the new end.
    assert.ok(clockAfter(extended.stdout, '/wait 2h10m') > Date.parse(oldEnd), 'precondition: the wait passed the old end');
    assert.deepEqual(backendLines(extended.stdout, 'revoke'), []);
    assert.deepEqual(fake.apiCalls().filter((c) => c.method === 'DELETE'), []);
    assert.match(outputOf(extended.stdout, '/jit list --mine'), new RegExp(`${id}\\s+ACTIVE .*Active until ${newEnd}`));

    // A later session: still there just before the new end, deleted after it.
    const ended = await shell(['/wait 2h50m', '/wait 20m']);
    assertOk(ended);
    assert.ok(clockAfter(ended.stdout, '/wait 2h50m') < Date.parse(newEnd), 'precondition: the first wait stops short of the new end');
    assert.doesNotMatch(outputOf(ended.stdout, '/wait 2h50m'), /· backend cloud revoke/);
    assert.match(outputOf(ended.stdout, '/wait 20m'), new RegExp(`· backend cloud revoke ${id}: ok`));
    assert.deepEqual(fake.bindings(), []);
    assert.match(dmsTo(ended.stdout, USERS.alice.id).join(' '), /has expired and was removed/);
  }, SELF_EXTENDING);
});

test('/jit extend after someone deleted the binding: the extension fails, the DM says so, nothing is re-created, and access ends at the old time', async () => {
  await withCluster(async ({ fake, shell }) => {
    const granted = await shell(grantOnly('team-a'));
    assertOk(granted);
    const id = requestIdIn(granted.stdout);
    const oldEnd = activeUntil(granted.stdout);
    assert.ok(fake.removeBinding('RoleBinding', 'team-a', bindingName(id)), 'the grant left no binding to remove');

    const extended = await shell(extendLines(id, '1h'));
    assertOk(extended);
    assert.match(backendLine(extended, 'extend', id), /FAILED — .*nothing to extend/);
    const dm = dmsTo(extended.stdout, USERS.alice.id).join(' ');
    assert.match(dm, new RegExp(`${id} .*could not be extended: .*It still ends at ${oldEnd};`), dm);
    assert.doesNotMatch(dm, /was extended/);
    assert.deepEqual(fake.apiCalls().filter((c) => c.method === 'PUT' || c.method === 'POST').map((c) => c.method), ['POST'],
      'only the grant wrote: the extension neither replaced nor re-created the binding');
    assert.deepEqual(fake.bindings(), []);

    // jitbot's own expiry did not move: the access ends (and its revoke runs) at the old time.
    const ended = await shell(['/wait 1h50m', '/wait 20m']);
    assertOk(ended);
    assert.doesNotMatch(outputOf(ended.stdout, '/wait 1h50m'), /· backend cloud revoke/);
    assert.match(outputOf(ended.stdout, '/wait 20m'), new RegExp(`· backend cloud revoke ${id}: ok`));
    assert.ok(clockAfter(ended.stdout, '/wait 20m') < Date.parse(later(oldEnd, 3600)), 'revoked before the end the extension asked for');
    assert.match(dmsTo(ended.stdout, USERS.alice.id).join(' '), /has expired/);
  }, SELF_EXTENDING);
});

test('/jit extend while someone labels the binding between jitbot\'s read and its PUT: 409 Conflict, read again, and both changes are kept', async () => {
  await withCluster(async ({ fake, shell }) => {
    const granted = await shell(grantOnly('team-a'));
    assertOk(granted);
    const id = requestIdIn(granted.stdout);
    const newEnd = later(activeUntil(granted.stdout), 3600);

    // Right after the extension's first read, someone labels the binding (kubectl label).
    let edited = null;
    fake.onCall((call) => {
      if (!edited && call.method === 'GET' && call.path === bindingPath(id) && call.status === 200) {
        edited = fake.editBinding('RoleBinding', 'team-a', bindingName(id), (b) => (b.metadata.labels.team = 'payments'));
      }
    });
    const extended = await shell(extendLines(id, '1h'));
    assertOk(extended);
    assert.ok(edited, 'the extension read the binding');
    assert.match(backendLine(extended, 'extend', id), /: ok/);
    assert.deepEqual(fake.apiCalls().filter((c) => c.method === 'PUT').map((c) => c.status), [409, 200],
      'the PUT of the stale copy was refused, the one after a fresh read went through');
    const [after] = fake.bindings({ name: bindingName(id) });
    assert.equal(after.metadata.labels.team, 'payments', 'the other edit was not overwritten');
    assert.equal(expiresAt(after), newEnd);
    assert.match(dmsTo(extended.stdout, USERS.alice.id).join(' '), new RegExp(`was extended: it now ends at ${newEnd}\\.`));
  }, SELF_EXTENDING);
});

// ---------------------------------------------------------------------------------------------------------------
// Scope tricks: refused before any call to the cluster
// ---------------------------------------------------------------------------------------------------------------

test('without cluster_wide, --scope "*" is refused (a request names one namespace): no ClusterRoleBinding, no API call', async () => {
  await withCluster(async ({ fake, shell }) => {
    const result = await shell(grantOnly("'*'"));
    assertOk(result);
    assert.match(result.stdout, /"\*" is not a valid scope for k8s\/view: \* and \? are for role patterns; a request names one scope/);
    assert.doesNotMatch(result.stdout, REQUEST_SUBMITTED, 'the request was accepted');
    assert.deepEqual(fake.bindings(), []);
    assert.deepEqual(fake.apiCalls(), []);
  }, { role: { scopes: ['*'] } });
});

test('a namespace with a space ("kube system") is refused before any API call', async () => {
  await withCluster(async ({ fake, shell }) => {
    const result = await shell(grantOnly('"kube system"'));
    assertOk(result);
    assert.match(result.stdout, /"kube system" is not a valid scope for k8s\/view: it contains a space/);
    assert.doesNotMatch(result.stdout, REQUEST_SUBMITTED, 'the request was accepted');
    assert.deepEqual(fake.bindings(), []);
    assert.deepEqual(fake.apiCalls(), []);
  }, { role: { scopes: ['*'] } });
});

test('a role scope pattern no namespace can match ("team a*") stops jitbot shell at config load, naming scopes', async () => {
  await withCluster(async ({ fake, shell }) => {
    const result = await shell(requestLines('team-a'));
    assert.notEqual(result.code, 0, `the shell started with scopes = ["team a*"]:\n${result.stdout}`);
    assert.match(result.stderr, /scopes/);
    assert.match(result.stderr, /team a\*/);
    assert.deepEqual(fake.calls, []);
  }, { role: { scopes: ['team a*'] } });
});
