// The main thread's side of one virtio-mmio device on a Machine: the shared transport state, the
// worker module spec, an ioeventfd per queue (a guest's QueueNotify write signals it inside KVM, no
// vCPU exit) watched on this event loop, and an irqfd for the interrupt. The back end does the work.
import * as path from 'node:path';
import { EventFd } from '../../../kvm/eventfd';
import type { GuestMemory } from '../../../memory/guest-memory';
import type { Machine } from '../../../runner/machine';
import type { DeviceModuleSpec } from '../../../runner/messages';
import { DeviceStatus, MmioReg, VIRTIO_MMIO_WINDOW } from './mmio-registers';
import { createVirtioMmioState, type VirtioDeviceDescription, type VirtioMmioState } from './mmio-state';
import { isVirtioMmioEvent } from './mmio-module';
import { VirtioMmioTransport } from './mmio-transport';

const MODULE_PATH = path.join(__dirname, 'mmio-module.js');
const NOTIFY_WIDTH = 4;

export interface VirtioBackend {
  /** DRIVER_OK: take the queues (transport.queueConfig) and start. */
  activate(): void;
  /** The driver reset the device. */
  reset(): void;
  /** The driver notified `queue`. */
  notify(queue: number): void;
  /** The machine is gone: release what the back end opened itself (sockets, servers). */
  close?(): void;
}

export interface BackendContext {
  transport: VirtioMmioTransport;
  memory: GuestMemory;
  /** Injects the device's interrupt (irqfd). */
  signal: () => void;
}

export interface VirtioMmioDeviceOptions {
  base: number;
  irq: number;
  device: VirtioDeviceDescription;
  backend: (context: BackendContext) => VirtioBackend;
}

export class VirtioMmioDevice {
  readonly base: number;
  readonly irq: number;
  readonly state: VirtioMmioState;
  readonly transport: VirtioMmioTransport;
  readonly #options: VirtioMmioDeviceOptions;
  readonly #eventFds: EventFd[] = [];
  #backend: VirtioBackend | undefined;
  #active = false;
  /** Notifications that reached the register instead of an ioeventfd (should stay 0 with KVM). */
  fallbackNotifications = 0;
  /** Set if the host side failed (the device then reports NEEDS_RESET). */
  error: Error | undefined;

  constructor(options: VirtioMmioDeviceOptions) {
    this.#options = options;
    this.base = options.base;
    this.irq = options.irq;
    this.state = createVirtioMmioState(options.device);
    this.transport = new VirtioMmioTransport(this.state);
  }

  /** For MachineConfig.devices. */
  get moduleSpec(): DeviceModuleSpec {
    return { module: MODULE_PATH, args: { state: this.state, base: this.base } };
  }

  /** How Linux learns of the device (needs CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES). */
  get kernelCmdline(): string {
    return `virtio_mmio.device=${VIRTIO_MMIO_WINDOW / 1024}K@0x${this.base.toString(16)}:${this.irq}`;
  }

  /** Wires the eventfds into the machine's VM; call after Machine.create, before start. */
  attach(machine: Machine): void {
    const irq = new EventFd();
    this.#eventFds.push(irq);
    machine.vm.irqfd(irq.fd, this.irq);
    this.#backend = this.#options.backend({ transport: this.transport, memory: machine.memory, signal: () => irq.signal() });
    for (let queue = 0; queue < this.transport.queueCount; queue++) {
      const notify = new EventFd();
      this.#eventFds.push(notify);
      machine.vm.ioeventfd(notify.fd, { pio: false, address: this.base + MmioReg.QUEUE_NOTIFY, length: NOTIFY_WIDTH, datamatch: BigInt(queue) });
      notify.watch(
        () => this.#notify(queue),
        (error) => {
          // Polling the eventfd failed (not the guest's doing): keep the error, stop serving the device.
          this.error = error;
          this.transport.markNeedsReset();
        },
      );
    }
    machine.on('device-message', (_vcpu, payload) => {
      if (!isVirtioMmioEvent(payload) || payload.virtioMmio !== this.base) return;
      if (payload.event === 'notify') {
        this.fallbackNotifications++;
        this.#notify(payload.queue);
      } else {
        this.#sync();
      }
    });
    void machine.exited.then(() => this.close());
  }

  /** Releases the eventfds and whatever the back end opened; runs by itself when the machine ends. */
  close(): void {
    for (const fd of this.#eventFds.splice(0)) fd.close();
    this.#backend?.close?.();
    this.#backend = undefined;
  }

  #notify(queue: number): void {
    this.#sync();
    if (this.#active) this.#backend?.notify(queue);
  }

  /** Follows the shared status: activate on DRIVER_OK, reset when it is gone. */
  #sync(): void {
    const live = (this.transport.status & DeviceStatus.DRIVER_OK) !== 0;
    if (live && !this.#active) {
      this.#active = true;
      this.#backend?.activate();
    } else if (!live && this.#active) {
      this.#active = false;
      this.#backend?.reset();
    }
  }
}
