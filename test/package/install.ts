// `npm run test:package`: the package as a user gets it. Packs this tree (prepack builds the prebuild
// and the bundled guest), checks what the tarball carries and which glibc the prebuild needs, then
// installs the tarball into a fresh project whose PATH reaches no compiler (cc, c++, gcc, g++, make,
// python3), with the npm cache warm, and times that install. There it requires node-vmm, boots the
// bundled guest's self-test through createVm() on the prebuild, and runs `npx node-vmm check`.
// Not part of `npm test`: packing rebuilds the addon. .ci/run runs it.
import { strict as assert } from 'node:assert';
import { execFileSync, spawnSync, SpawnSyncReturns } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PACKAGE_ROOT } from '../../lib/native/binding';

/** The bar for an install with a warm cache and a prebuild (issue 13). */
const INSTALL_LIMIT_MS = 10_000;
/** The newest glibc symbol version the prebuild may need: the floor README.md states. */
const GLIBC_FLOOR = '2.14';
const PREBUILD = 'prebuilds/linux-x64/node-vmm.glibc.node';
const COMPILERS = ['cc', 'c++', 'gcc', 'g++', 'make', 'python3', 'python'];
/** What npm, its scripts and node-gyp-build's install check call besides node. */
const BASIC_TOOLS = ['sh', 'bash', 'env', 'cat', 'ls', 'mkdir', 'rm', 'cp', 'mv', 'chmod', 'ln', 'uname', 'grep', 'sed', 'tar', 'gzip', 'which'];

function step(what: string): void {
  console.log(`== ${what}`);
}

function run(command: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv }): SpawnSyncReturns<string> & { ms: number } {
  const started = process.hrtime.bigint();
  const result = spawnSync(command, args, { cwd: options.cwd, env: options.env ?? process.env, encoding: 'utf8', maxBuffer: 64 << 20 });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  if (result.error) throw result.error;
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} exited with ${result.status}\n${result.stdout}\n${result.stderr}`);
  }
  return Object.assign(result, { ms });
}

function which(tool: string): string | undefined {
  const found = spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' });
  return found.status === 0 ? found.stdout.trim() : undefined;
}

/** A directory of symlinks to node, npm, npx and the basic tools only: a PATH with no compiler on it. */
function compilerFreeBin(dir: string): string {
  fs.mkdirSync(dir);
  for (const tool of ['node', 'npm', 'npx', ...BASIC_TOOLS]) {
    const target = which(tool);
    if (target === undefined) {
      if (['node', 'npm', 'npx', 'sh', 'env'].includes(tool)) throw new Error(`${tool} is not on PATH`);
      continue;
    }
    fs.symlinkSync(fs.realpathSync(target), path.join(dir, tool));
  }
  for (const compiler of COMPILERS) {
    const found = spawnSync('sh', ['-c', `command -v ${compiler}`], { env: { PATH: dir }, encoding: 'utf8' });
    assert.notEqual(found.status, 0, `${compiler} is reachable through ${dir}`);
  }
  return dir;
}

function maxGlibc(file: string): string {
  const symbols = execFileSync('objdump', ['-T', file], { encoding: 'utf8' });
  const versions = [...symbols.matchAll(/GLIBC_(\d+)\.(\d+)(?:\.(\d+))?/g)].map((m) => [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)]);
  versions.sort((a, b) => (a[0] as number) - (b[0] as number) || (a[1] as number) - (b[1] as number) || (a[2] as number) - (b[2] as number));
  const newest = versions.at(-1);
  assert.ok(newest !== undefined, 'the prebuild names no glibc symbol version');
  return newest[2] ? newest.join('.') : `${newest[0]}.${newest[1]}`;
}

function newerThan(a: string, b: string): boolean {
  const [x, y] = [a.split('.').map(Number), b.split('.').map(Number)];
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) > (y[i] ?? 0);
  }
  return false;
}

function freshProject(dir: string): string {
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: path.basename(dir), version: '1.0.0', private: true }, null, 2));
  return dir;
}

// What a user's program does first: boot the bundled guest's self-test. It also reports which addon
// file the process loaded, so the test knows the prebuild served it.
const USER_PROGRAM = `
const fs = require('node:fs');
const { createVm } = require('node-vmm');
(async () => {
  const vm = await createVm({ cmdline: 'nodevmm.mode=selftest' });
  let output = '';
  vm.console.on('data', (chunk) => { output += chunk.toString('latin1'); });
  try {
    await vm.start();
    const exit = await vm.exited;
    const addon = fs.readFileSync('/proc/self/maps', 'utf8').split('\\n').map((l) => l.split(/\\s+/)[5]).find((f) => f && f.endsWith('.node'));
    console.log(JSON.stringify({ reason: exit.reason, status: exit.status, addon, ok: (output.match(/^ok /gm) || []).length, notOk: (output.match(/^not ok /gm) || []).length }));
  } finally {
    await vm.dispose();
  }
})().catch((error) => { console.error(error); process.exitCode = 1; });
`;

function main(): void {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), `node-vmm-package-${process.pid}-`));
  try {
    step('npm pack (prepack: the prebuild in a Debian bullseye chroot, the bundled guest)');
    const pack = run('npm', ['pack', '--json', '--pack-destination', work], { cwd: PACKAGE_ROOT });
    const packed = (JSON.parse(pack.stdout.slice(pack.stdout.indexOf('[\n'))) as { filename: string; files: { path: string }[] }[])[0];
    assert.ok(packed !== undefined);
    const tarball = path.join(work, packed.filename);
    const files = new Set(packed.files.map((f) => f.path));
    console.log(`   ${packed.filename}: ${files.size} files, packed in ${(pack.ms / 1000).toFixed(1)} s`);
    const expected = [PREBUILD, 'dist/guest/node-vmm-guest.bzImage', 'dist/lib/index.js', 'dist/lib/cli/main.js', 'binding.gyp', 'native/addon.cc'];
    if (fs.existsSync(path.join(PACKAGE_ROOT, 'dist/guest/node-vmm-guest.elf'))) expected.push('dist/guest/node-vmm-guest.elf');
    for (const file of expected) assert.ok(files.has(file), `the tarball carries ${file}`);
    assert.ok(![...files].some((f) => f.startsWith('dist/test/') || f.startsWith('build/')), 'no tests or local build in the tarball');

    const glibc = maxGlibc(path.join(PACKAGE_ROOT, PREBUILD));
    console.log(`   ${PREBUILD} needs glibc ${glibc} at most (objdump -T; the README's floor is ${GLIBC_FLOOR})`);
    assert.ok(!newerThan(glibc, GLIBC_FLOOR), `the prebuild needs GLIBC_${glibc}, newer than the stated floor ${GLIBC_FLOOR}`);

    const needed = [...execFileSync('objdump', ['-p', path.join(PACKAGE_ROOT, PREBUILD)], { encoding: 'utf8' }).matchAll(/NEEDED\s+(\S+)/g)].map((m) => m[1]);
    console.log(`   it links ${needed.join(', ')}`);
    assert.ok(!needed.some((lib) => /libstdc\+\+|libgcc_s/.test(lib ?? '')), 'libstdc++ and libgcc are linked in statically');

    const bin = compilerFreeBin(path.join(work, 'bin'));
    // A user's shell: none of the npm_* variables (log level, node-gyp path...) of the `npm run` around us.
    const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_|^INIT_CWD$/i.test(name)));
    env.PATH = bin;
    const install = ['install', tarball, '--no-audit', '--no-fund', '--prefer-offline'];

    step('warm the npm cache: install once into a throwaway project');
    const warm = run('npm', install, { cwd: freshProject(path.join(work, 'warm-up')), env });
    console.log(`   ${(warm.ms / 1000).toFixed(2)} s`);

    step(`install into a fresh project, PATH=${bin} (no ${COMPILERS.join(', ')})`);
    const project = freshProject(path.join(work, 'user'));
    // --foreground-scripts: the install script's own lines show, so the log says what it did.
    const timed = run('npm', [...install, '--foreground-scripts'], { cwd: project, env });
    const output = `${timed.stdout}${timed.stderr}`;
    console.log(output.trim().replace(/^/gm, '   | '));
    console.log(`   install took ${(timed.ms / 1000).toFixed(2)} s (limit ${INSTALL_LIMIT_MS / 1000} s) on ${os.cpus().length} CPUs, load average ${os.loadavg()[0]?.toFixed(2)}`);
    const installed = path.join(project, 'node_modules', 'node-vmm');
    assert.ok(!fs.existsSync(path.join(installed, 'build')), 'no local build: the prebuild served');
    assert.match(output, /> node-gyp-build/, 'the install script ran');
    assert.doesNotMatch(output, /gyp (info|ERR)/, 'it found the prebuild loadable: node-gyp did not run');
    assert.ok(timed.ms < INSTALL_LIMIT_MS, `the install took ${timed.ms.toFixed(0)} ms`);

    step('require node-vmm and boot the bundled guest self-test through createVm()');
    fs.writeFileSync(path.join(project, 'selftest.js'), USER_PROGRAM);
    const selftest = run('node', ['selftest.js'], { cwd: project, env });
    const result = JSON.parse(selftest.stdout.trim().split('\n').at(-1) ?? '{}') as { reason: string; status: number; addon: string; ok: number; notOk: number };
    console.log(`   exit ${result.reason} status ${result.status}: ${result.ok} ok, ${result.notOk} not ok, in ${(selftest.ms / 1000).toFixed(2)} s; addon ${result.addon}`);
    assert.equal(result.addon, fs.realpathSync(path.join(installed, PREBUILD)));
    assert.equal(result.reason, 'exited');
    assert.equal(result.status, 0);
    assert.equal(result.notOk, 0);
    assert.ok(result.ok > 0);

    step('npx node-vmm check');
    const check = run('npx', ['node-vmm', 'check'], { cwd: project, env });
    console.log(check.stdout.trim().replace(/^/gm, '   | '));
    console.log('package: 1 passed, 0 failed');
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

try {
  main();
} catch (error) {
  console.error(error);
  console.log('package: 0 passed, 1 failed');
  process.exitCode = 1;
}
