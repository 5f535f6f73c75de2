// Assembles the test guests (test/guests/*.S) with the system gcc into flat binaries under
// build/test-guests/, skipping those that are up to date.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const PACKAGE_ROOT = path.resolve(__dirname, '..', '..', '..');
export const GUEST_SOURCE_DIR = path.join(PACKAGE_ROOT, 'test', 'guests');
// Not under build/: node-gyp, cmake-js and prebuildify wipe that when they rebuild the addon.
export const GUEST_OUTPUT_DIR = path.join(PACKAGE_ROOT, 'dist', 'test-guests');

function assemble(source: string, output: string): void {
  const temp = fs.mkdtempSync(path.join(os.tmpdir(), 'node-vmm-guest-'));
  try {
    const object = path.join(temp, 'guest.o');
    execFileSync('gcc', ['-c', '-nostdlib', '-ffreestanding', '-o', object, source], { stdio: 'inherit' });
    execFileSync('objcopy', ['-O', 'binary', '-j', '.text', object, output], { stdio: 'inherit' });
  } finally {
    fs.rmSync(temp, { recursive: true, force: true });
  }
}

export function buildGuests(): string[] {
  fs.mkdirSync(GUEST_OUTPUT_DIR, { recursive: true });
  const built: string[] = [];
  for (const name of fs.readdirSync(GUEST_SOURCE_DIR).filter((f) => f.endsWith('.S'))) {
    const source = path.join(GUEST_SOURCE_DIR, name);
    const output = path.join(GUEST_OUTPUT_DIR, name.replace(/\.S$/, '.bin'));
    if (fs.existsSync(output) && fs.statSync(output).mtimeMs >= fs.statSync(source).mtimeMs) continue;
    assemble(source, output);
    built.push(output);
  }
  return built;
}

export function guestBinary(name: string): Uint8Array {
  return fs.readFileSync(path.join(GUEST_OUTPUT_DIR, `${name}.bin`));
}

if (require.main === module) {
  const built = buildGuests();
  console.log(`test guests: ${built.length} assembled into ${path.relative(PACKAGE_ROOT, GUEST_OUTPUT_DIR)}/`);
}
