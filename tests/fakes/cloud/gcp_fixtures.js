// What the GCP fake's self-tests and the gcloud proof share: the project, its token and first
// policy, and a fake started around a test.
'use strict';
const { FakeGcp } = require('./fake_gcp');

const TOKEN = 'ya29.fake-gcp-token';
const PROJECT = 'proj-jitbot-1';

const initialBindings = () => [
  { role: 'roles/owner', members: ['user:owner@example.com'] },
  { role: 'roles/viewer', members: ['group:devs@example.com', 'serviceAccount:ci@proj-jitbot-1.iam.gserviceaccount.com'] },
];

const expiring = (title, at = '2030-01-01T00:00:00Z') => ({ title, description: 'test', expression: `request.time < timestamp("${at}")` });

async function withFake(options, fn) {
  const fake = new FakeGcp({ token: TOKEN, projects: { [PROJECT]: { bindings: initialBindings() } }, ...options });
  await fake.start();
  try {
    await fn(fake);
  } finally {
    await fake.stop();
  }
}

/** An etag in the URL-safe base64 alphabet gcloud writes it back in. */
const urlSafe = (etag) => etag.replace(/\+/g, '-').replace(/\//g, '_');

module.exports = { TOKEN, PROJECT, initialBindings, expiring, withFake, urlSafe };
