// A DeviceContext for unit-testing device modules without KVM or threads.
import type { MessagePort } from 'node:worker_threads';
import { IoBus } from '../../lib/bus/io-bus';
import type { GuestMemory } from '../../lib/memory/guest-memory';
import type { DeviceContext } from '../../lib/runner/device-context';
import type { DeviceExit } from '../../lib/runner/messages';

export interface FakeContext extends DeviceContext {
  /** What the device posted on its channel. */
  posted: unknown[];
  irqs: Array<[number, boolean]>;
  exits: DeviceExit[];
  outb(port: number, value: number): void;
  inb(port: number): number;
}

export function fakeContext(memory?: GuestMemory): FakeContext {
  const pio = new IoBus('pio');
  const context: FakeContext = {
    pio,
    mmio: new IoBus('mmio'),
    memory: memory as GuestMemory,
    vcpuIndex: 0,
    vcpuCount: 1,
    posted: [],
    irqs: [],
    exits: [],
    deviceId: 'test-device',
    channel: { postMessage: (payload: unknown) => context.posted.push(payload) } as unknown as MessagePort,
    irqLine: (irq, level) => context.irqs.push([irq, level]),
    requestExit: (exit) => context.exits.push(exit),
    outb: (port, value) => {
      pio.write(port, Uint8Array.of(value));
    },
    inb: (port) => {
      const data = new Uint8Array(1);
      pio.read(port, data);
      return data[0] as number;
    },
  };
  return context;
}
