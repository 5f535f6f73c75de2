// A fresh directory for Unix sockets: in /dev/shm where there is one, because os.tmpdir() may be on a
// filesystem without them (inside .ci/kvm-vm, /tmp is the host's over 9p: listen() fails with ENXIO).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const SHM = '/dev/shm';

export function makeSocketDir(prefix: string): string {
  return fs.mkdtempSync(path.join(fs.existsSync(SHM) ? SHM : os.tmpdir(), prefix));
}
