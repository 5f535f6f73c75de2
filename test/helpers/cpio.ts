// A minimal initramfs writer: the "newc" cpio format the Linux kernel unpacks (directories, regular
// files and character devices), so tests can build a busybox initramfs without a cpio binary.
const MAGIC = '070701';
const ALIGN = 4;
const TRAILER = 'TRAILER!!!';

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFCHR = 0o020000;

export type CpioEntry =
  | { kind: 'dir'; path: string; mode?: number }
  | { kind: 'file'; path: string; data: Uint8Array; mode?: number }
  | { kind: 'char'; path: string; major: number; minor: number; mode?: number };

function hex8(value: number): string {
  return value.toString(16).padStart(8, '0');
}

function padding(length: number): Buffer {
  return Buffer.alloc((ALIGN - (length % ALIGN)) % ALIGN);
}

function record(ino: number, name: string, mode: number, data: Uint8Array, rdev: [number, number] = [0, 0]): Buffer[] {
  const nameBytes = Buffer.from(`${name}\0`, 'utf8');
  const fields = [ino, mode, 0, 0, 1, 0, data.length, 0, 0, rdev[0], rdev[1], nameBytes.length, 0];
  const header = Buffer.from(MAGIC + fields.map(hex8).join(''), 'ascii');
  return [header, nameBytes, padding(header.length + nameBytes.length), Buffer.from(data), padding(data.length)];
}

export function buildCpio(entries: readonly CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  entries.forEach((entry, index) => {
    const ino = index + 1;
    const name = entry.path.replace(/^\/+/, '');
    switch (entry.kind) {
      case 'dir':
        parts.push(...record(ino, name, S_IFDIR | (entry.mode ?? 0o755), new Uint8Array(0)));
        break;
      case 'file':
        parts.push(...record(ino, name, S_IFREG | (entry.mode ?? 0o644), entry.data));
        break;
      case 'char':
        parts.push(...record(ino, name, S_IFCHR | (entry.mode ?? 0o600), new Uint8Array(0), [entry.major, entry.minor]));
        break;
    }
  });
  parts.push(...record(0, TRAILER, 0, new Uint8Array(0)));
  return Buffer.concat(parts);
}
