// The two TAPs bench/net and bench/peer move frames through, on one bridge in a network namespace of
// their own (PID-keyed names): TAP A is the VM's, TAP B this process's injector and sink.
//   'owned':      this process opens A and B and moves them into the namespace (an in-process VM
//                 and the host baselines use A's fd).
//   'persistent': A is a persistent TAP created inside the namespace, for VMMs that run there as
//                 child processes (`ip netns exec`) and attach to it by name.
// framesReadFromGuestSide() counts the frames a reader took from A (a TAP's "transmit" counter grows
// as its reader reads), read from /proc/<pid>/net/dev of a process parked in the namespace: how a
// feeder keeps a bounded window ahead of whatever VMM reads A, without looking inside it.
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { TapDevice } from '../../lib/net/tap';
import { Cleanup } from '../../test/helpers/cleanup';
import { NetNamespace } from '../../test/helpers/netns';

export const FRAME_BYTES = 1514;
/** Frames written ahead of the reader: well inside a TAP's 500-frame queue, so none are dropped. */
export const WINDOW = 256;
const STALL_MS = 100;
const HOLDER_SECONDS = 3600;
const TX_PACKETS_FIELD = 9; // after "name:": 8 receive columns, then transmit bytes, transmit packets

/** A 1514-byte broadcast frame with a locally administered source and the local experimental ethertype. */
export function frame(): Uint8Array {
  const bytes = new Uint8Array(FRAME_BYTES);
  bytes.fill(0xff, 0, 6);
  bytes.set([0x02, 0, 0, 0, 0, 0x09, 0x88, 0xb5], 6);
  return bytes;
}

/** Throws away the frames waiting on a TAP. */
export function drain(tap: TapDevice): void {
  const scratch = [new Uint8Array(2048)];
  while (tap.read(scratch) !== null);
}

export class BridgedTaps {
  readonly namespace: NetNamespace;
  readonly guestSideName: string;
  /** A's fd in this process ('owned' only). */
  readonly guestSide: TapDevice | undefined;
  readonly hostSide: TapDevice;
  readonly #holder: ChildProcess;
  readonly #cleanup = new Cleanup();

  constructor(mode: 'owned' | 'persistent', tag: string) {
    const id = process.pid % 10000;
    this.guestSideName = `nv${tag}a${id}`;
    try {
      this.namespace = this.#cleanup.add(new NetNamespace(`node-vmm-bench-${tag}-${process.pid}`), (n) => n.delete());
      this.namespace.run('ip', 'link', 'add', 'br0', 'type', 'bridge');
      if (mode === 'owned') {
        this.guestSide = this.#cleanup.add(TapDevice.open(this.guestSideName), (t) => t.close());
        this.namespace.adopt(this.guestSideName);
      } else {
        this.guestSide = undefined;
        this.namespace.run('ip', 'tuntap', 'add', 'dev', this.guestSideName, 'mode', 'tap');
        this.#cleanup.defer(() => this.namespace.run('ip', 'tuntap', 'del', 'dev', this.guestSideName, 'mode', 'tap'));
        this.namespace.run('ip', 'link', 'set', this.guestSideName, 'up');
      }
      this.hostSide = this.#cleanup.add(TapDevice.open(`nv${tag}b${id}`), (t) => t.close());
      this.namespace.adopt(this.hostSide.name);
      for (const name of [this.guestSideName, this.hostSide.name]) this.namespace.run('ip', 'link', 'set', name, 'master', 'br0');
      this.namespace.run('ip', 'link', 'set', 'br0', 'up');
      // Bounded: if this process dies without its cleanup, the holder does not outlive it by more.
      this.#holder = this.#cleanup.add(spawn('ip', ['netns', 'exec', this.namespace.name, 'sleep', String(HOLDER_SECONDS)], { stdio: 'ignore' }), (child) => child.kill('SIGKILL'));
      this.#waitForHolder();
    } catch (error) {
      void this.#cleanup.run();
      throw error;
    }
  }

  /** The command prefix that runs a program inside the namespace. */
  get exec(): string[] {
    return ['ip', 'netns', 'exec', this.namespace.name];
  }

  /** Frames read from A so far, by anyone. */
  framesReadFromGuestSide(): number {
    const line = fs
      .readFileSync(`/proc/${this.#holder.pid}/net/dev`, 'utf8')
      .split('\n')
      .find((l) => l.trimStart().startsWith(`${this.guestSideName}:`));
    if (line === undefined) throw new Error(`${this.guestSideName} is not in the namespace`);
    return Number(line.split(':')[1]?.trim().split(/\s+/)[TX_PACKETS_FIELD]);
  }

  /** Until `ip netns exec` has entered the namespace (its net/dev lists A). */
  #waitForHolder(): void {
    for (let attempt = 0; attempt < 200; attempt++) {
      try {
        this.framesReadFromGuestSide();
        return;
      } catch {
        execFileSync('sleep', ['0.01']);
      }
    }
    throw new Error('the namespace holder process did not start');
  }

  close(): Promise<void> {
    return this.#cleanup.run();
  }
}

/**
 * Feeds frames into B (the bridge floods them to A) on the event loop until stopped, never more than
 * WINDOW ahead of what A's reader took. Frames can be lost on the way (before a VMM attaches to a
 * persistent A, a TAP without a reader or a bridge port without carrier drops them; a VMM may read
 * one before its guest can take it; other frames on the bridge are counted as read too): when reads
 * stop moving for STALL_MS with the window full, what is outstanding counts as lost.
 */
export function feedGuestSide(taps: BridgedTaps): { stop: () => void } {
  const views = [frame()];
  let read = taps.framesReadFromGuestSide();
  let written = read;
  let stopped = false;
  let lastMove = Date.now();
  const step = (): void => {
    if (stopped) return;
    if (written - read >= WINDOW) {
      const now = taps.framesReadFromGuestSide(); // the counter costs a /proc read: only when needed
      if (now !== read) lastMove = Date.now();
      else if (Date.now() - lastMove > STALL_MS) written = now;
      read = now;
    }
    while (written - read < WINDOW && taps.hostSide.write(views) !== null) written++;
    // A full window waits a millisecond rather than spin: the feeder shares the host's two cores
    // (and, in bench/net, its event loop) with the VMM it feeds.
    if (written - read >= WINDOW) setTimeout(step, 1);
    else setImmediate(step);
  };
  step();
  return { stop: () => (stopped = true) };
}
