// `node-vmm run` as a user runs it, with stdin piped: the bundled guest's shell, and its exit status.
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { bundledGuestPath } from '../../lib/guest/bundled';
import { CliProcess } from '../helpers/firecracker';
import { requireKvm, retryUnderEmulation } from '../helpers/kvm';

const CLI = path.resolve(__dirname, '..', '..', 'lib', 'cli', 'main.js');

describe('node-vmm run', function () {
  before(function () {
    requireKvm(this);
    if (!fs.existsSync(bundledGuestPath())) throw new Error(`the bundled guest ${bundledGuestPath()} is not built yet (npm run build:guest)`);
  });

  it('runs the bundled guest shell from piped stdin and exits with the guest status', async function () {
    retryUnderEmulation(this, 2);
    const run = new CliProcess(['run']);
    let at = await run.waitFor(/node-vmm> /, 0);
    run.child.stdin.write('echo hi\n');
    at = await run.waitFor(/\bhi\r?\n[^]*?node-vmm> /, at);
    run.child.stdin.write('exit 3\n');
    const code = await run.closed;
    assert.equal(code, 3, `stdout:\n${run.stdout}\nstderr:\n${run.stderr}`);
    assert.equal(run.stderr, '');
  });

  it('keeps input piped in before the guest is up (printf ... | node-vmm run)', async function () {
    retryUnderEmulation(this, 2);
    const child = spawn(process.execPath, [CLI, 'run'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('latin1')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdin.end('echo early-bird\nexit 4\n');
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    clearTimeout(timer);
    assert.equal(code, 4, `stdout:\n${stdout}\nstderr:\n${stderr}`);
    assert.match(stdout, /early-bird\r?\n/);
  });

  it('prints its help with Ctrl-A x and exits 0', async () => {
    const child = spawn(process.execPath, [CLI, 'run', '--help'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.equal(code, 0);
    assert.match(stdout, /Ctrl-A then x/);
  });
});
