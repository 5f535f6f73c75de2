import { missingPrerequisite } from '../helpers/prerequisite';
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildCpio } from '../helpers/cpio';

function hasCpio(): boolean {
  try {
    execFileSync('cpio', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('cpio newc writer (test helper)', () => {
  it('writes an archive that cpio lists and extracts byte for byte', function () {
    if (!hasCpio()) {
      missingPrerequisite(this, 'no cpio binary', 'apt-get install cpio');
    }
    const data = Buffer.from('#!/bin/sh\necho odd-length\n');
    const archive = buildCpio([
      { kind: 'dir', path: 'bin' },
      { kind: 'file', path: 'bin/init', data, mode: 0o755 },
      { kind: 'char', path: 'console', major: 5, minor: 1 },
    ]);
    assert.equal(archive.length % 4, 0);
    const listing = execFileSync('cpio', ['-itv', '--quiet'], { input: archive }).toString();
    assert.match(listing, /^drwxr-xr-x .* bin$/m);
    assert.match(listing, /^-rwxr-xr-x .* bin\/init$/m);
    assert.match(listing, /^crw------- .* 5,\s+1 .* console$/m);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cpio-test-'));
    try {
      execFileSync('cpio', ['-id', '--quiet', 'bin/init'], { input: archive, cwd: dir });
      assert.deepEqual(fs.readFileSync(path.join(dir, 'bin', 'init')), data);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
