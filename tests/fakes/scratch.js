// Temporary folders for tests that are removed when the Node process exits, however its tests
// end (a failed assertion included): certificates, keys and tokens written for a test do not pile
// up in the system's temp folder run after run.
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const made = [];
process.on('exit', () => {
  for (const dir of made) fs.rmSync(dir, { recursive: true, force: true });
});

/// A new folder under the system's temp folder, named `prefix` and six random characters.
function scratchDir(prefix) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(dir);
  return dir;
}

module.exports = { scratchDir };
