// Every skip goes through test/helpers/prerequisite.ts, which fails a missing prerequisite under
// CI=true: a bare mocha skip would let CI go green by skipping.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const HELPER = path.join('test', 'helpers', 'prerequisite.ts');
const BARE_SKIP = /\.skip\s*\(|\bxit\s*\(|\bxdescribe\s*\(/;

function sources(dir: string): string[] {
  return fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const relative = path.join(dir, entry.name);
    if (entry.isDirectory()) return sources(relative);
    return entry.name.endsWith('.ts') ? [relative] : [];
  });
}

describe('test skips', () => {
  it('no test skips except through the prerequisite helper', () => {
    const offenders = sources('test')
      .filter((file) => file !== HELPER && file !== path.join('test', 'unit', 'skips.test.ts'))
      .flatMap((file) =>
        fs
          .readFileSync(path.join(ROOT, file), 'utf8')
          .split('\n')
          .flatMap((line, i) => (BARE_SKIP.test(line) ? [`${file}:${i + 1}: ${line.trim()}`] : [])),
      );
    assert.deepEqual(offenders, [], 'use missingPrerequisite or notOnThisHost from test/helpers/prerequisite.ts');
  });
});
