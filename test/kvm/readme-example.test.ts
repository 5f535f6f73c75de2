// The README's Embedding example, run as written in a child process against the built package.
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { bundledGuestPath } from '../../lib/guest/bundled';
import { requireKvm, retryUnderEmulation } from '../helpers/kvm';

const PACKAGE_ROOT = path.resolve(__dirname, '..', '..', '..');

/** The first ```js block after the "## Embedding" heading. */
export function embeddingExample(readme: string): string {
  const section = readme.indexOf('\n## Embedding\n');
  if (section < 0) throw new Error('README.md has no "## Embedding" section');
  const match = /```js\n([^]*?)```/.exec(readme.slice(section));
  if (!match?.[1]) throw new Error('README.md\'s Embedding section has no ```js code block');
  return match[1];
}

function run(file: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('README Embedding example', function () {
  let dir: string;
  before(function () {
    requireKvm(this);
    if (!fs.existsSync(bundledGuestPath())) throw new Error(`the bundled guest ${bundledGuestPath()} is not built yet (npm run build:guest)`);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'node-vmm-readme-'));
  });
  after(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('boots the bundled guest self-test and prints status 0', async function () {
    retryUnderEmulation(this, 2);
    const code = embeddingExample(fs.readFileSync(path.join(PACKAGE_ROOT, 'README.md'), 'utf8'));
    assert.match(code, /require\('node-vmm'\)/);
    // Resolve 'node-vmm' to this package (its package.json main: dist/lib/index.js).
    const file = path.join(dir, 'example.js');
    fs.writeFileSync(file, code.replace("require('node-vmm')", `require(${JSON.stringify(PACKAGE_ROOT)})`));
    const result = await run(file);
    assert.equal(result.code, 0, `stdout:\n${result.stdout}\nstderr:\n${result.stderr}`);
    assert.match(result.stdout, /node-vmm-guest: ready/);
    assert.match(result.stdout, /^1\.\.\d+/m);
    assert.match(result.stdout, /self-test ended: exited, status 0\n$/);
  });
});
