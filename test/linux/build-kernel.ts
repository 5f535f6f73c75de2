// Builds the Linux test kernel once per machine (npm run build:linux-kernel): unpacks Debian's
// linux-source-6.12, configures `make ARCH=x86_64 tinyconfig` plus test/linux/kernel.config, checks
// that every line of the fragment survived olddefconfig (a dependency it lacks would silently drop a
// driver), builds vmlinux at low priority and caches it with its .config and build log (see
// test-kernel.ts for where). A TypeScript script rather than a shell one so that the test and the
// build share one definition of the cache key.
//   NODE_VMM_LINUX_CACHE=dir   cache root
//   NODE_VMM_KERNEL_TREE=dir   build in this source tree and keep it (incremental rebuilds while
//                              editing the fragment); by default a temporary tree is removed after
//   --force                    rebuild even when the cached vmlinux exists
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { cacheRoot, INSTALL_HINT, KERNEL_FRAGMENT, SOURCE_TARBALL, TestKernel, testKernel } from './test-kernel';

const TREE_ENV = 'NODE_VMM_KERNEL_TREE';
const MAKE_ENV = { ...process.env, ARCH: 'x86_64', KBUILD_BUILD_USER: 'node-vmm', KBUILD_BUILD_HOST: 'node-vmm' };
const LOG_TAIL_LINES = 60;

/** `CONFIG_X=value` and `# CONFIG_X is not set` lines of a config file, by option. */
export function configValues(text: string): Map<string, string> {
  const values = new Map<string, string>();
  for (const line of text.split('\n')) {
    const set = /^(CONFIG_[A-Za-z0-9_]+)=(.*)$/.exec(line);
    if (set !== null) values.set(set[1] as string, set[2] as string);
    const unset = /^# (CONFIG_[A-Za-z0-9_]+) is not set$/.exec(line);
    if (unset !== null) values.set(unset[1] as string, 'n');
  }
  return values;
}

/** Fragment options whose value in the final .config differs (e.g. dropped for an unmet dependency). */
export function droppedOptions(fragment: string, config: string): string[] {
  const final = configValues(config);
  return [...configValues(fragment)].filter(([option, value]) => (final.get(option) ?? 'n') !== value).map(([option, value]) => `${option}=${value} (got ${final.get(option) ?? 'n'})`);
}

class BuildStep {
  constructor(readonly log: string) {}

  run(what: string, command: string, args: string[], cwd: string): void {
    fs.appendFileSync(this.log, `\n$ ${command} ${args.join(' ')}\n`);
    const out = fs.openSync(this.log, 'a');
    try {
      const result = spawnSync(command, args, { cwd, env: MAKE_ENV, stdio: ['ignore', out, out] });
      if (result.error !== undefined) throw new Error(`${what}: ${result.error.message}`);
      if (result.status !== 0) {
        const tail = fs.readFileSync(this.log, 'utf8').trimEnd().split('\n').slice(-LOG_TAIL_LINES).join('\n');
        throw new Error(`${what} failed (exit ${result.status ?? result.signal}); the end of ${this.log}:\n${tail}`);
      }
    } finally {
      fs.closeSync(out);
    }
  }
}

function processAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * A build that was killed leaves its source tree (`.tree-<pid>`, ~1.5 GiB) and its partial output
 * (`<key>.partial-<pid>`, with the log) in the cache; clear those whose process is gone.
 */
function sweepAbandoned(root: string): void {
  for (const name of fs.readdirSync(root)) {
    const owner = /^(?:\.tree|.+\.partial)-(\d+)$/.exec(name)?.[1];
    if (owner !== undefined && !processAlive(Number(owner))) fs.rmSync(path.join(root, name), { recursive: true, force: true });
  }
}

function unpack(tree: string): void {
  if (fs.existsSync(path.join(tree, 'Makefile'))) return;
  fs.mkdirSync(tree, { recursive: true });
  execFileSync('tar', ['-xJf', SOURCE_TARBALL, '-C', tree, '--strip-components=1'], { stdio: 'inherit' });
}

function build(kernel: TestKernel, tree: string): void {
  const partial = `${kernel.directory}.partial-${process.pid}`;
  fs.mkdirSync(partial, { recursive: true });
  const step = new BuildStep(path.join(partial, 'build.log'));
  const started = Date.now();
  const fragment = fs.readFileSync(KERNEL_FRAGMENT, 'utf8');
  step.run('make tinyconfig', 'make', ['tinyconfig'], tree);
  step.run('merging the fragment', path.join(tree, 'scripts', 'kconfig', 'merge_config.sh'), ['-m', '.config', KERNEL_FRAGMENT], tree);
  step.run('make olddefconfig', 'make', ['olddefconfig'], tree);
  const dropped = droppedOptions(fragment, fs.readFileSync(path.join(tree, '.config'), 'utf8'));
  if (dropped.length > 0) throw new Error(`${path.relative(process.cwd(), KERNEL_FRAGMENT)}: options olddefconfig did not keep (a missing dependency?): ${dropped.join(', ')}`);
  const jobs = os.availableParallelism();
  console.log(`building vmlinux with ${jobs} jobs at nice 10 (log: ${step.log})`);
  step.run('make vmlinux', 'nice', ['-n', '10', 'make', `-j${jobs}`, 'vmlinux'], tree);
  const seconds = (Date.now() - started) / 1000;
  fs.copyFileSync(path.join(tree, 'vmlinux'), path.join(partial, 'vmlinux'));
  fs.copyFileSync(path.join(tree, '.config'), path.join(partial, 'config'));
  fs.writeFileSync(path.join(partial, 'build.json'), `${JSON.stringify({ sourceVersion: kernel.sourceVersion, fragmentHash: kernel.fragmentHash, seconds, jobs }, null, 2)}\n`);
  fs.rmSync(kernel.directory, { recursive: true, force: true });
  fs.renameSync(partial, kernel.directory);
  console.log(`built ${kernel.vmlinux} in ${seconds.toFixed(0)} s (${(fs.statSync(kernel.vmlinux).size / 2 ** 20).toFixed(1)} MiB)`);
}

export function buildTestKernel(force = false): TestKernel {
  const kernel = testKernel();
  if (kernel === undefined) throw new Error(`no kernel source: ${INSTALL_HINT}`);
  if (!force && fs.existsSync(kernel.vmlinux)) {
    console.log(`test kernel up to date: ${kernel.vmlinux} (${kernel.sourceVersion}, fragment ${kernel.fragmentHash})`);
    return kernel;
  }
  console.log(`building the test kernel from ${SOURCE_TARBALL} (${kernel.sourceVersion}) with ${path.relative(process.cwd(), KERNEL_FRAGMENT)} (${kernel.fragmentHash})`);
  const root = cacheRoot();
  fs.mkdirSync(root, { recursive: true });
  sweepAbandoned(root);
  const keptTree = process.env[TREE_ENV];
  const keep = keptTree !== undefined && keptTree.length > 0;
  const tree = keep ? path.resolve(keptTree) : path.join(root, `.tree-${process.pid}`);
  if (!keep) fs.rmSync(tree, { recursive: true, force: true });
  try {
    unpack(tree);
    build(kernel, tree);
  } finally {
    if (!keep) fs.rmSync(tree, { recursive: true, force: true });
  }
  return kernel;
}

if (require.main === module) {
  try {
    buildTestKernel(process.argv.includes('--force'));
  } catch (error) {
    console.error((error as Error).message);
    process.exitCode = 1;
  }
}
