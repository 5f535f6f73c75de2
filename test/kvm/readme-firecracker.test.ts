// The README's Firecracker walkthrough (the ```sh block whose first line is
// `# example: firecracker-walkthrough`), run as written with bash and curl: `node-vmm` on PATH is the
// built CLI, and `require('node-vmm')` resolves to this package (the block runs from its root).
import { strict as assert } from 'node:assert';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Cleanup } from '../helpers/cleanup';
import { CLI } from '../helpers/firecracker';
import { requireKvm, retryUnderEmulation } from '../helpers/kvm';
import { missingPrerequisite } from '../helpers/prerequisite';
import { makeSocketDir } from '../helpers/socket-dir';

const PACKAGE_ROOT = path.resolve(__dirname, '..', '..', '..');
const MARKER = '# example: firecracker-walkthrough';

function walkthrough(): string {
  const readme = fs.readFileSync(path.join(PACKAGE_ROOT, 'README.md'), 'utf8');
  const block = [...readme.matchAll(/```sh\n([^]*?)```/g)].map((m) => m[1] as string).find((b) => b.startsWith(MARKER));
  if (block === undefined) throw new Error(`README.md has no sh block starting with '${MARKER}'`);
  return block;
}

describe("README: Firecracker's getting-started with curl --unix-socket (real KVM)", function () {
  this.timeout(180_000);
  const cleanup = new Cleanup();
  before(function () {
    requireKvm(this);
    if (spawnSync('curl', ['--version'], { timeout: 10_000 }).status !== 0) missingPrerequisite(this, 'curl is not installed', 'apt-get install curl; .ci/run installs it');
  });
  after(() => cleanup.run());

  it('boots, pauses and snapshots under one server, loads and resumes under a second', async function () {
    retryUnderEmulation(this, 2);
    const dir = cleanup.add(makeSocketDir('readme-firecracker-'), (d) => fs.rmSync(d, { recursive: true, force: true }));
    const bin = path.join(dir, 'bin');
    fs.mkdirSync(bin);
    fs.writeFileSync(path.join(bin, 'node-vmm'), `#!/bin/sh\nexec "${process.execPath}" "${CLI}" "$@"\n`, { mode: 0o755 });
    const child = spawn('bash', ['-e', '-c', walkthrough()], {
      cwd: PACKAGE_ROOT,
      env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}:${path.dirname(process.execPath)}`, TMPDIR: dir },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 150_000,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.equal(code, 0, `stdout:\n${stdout}\nstderr:\n${stderr}`);
    assert.match(stdout, /"state":"Running"/);
    assert.doesNotMatch(stdout, /fault_message/);
  });
});
