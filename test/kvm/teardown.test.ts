// Teardown that cannot harm the host: VMs ended every way a VM ends (dispose, stop, AbortSignal, the
// guest's own exit, a guest reset right after it asked for a FLUSH) while their disks stream reads and
// writes, their vsock device has host connections open and (as root) frames arrive on their TAP, then
// host connections and frames arriving after the end. Hundreds of times: no crash, no unhandled
// rejection, the fd count back to its baseline and /proc/self/maps within 2 lines of it. (A back end
// touching guest memory after it was unmapped would crash this process: surviving is the check.)
import { strict as assert } from 'node:assert';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { createVm } from '../../lib/api/create-vm';
import type { VmConfig } from '../../lib/api/config';
import { BlkFeature, VirtioBlkDevice } from '../../lib/devices/virtio/blk/device';
import { BlkRequestType } from '../../lib/devices/virtio/blk/request';
import { VirtioFeature } from '../../lib/devices/virtio/transport/mmio-registers';
import { Cleanup } from '../helpers/cleanup';
import { isMapped, mappingCount, openFdCount, requireKvm, settledFdCount, vmMappingCount } from '../helpers/kvm';
import { sleep } from '../helpers/machines';
import { NetNamespace, netnsMissingReason } from '../helpers/netns';
import { makeSocketDir } from '../helpers/socket-dir';
import { runVirtioGuest } from '../helpers/virtio-guest';

const VMS = 200;
const FLUSH_RESETS = 50;
const MAPS_SLACK = 2;
/** What 200 VMs may add to this process's resident memory (V8 and malloc keep pools; a leak grows far more). */
const RSS_GROWTH_LIMIT = 64 * 1024 * 1024;
const mib = (bytes: number): string => (bytes / 1024 / 1024).toFixed(0);
/** Guest RAM of the VMs here: a size Node's own mappings never have (see vmMappingCount). */
const GUEST_MIB = 48;
const GUEST_BYTES = GUEST_MIB * 1024 * 1024;
const BUFFERS = 0x300000;

type Ending = 'dispose' | 'stop' | 'abort' | 'guest';
const ENDINGS: readonly Ending[] = ['dispose', 'stop', 'abort', 'guest'];

/** Counts taken after the event loop settled and (when exposed) a GC ran: threads and handles gone. */
async function settledCounts(): Promise<{ fds: number; maps: number; allMaps: number; rss: number }> {
  // Worker threads release their handles and mappings shortly after they exit: wait until still.
  await settledFdCount();
  let last = -1;
  for (let i = 0, same = 0; i < 60 && same < 3; i++) {
    (globalThis as { gc?: () => void }).gc?.();
    await sleep(50);
    const now = openFdCount() * 100_000 + mappingCount();
    same = now === last ? same + 1 : 0;
    last = now;
  }
  return { fds: openFdCount(), maps: vmMappingCount(GUEST_BYTES), allMaps: mappingCount(), rss: process.memoryUsage().rss };
}

/** Watches for failures that would otherwise only be printed. */
function trapUnhandled(cleanup: Cleanup): unknown[] {
  const seen: unknown[] = [];
  const onRejection = (reason: unknown): void => void seen.push(reason);
  const onException = (error: unknown): void => void seen.push(error);
  process.on('unhandledRejection', onRejection);
  process.on('uncaughtException', onException);
  cleanup.defer(() => {
    process.off('unhandledRejection', onRejection);
    process.off('uncaughtException', onException);
  });
  return seen;
}

/** A host program that keeps connecting to a vsock socket and writing, whether or not anyone listens. */
function hammerVsock(socketPath: string): () => void {
  const sockets = new Set<net.Socket>();
  let running = true;
  const connectOne = (): void => {
    if (!running) return;
    const socket = net.connect(socketPath);
    sockets.add(socket);
    socket.on('connect', () => socket.write('CONNECT 1234\n' + 'x'.repeat(4096)));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      sockets.delete(socket);
      setTimeout(connectOne, 1);
    });
  };
  for (let i = 0; i < 4; i++) connectOne();
  return () => {
    running = false;
    for (const socket of sockets) socket.destroy();
  };
}

describe('teardown that cannot harm the host (real KVM)', function () {
  before(function () {
    requireKvm(this);
  });

  it(`ends ${VMS} VMs every way while their disks, vsock and TAPs are busy: no fd or mapping left behind`, async function () {
    this.timeout(15 * 60_000);
    const cleanup = new Cleanup();
    const unhandled = trapUnhandled(cleanup);
    const dir = cleanup.add(makeSocketDir('teardown-'), (d) => fs.rmSync(d, { recursive: true, force: true }));
    const disk = path.join(dir, 'disk.img');
    fs.writeFileSync(disk, Buffer.alloc(2 * 1024 * 1024, 0x5a));
    const withNet = netnsMissingReason() === undefined;
    let namespace: NetNamespace | undefined;
    let sender: ChildProcess | undefined;
    try {
      if (withNet) {
        namespace = cleanup.add(new NetNamespace(`node-vmm-teardown-${process.pid}`), (n) => n.delete());
        // ARP requests for the guest's address keep arriving on whichever TAP is up.
        const loop = `const s = require('dgram').createSocket('udp4'); setInterval(() => s.send('x', 9, '10.77.9.2', () => {}), 1);`;
        sender = spawn('ip', ['netns', 'exec', namespace.name, process.execPath, '-e', loop], { stdio: 'ignore' });
        cleanup.defer(() => sender?.kill());
      }
      // Warm up: the I/O thread, the module caches and libuv's own fds exist before the baseline.
      const warm = await createVm({ memoryMiB: GUEST_MIB, disks: [disk], rng: true, vsock: { cid: 3, socketPath: path.join(dir, 'warm.sock') } });
      await warm.start();
      await warm.dispose();
      const before = await settledCounts();
      const endings = new Map<string, number>();
      for (let i = 0; i < VMS; i++) {
        const ending = ENDINGS[i % ENDINGS.length] as Ending;
        const socketPath = path.join(dir, `v${i % 4}.sock`);
        const abort = new AbortController();
        const tap = withNet && i % 2 === 0 ? `nvtd${process.pid % 10000}` : undefined;
        const bench = i % 3 === 0 ? 'blk-read' : 'blk-write';
        const count = ending === 'guest' ? 20 : 1_000_000;
        const config: VmConfig = {
          cmdline: `nodevmm.mode=bench nodevmm.bench=${bench} nodevmm.count=${count}`,
          memoryMiB: GUEST_MIB,
          disks: [disk],
          rng: true,
          vsock: { cid: 3, socketPath },
          ...(tap !== undefined ? { networks: [{ tap }] } : {}),
          signal: abort.signal,
        };
        const vm = await createVm(config);
        if (tap !== undefined) (namespace as NetNamespace).adopt(tap, '10.77.9.1/24');
        const stopHammer = hammerVsock(socketPath);
        try {
          await vm.start();
          if (i === 0) assert.ok(vmMappingCount(GUEST_BYTES) >= 1, 'a running VM shows its vCPU run page (the count sees it)');
          await sleep(Math.floor(Math.random() * 40));
          if (ending === 'dispose') await vm.dispose();
          else if (ending === 'stop') await vm.stop();
          else if (ending === 'abort') abort.abort();
          const exit = await vm.exited;
          endings.set(exit.reason, (endings.get(exit.reason) ?? 0) + 1);
          assert.notEqual(exit.reason, 'error', `VM ${i} (${ending}): ${exit.error?.message}`);
          assert.equal(exit.deviceErrors, undefined, `VM ${i}: device quiesce failed`);
          // After the end: the host keeps connecting (the socket is gone or refuses), frames keep coming.
          await sleep(2);
        } finally {
          const ram = vm.machine.memory.regions.map((region) => ({ address: region.hostAddress, size: region.size }));
          await vm.dispose();
          stopHammer();
          for (const region of ram) assert.equal(isMapped(region.address, region.size), false, `VM ${i}: its guest RAM is unmapped`);
        }
        assert.equal(fs.existsSync(socketPath), false, `VM ${i}: its vsock socket went with it`);
      }
      const after = await settledCounts();
      console.log(`      ${VMS} VMs (${[...endings].map(([reason, n]) => `${n} ${reason}`).join(', ')}${withNet ? ', half with a TAP' : ', no TAP: not root'}); fds ${before.fds} -> ${after.fds}, VM mappings ${before.maps} -> ${after.maps} (all mappings ${before.allMaps} -> ${after.allMaps}), RSS ${mib(before.rss)} -> ${mib(after.rss)} MiB`);
      assert.deepEqual(unhandled, [], 'no unhandled rejection or exception');
      assert.equal(after.fds, before.fds, `open fds ${before.fds} -> ${after.fds}`);
      assert.ok(Math.abs(after.maps - before.maps) <= MAPS_SLACK, `mappings ${before.maps} -> ${after.maps}`);
      assert.ok(after.rss - before.rss < RSS_GROWTH_LIMIT, `RSS grew ${mib(after.rss - before.rss)} MiB over ${VMS} VMs`);
    } finally {
      await cleanup.run();
    }
  });

  it(`survives ${FLUSH_RESETS} guests that reset right after asking for a FLUSH and writes`, async function () {
    this.timeout(5 * 60_000);
    const cleanup = new Cleanup();
    const unhandled = trapUnhandled(cleanup);
    const dir = cleanup.add(makeSocketDir('teardown-flush-'), (d) => fs.rmSync(d, { recursive: true, force: true }));
    const disk = path.join(dir, 'disk.img');
    fs.writeFileSync(disk, Buffer.alloc(8 * 1024 * 1024));
    const header = (type: number, sector: number): Buffer => {
      const h = Buffer.alloc(16);
      h.writeUInt32LE(type, 0);
      h.writeBigUInt64LE(BigInt(sector), 8);
      return h;
    };
    try {
      const run = (): Promise<unknown> =>
        runVirtioGuest({
          deviceFactory: (placement) => new VirtioBlkDevice({ path: disk, ...placement }),
          features: (1n << VirtioFeature.VERSION_1) | (1n << BlkFeature.FLUSH),
          resetAfterNotify: true,
          memorySize: GUEST_BYTES,
          layOut: (queue) => {
            const m = queue.memory;
            const heads: number[] = [];
            // Four 1 MiB writes, then a FLUSH: the guest resets while the I/O thread works on them.
            for (let r = 0; r < 4; r++) {
              m.writeBytes(BUFFERS + r * 32, header(BlkRequestType.OUT, r * 2048));
              heads.push(
                queue.writeChain(r * 3, [
                  { address: BUFFERS + r * 32, length: 16, writable: false },
                  { address: 0x400000 + r * 0x100000, length: 0x100000, writable: false },
                  { address: BUFFERS + 0x1000 + r, length: 1, writable: true },
                ]),
              );
            }
            m.writeBytes(BUFFERS + 0x800, header(BlkRequestType.FLUSH, 0));
            heads.push(queue.writeChain(12, [{ address: BUFFERS + 0x800, length: 16, writable: false }, { address: BUFFERS + 0x1100, length: 1, writable: true }]));
            return heads;
          },
        });
      await run();
      const before = await settledCounts();
      for (let i = 0; i < FLUSH_RESETS; i++) {
        const result = (await run()) as { exit: { reason: string; error?: Error } };
        assert.equal(result.exit.reason, 'reset', result.exit.error?.message);
      }
      const after = await settledCounts();
      assert.deepEqual(unhandled, []);
      assert.equal(after.fds, before.fds, `open fds ${before.fds} -> ${after.fds}`);
      assert.ok(Math.abs(after.maps - before.maps) <= MAPS_SLACK, `mappings ${before.maps} -> ${after.maps}`);
    } finally {
      await cleanup.run();
    }
  });
});
