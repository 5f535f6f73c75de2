// Runs test/guests/virtio-driver.S against one virtio-mmio device on a real VM: the caller lays out
// the descriptor chains in guest memory; the guest negotiates, sets up queue 0, makes the chains
// available (for several rounds if asked), notifies and waits for the used ring. Shared by the KVM
// tests and bench/blk.
import { DebugExitDevice } from '../../lib/devices/legacy/debug-exit/device';
import { I8042Device } from '../../lib/devices/legacy/i8042/device';
import { VirtioMmioDevice, type VirtioMmioDeviceOptions } from '../../lib/devices/virtio/transport/mmio-device';
import type { MachineExit } from '../../lib/runner/machine-exit';
import { placed } from './devices';
import { guestMachine } from './machines';
import { TestDriver } from './virtqueue-driver';

export const VIRTIO_BASE = 0x3000_0000;
export const VIRTIO_IRQ = 5;
export const RINGS = 0x200000;
export const QUEUE_SIZE = 16;
const AVAIL_OFFSET = 0x100;
const USED_OFFSET = 0x200;
const GUEST_LOAD_ADDRESS = 0x100000;
const DEFAULT_MEMORY = 4 * 1024 * 1024;

export interface VirtioExchange {
  device: VirtioMmioDevice;
  exit: MachineExit;
  /** Guest memory copied out after the exit, keyed by the addresses asked for. */
  memory: Map<number, Uint8Array>;
  /** From start() to the guest's exit. */
  elapsedMs: number;
}

export interface ExchangeOptions {
  /** The device to drive (one of these two). */
  device?: Omit<VirtioMmioDeviceOptions, 'base' | 'irq'>;
  deviceFactory?: (placement: { base: number; irq: number }) => VirtioMmioDevice;
  features: bigint;
  /** Writes the chains (descriptors and buffers) and returns their heads, in avail order. */
  layOut: (queue: TestDriver) => number[];
  /** [address, length] ranges of guest memory to copy out after the guest ends. */
  read?: [number, number][];
  rounds?: number;
  memorySize?: number;
  /** Reset the VM (i8042) right after the first notify instead of waiting for the device. */
  resetAfterNotify?: boolean;
}

export async function runVirtioGuest(options: ExchangeOptions): Promise<VirtioExchange> {
  const placement = { base: VIRTIO_BASE, irq: VIRTIO_IRQ };
  const made = options.deviceFactory?.(placement) ?? new VirtioMmioDevice({ ...(options.device as Omit<VirtioMmioDeviceOptions, 'base' | 'irq'>), ...placement });
  const [device, debugExit, i8042] = placed(made, new DebugExitDevice(), new I8042Device());
  const heads: number[] = [];
  const machine = guestMachine({
    guest: 'virtio-driver',
    mode: 'long',
    loadAddress: GUEST_LOAD_ADDRESS,
    memorySize: options.memorySize ?? DEFAULT_MEMORY,
    irqchip: true,
    regs: () => ({
      rdi: BigInt(VIRTIO_BASE),
      rsi: BigInt(RINGS),
      r9: options.features,
      r10: BigInt(QUEUE_SIZE),
      r11: BigInt(heads.length),
      r12: BigInt(options.rounds ?? 1),
      r13: options.resetAfterNotify === true ? 1n : 0n,
    }),
    devices: [device, debugExit, i8042],
  });
  try {
    const queue = new TestDriver(machine.memory, RINGS, QUEUE_SIZE, { availRing: RINGS + AVAIL_OFFSET, usedRing: RINGS + USED_OFFSET });
    heads.push(...options.layOut(queue));
    heads.forEach((head, slot) => machine.memory.writeU16(queue.config.availRing + 4 + 2 * slot, head));
    const started = process.hrtime.bigint();
    await machine.start();
    const exit = await machine.exited;
    const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6;
    const memory = new Map((options.read ?? []).map(([address, length]) => [address, machine.memory.readBytes(address, length)] as const));
    return { device, exit, memory, elapsedMs };
  } finally {
    await machine.dispose();
  }
}
