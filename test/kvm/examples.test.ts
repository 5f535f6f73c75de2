// Every program in examples/, run as a user runs it: copied into a fresh directory where
// `require('node-vmm')` finds this package, each a child process that must exit 0 and print what it
// promises. The Linux one boots Debian's kernel and initrd from /boot up to its banner (a full boot
// takes minutes where guest kernel mode is emulated, so the example itself stops there).
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { bundledGuestPath } from '../../lib/guest/bundled';
import { requireKvm, retryUnderEmulation } from '../helpers/kvm';
import { linkPackage, PACKAGE_ROOT, runNodeProgram } from '../helpers/node-program';
import { missingPrerequisite } from '../helpers/prerequisite';

const EXAMPLES_DIR = path.join(PACKAGE_ROOT, 'examples');
/** Modules the examples share; not programs themselves. */
const HELPERS = new Set(['guest-shell.js']);
const TIMEOUT_MS = 120_000;
/** The kernel's banner comes ~20-35 s after start where its kernel mode is emulated; more under load. */
const LINUX_TIMEOUT_MS = 600_000;
const MANY = 8;

interface ExampleCase {
  args?: string[];
  timeoutMs?: number;
  /** Why it cannot run on this machine, if so (a missing prerequisite .ci/run installs). */
  missing?: () => { what: string; remedy: string } | undefined;
  expect: RegExp[];
}

const CASES: Record<string, ExampleCase> = {
  'shell.js': { expect: [/^guest> echo hello from the host\nhello from the host\n/, /the VM ended: exited, status 0\n$/] },
  'many-vms.js': { args: [String(MANY)], expect: [/^vm 7: "I am VM 7", exit status 7$/m, new RegExp(`^${MANY} of ${MANY} VMs answered, all at once, in \\d+ ms$`, 'm')] },
  'custom-device.js': {
    expect: [/^placed: serial0, i8042, debug-exit, text-entropy$/m, /^the guest read 16 bytes: "not random at al"$/m, /^the device served 16 bytes$/m],
  },
  'snapshot-clone.js': {
    expect: [/^original: note: after the snapshot$/m, /^restored from vm\.mem and vm\.state: note: before the snapshot$/m, /^clone: note: I am clone 1\nclone: note: I am clone 2$/m],
  },
  'linux-kernel.js': {
    timeoutMs: LINUX_TIMEOUT_MS,
    missing: () => {
      const kernel = fs.existsSync('/boot') ? fs.readdirSync('/boot').find((f) => /^vmlinuz-.*-amd64$/.test(f)) : undefined;
      if (kernel === undefined) return { what: 'no /boot/vmlinuz-*-amd64', remedy: 'apt-get install linux-image-cloud-amd64' };
      return fs.existsSync(`/boot/initrd.img-${kernel.slice('vmlinuz-'.length)}`) ? undefined : { what: `no initrd for ${kernel} in /boot`, remedy: 'apt-get install initramfs-tools' };
    },
    expect: [/^Linux version \d+\.\d+\S* /m, /^Command line: console=ttyS0 [^\n]*virtio_mmio\.device=4K@0xd0000000:5/m, /^RAMDISK: \[mem 0x[0-9a-f]+-0x[0-9a-f]+\]$/m, /^the VM ended: stopped$/m],
  },
};

describe('examples/ (real KVM, each program as a child process)', function () {
  let dir: string;
  before(function () {
    requireKvm(this);
    if (!fs.existsSync(bundledGuestPath())) throw new Error(`the bundled guest ${bundledGuestPath()} is not built yet (npm run build:guest)`);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'node-vmm-examples-'));
    fs.cpSync(EXAMPLES_DIR, path.join(dir, 'examples'), { recursive: true });
    linkPackage(path.join(dir, 'examples'));
  });
  after(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('has a test case for every program in examples/', () => {
    const programs = fs.readdirSync(EXAMPLES_DIR).filter((f) => f.endsWith('.js') && !HELPERS.has(f)).sort();
    assert.deepEqual(programs, Object.keys(CASES).sort());
  });

  for (const [name, example] of Object.entries(CASES)) {
    it(`examples/${name}${example.args ? ` ${example.args.join(' ')}` : ''}`, async function () {
      const timeoutMs = example.timeoutMs ?? TIMEOUT_MS;
      this.timeout(timeoutMs + 10_000);
      const missing = example.missing?.();
      if (missing !== undefined) missingPrerequisite(this, missing.what, missing.remedy);
      retryUnderEmulation(this, 2);
      const file = path.join(dir, 'examples', name);
      const result = await runNodeProgram(file, example.args ?? [], path.dirname(file), timeoutMs);
      assert.equal(result.code, 0, `stdout:\n${result.stdout}\nstderr:\n${result.stderr}`);
      for (const expected of example.expect) assert.match(result.stdout, expected, `stderr:\n${result.stderr}`);
      console.log(`      ${result.stdout.trim().split('\n').at(-1)}`);
    });
  }
});
