// A network namespace for a test, holding one end of the test's TAP interface: created with
// iproute2, removed afterwards. Needs root and /dev/net/tun.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { missingPrerequisite } from './prerequisite';

export function netnsMissingReason(): string | undefined {
  if (!fs.existsSync('/dev/net/tun')) return 'no /dev/net/tun';
  if (process.getuid?.() !== 0) return 'not root (network namespaces and TAP devices need CAP_NET_ADMIN)';
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' });
  } catch {
    return 'no ip command (apt-get install iproute2)';
  }
  return undefined;
}

/** Call first in a test that needs network namespaces: skips with the reason where they are missing, fails under CI=true. */
export function requireNetns(context: Mocha.Context): void {
  const reason = netnsMissingReason();
  if (reason !== undefined) missingPrerequisite(context, reason, 'run as root on Linux with iproute2');
}

export class NetNamespace {
  constructor(readonly name: string) {
    execFileSync('ip', ['netns', 'add', name]);
    // No IPv6 chatter (router solicitations, MLD) competing with the frames a test waits for.
    this.run('sh', '-c', 'echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6; echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6');
  }

  /** Runs a command inside the namespace; returns its stdout. */
  run(command: string, ...args: string[]): string {
    return execFileSync('ip', ['netns', 'exec', this.name, command, ...args], { encoding: 'utf8' });
  }

  /** Moves an interface of ours into the namespace, gives it an address (if any) and brings it up. */
  adopt(interfaceName: string, cidr?: string): void {
    execFileSync('ip', ['link', 'set', interfaceName, 'netns', this.name]);
    if (cidr !== undefined) this.run('ip', 'addr', 'add', cidr, 'dev', interfaceName);
    this.run('ip', 'link', 'set', interfaceName, 'up');
  }

  delete(): void {
    execFileSync('ip', ['netns', 'delete', this.name]);
  }
}
