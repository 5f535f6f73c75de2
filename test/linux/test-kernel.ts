// Where the Linux test kernel lives: built by build-kernel.ts from Debian's linux-source-6.12 and the
// config fragment next to this file, cached per machine under a directory named by the source
// package's version and the fragment's hash, so a new source or a changed fragment builds anew.
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const PACKAGE_ROOT = path.resolve(__dirname, '..', '..', '..');
export const KERNEL_FRAGMENT = path.join(PACKAGE_ROOT, 'test', 'linux', 'kernel.config');
export const SOURCE_PACKAGE = 'linux-source-6.12';
export const SOURCE_TARBALL = `/usr/src/${SOURCE_PACKAGE}.tar.xz`;
/** Overrides the cache root (default $XDG_CACHE_HOME/node-vmm/linux, else ~/.cache/node-vmm/linux). */
export const CACHE_ENV = 'NODE_VMM_LINUX_CACHE';
/** How the source becomes a kernel; part of the key, so changing the recipe builds anew. */
export const BASE_CONFIG = 'ARCH=x86_64 tinyconfig';
export const INSTALL_HINT = `apt-get install ${SOURCE_PACKAGE} bc flex bison libelf-dev, then npm run build:linux-kernel`;

export interface TestKernel {
  /** The Debian package version of the source, e.g. 6.12.117-1~deb12u1. */
  sourceVersion: string;
  /** First 12 hex digits of SHA-256 over the recipe and the fragment. */
  fragmentHash: string;
  directory: string;
  vmlinux: string;
  /** The full .config it was built with. */
  config: string;
}

export function cacheRoot(): string {
  const override = process.env[CACHE_ENV];
  if (override !== undefined && override.length > 0) return path.resolve(override);
  const xdg = process.env.XDG_CACHE_HOME;
  const base = xdg !== undefined && xdg.length > 0 ? xdg : path.join(os.homedir(), '.cache');
  return path.join(base, 'node-vmm', 'linux');
}

/** The installed linux-source-6.12's version, or undefined where it (or its tarball) is missing. */
export function sourceVersion(): string | undefined {
  if (!fs.existsSync(SOURCE_TARBALL)) return undefined;
  try {
    const version = execFileSync('dpkg-query', ['-W', '-f=${Version}', SOURCE_PACKAGE], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return version.length > 0 ? version : undefined;
  } catch {
    return undefined;
  }
}

export function fragmentHash(fragment: string = fs.readFileSync(KERNEL_FRAGMENT, 'utf8')): string {
  return createHash('sha256').update(`${BASE_CONFIG}\n${fragment}`).digest('hex').slice(0, 12);
}

/** The kernel this checkout wants, where it would be cached (it may not be built yet). */
export function testKernel(): TestKernel | undefined {
  const version = sourceVersion();
  if (version === undefined) return undefined;
  const hash = fragmentHash();
  // Debian versions hold '~' and ':' (an epoch); neither belongs in a directory name.
  const directory = path.join(cacheRoot(), `${version.replace(/[^A-Za-z0-9.+-]/g, '_')}-${hash}`);
  return { sourceVersion: version, fragmentHash: hash, directory, vmlinux: path.join(directory, 'vmlinux'), config: path.join(directory, 'config') };
}

/** The cached vmlinux, or why there is none. */
export function builtTestKernel(): { kernel: TestKernel } | { missing: string } {
  const kernel = testKernel();
  if (kernel === undefined) return { missing: `${SOURCE_PACKAGE} is not installed (no ${SOURCE_TARBALL})` };
  if (!fs.existsSync(kernel.vmlinux)) return { missing: `the test kernel is not built (${kernel.vmlinux})` };
  return { kernel };
}
