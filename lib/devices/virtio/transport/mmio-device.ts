// A virtio-mmio device on a machine: the Device the manager places (a 4 KiB window and a line), the
// shared transport state its vCPU-thread half serves registers from (mmio-module.ts), the eventfds
// that connect it to the guest without vCPU exits (an ioeventfd per queue, an irqfd, a status eventfd
// for the vCPU half), and its back end: a module hosted on an I/O thread (lib/devices/io-threads), or
// a factory run on the main thread (custom devices). The device owns its eventfds and closes them
// after the back end has quiesced and guest memory is gone.
import * as path from 'node:path';
import { device as amlDevice, extendedInterrupt, integer, memory32Fixed, name, resourceTemplate, string } from '../../../arch/x86_64/acpi/aml';
import { ConfigError, DeviceError, VmmError } from '../../../kvm/errors';
import { EventFd } from '../../../kvm/eventfd';
import type { GuestMemory } from '../../../memory/guest-memory';
import type { MachineAttachContext } from '../../../runner/machine-device';
import type { DeviceModuleSpec } from '../../../runner/messages';
import { DeviceCounters } from '../../counters';
import { type Device, type DeviceNeeds, PlacedDevice } from '../../device';
import { hostHalf, localHandle, type HostedHandle } from '../../io-threads/pool';
import type { HostedEvent } from '../../io-threads/protocol';
import { restoreSharedBuffers, saveSharedBuffers } from '../../shared-state';
import type { BackendFactory, BackendModuleSpec } from './backend';
import { type HostedBackendArgs, runnerHalf, startRunner } from './backend-host';
import type { BackendFds } from './backend-runner';
import { InterruptBit, MmioReg, VIRTIO_MMIO_WINDOW } from './mmio-registers';
import { createVirtioMmioState, type VirtioDeviceDescription, type VirtioMmioState } from './mmio-state';
import type { VirtioMmioModuleArgs } from './mmio-module';
import { VirtioMmioTransport } from './mmio-transport';

const MODULE_PATH = path.join(__dirname, 'mmio-module.js');
const HOST_MODULE_PATH = path.join(__dirname, 'backend-host.js');
const NOTIFY_WIDTH = 4;
/** Linux's name for a virtio-mmio device in ACPI. */
const VIRTIO_MMIO_ACPI_HID = 'LNRO0005';

/**
 * What a {@link VirtioMmioDevice} is made from: its description, its back end, and optionally an id, kind, window
 * and line.
 */
export interface VirtioMmioDeviceOptions {
  /** A stable id (default: `<idPrefix><n>`). */
  id?: string;
  /** What it is, e.g. 'virtio-blk' (default 'virtio'). */
  kind?: string;
  /** Prefix of generated ids (default 'virtio'). */
  idPrefix?: string;
  /** The MMIO window's base (default: placed by the machine). */
  base?: number;
  /** Its interrupt line (default: placed by the machine). */
  irq?: number;
  /** The device's id, features, queue sizes and config space. */
  device: VirtioDeviceDescription;
  /**
   * The back end: a module (hosted on an I/O thread; its export gets `(context, args)`) or a factory
   * (run on the main thread).
   */
  backend: BackendModuleSpec | BackendFactory;
  /** Names of counters the back end keeps (context.counters), readable through `counters`. */
  counters?: readonly string[];
}

interface OwnedFds {
  irq: EventFd;
  status: EventFd;
  notify: EventFd[];
}

/**
 * A virtio device over MMIO (modern, version 2): its transport, the eventfds that connect it to the guest without
 * vCPU exits, and its back end (a module on an I/O thread, or a factory on the main thread). Subclass or construct
 * it for a device of your own.
 */
export class VirtioMmioDevice extends PlacedDevice implements Device {
  readonly kind: string;
  readonly idPrefix: string;
  /** A 4 KiB MMIO window and an interrupt line, fixed or from the machine's pool. */
  readonly needs: DeviceNeeds;
  /** The transport's shared state (registers, queues), the same memory every vCPU thread serves the window from. */
  readonly state: VirtioMmioState;
  /** The transport as the main thread sees it (status, features, config space). */
  readonly transport: VirtioMmioTransport;
  /** What the back end counts, readable here wherever it runs. */
  readonly counters: DeviceCounters | undefined;
  readonly #backend: BackendModuleSpec | BackendFactory;
  #fds: OwnedFds | undefined;
  #memory: GuestMemory | undefined;
  #host: HostedHandle | undefined;
  #restoreBackend: unknown;
  #quiesced = false;
  /** A host-side failure of the back end (guest errors only set NEEDS_RESET). */
  error: Error | undefined;

  /**
   * Makes the device from its description and back end; nothing is opened until the machine attaches it.
   * @throws {@link ConfigError} when the back end is neither a factory nor a module spec, or the description is
   *   invalid.
   */
  constructor(options: VirtioMmioDeviceOptions) {
    super(options.id);
    if (typeof options.backend !== 'function' && (typeof options.backend !== 'object' || options.backend === null || typeof options.backend.module !== 'string')) {
      throw new ConfigError('virtio device: backend must be a factory function or { module, export?, args? }');
    }
    if (options.base !== undefined && (!Number.isSafeInteger(options.base) || options.base % VIRTIO_MMIO_WINDOW !== 0)) {
      throw new ConfigError(`virtio device: base 0x${options.base.toString(16)} is not a multiple of the ${VIRTIO_MMIO_WINDOW}-byte window`);
    }
    this.kind = options.kind ?? 'virtio';
    this.idPrefix = options.idPrefix ?? 'virtio';
    this.state = createVirtioMmioState(options.device);
    this.transport = new VirtioMmioTransport(this.state);
    this.counters = options.counters === undefined ? undefined : new DeviceCounters(options.counters);
    this.#backend = options.backend;
    this.needs = { mmioWindow: { size: VIRTIO_MMIO_WINDOW, base: options.base }, irq: { line: options.irq } };
  }

  /** The window's base (after placement). */
  get base(): number {
    return (this.placement.mmio as { base: number }).base;
  }

  /** The interrupt line the device was placed on. */
  get irq(): number {
    return this.placement.irq as number;
  }

  get worker(): DeviceModuleSpec {
    const fds = this.#requireFds();
    return { module: MODULE_PATH, args: { state: this.state, base: this.base, statusFd: fds.status.fd } satisfies VirtioMmioModuleArgs };
  }

  /**
   * Creates the eventfds and wires them into the VM: an irqfd for the line, an ioeventfd per queue.
   * @throws {@link ConfigError} when the device is already attached or has not been placed.
   * @throws {@link KvmIoctlError} when an eventfd or its registration fails.
   */
  attach(context: MachineAttachContext): void {
    if (this.#fds !== undefined) throw new ConfigError(`virtio device ${this.id} is already attached to a machine`);
    const created: EventFd[] = [];
    try {
      const make = (): EventFd => {
        const fd = new EventFd();
        created.push(fd);
        return fd;
      };
      const fds: OwnedFds = { irq: make(), status: make(), notify: [] };
      context.vm.irqfd(fds.irq.fd, this.irq);
      for (let queue = 0; queue < this.transport.queueCount; queue++) {
        const notify = make();
        fds.notify.push(notify);
        context.vm.ioeventfd(notify.fd, { pio: false, address: this.base + MmioReg.QUEUE_NOTIFY, length: NOTIFY_WIDTH, datamatch: BigInt(queue) });
      }
      this.#fds = fds;
      this.#memory = context.memory;
    } catch (error) {
      for (const fd of created) fd.close();
      throw error;
    }
  }

  /**
   * Hosts the back end (on an I/O thread for a module, here for a factory) and starts it.
   * @throws {@link IoThreadError} when the back end module cannot be loaded or fails to start on its I/O thread.
   */
  async start(): Promise<void> {
    if (this.#host !== undefined || this.#quiesced) return;
    const fds = this.#requireFds();
    const memory = this.#memory as GuestMemory;
    const backendFds: BackendFds = { irq: fds.irq.fd, status: fds.status.fd, notify: fds.notify.map((fd) => fd.fd) };
    const onEvent = (event: HostedEvent): void => {
      if (event.kind === 'error') this.#failed(Object.assign(new VmmError(event.error.message), { stack: event.error.stack }));
    };
    if (typeof this.#backend === 'function') {
      const context = { transport: this.transport, memory, ...(this.counters !== undefined ? { counters: this.counters } : {}) };
      const runner = await startRunner(this.#backend, context, backendFds, (error) => this.#failed(error), this.#restoreBackend);
      this.#host = localHandle(runnerHalf(runner));
      return;
    }
    const args: HostedBackendArgs = {
      backend: this.#backend,
      state: this.state,
      memory: memory.descriptors(),
      fds: backendFds,
      ...(this.counters !== undefined ? { counters: this.counters.shared } : {}),
      ...(this.#restoreBackend !== undefined ? { restore: this.#restoreBackend } : {}),
    };
    this.#host = await hostHalf({ module: HOST_MODULE_PATH, export: 'hostVirtioBackend', args }, onEvent);
  }

  /**
   * Stops serving the queues until resume() (the vCPUs are paused).
   * @throws Nothing.
   */
  async pause(): Promise<void> {
    await this.#host?.call('pause');
  }

  /**
   * Lets the back end take work again after pause().
   * @throws Nothing.
   */
  async resume(): Promise<void> {
    await this.#host?.call('resume');
  }

  /**
   * @throws Nothing.
   */
  async quiesce(): Promise<void> {
    if (this.#quiesced) return;
    this.#quiesced = true;
    await this.#host?.call('quiesce');
  }

  /**
   * Closes the eventfds (the machine calls it after quiesce and after guest memory is released).
   * @throws Nothing.
   */
  close(): void {
    const fds = this.#fds;
    this.#fds = undefined;
    this.#memory = undefined;
    if (fds === undefined) return;
    for (const fd of [fds.irq, fds.status, ...fds.notify]) fd.close();
  }

  /**
   * How Linux learns of the device without ACPI (needs CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES).
   * @throws {@link ConfigError} when the device has not been placed.
   */
  kernelCmdline(): string {
    return `virtio_mmio.device=${VIRTIO_MMIO_WINDOW / 1024}K@0x${this.base.toString(16)}:${this.irq}`;
  }

  /**
   * @throws {@link ConfigError} when the device has not been placed.
   */
  acpiNode(): Uint8Array {
    const ordinal = this.placement.windowOrdinal ?? 0;
    return amlDevice(
      `V${ordinal.toString().padStart(3, '0')}`,
      name('_HID', string(VIRTIO_MMIO_ACPI_HID)),
      name('_UID', integer(ordinal)),
      name('_CCA', integer(1)), // DMA is cache coherent
      name('_CRS', resourceTemplate(memory32Fixed(this.base, VIRTIO_MMIO_WINDOW), extendedInterrupt(this.irq, { edge: true }))),
    );
  }

  /**
   * The transport (registers, queue setup and ring positions) and the back end's own state.
   * @throws {@link IoThreadError} when the back end on its I/O thread cannot report its state.
   */
  async saveState(): Promise<unknown> {
    const backend = await this.#host?.call('saveState');
    return { transport: saveSharedBuffers({ slots: this.state.slots, config: this.state.config }), ...(backend !== undefined ? { backend } : {}) };
  }

  /**
   * @throws {@link ConfigError} when the state is not one this device saved.
   */
  restoreState(state: unknown): void {
    const saved = state as { transport?: unknown; backend?: unknown } | null;
    if (typeof saved !== 'object' || saved === null) throw new ConfigError(`virtio device ${this.id}: saved state is not an object`);
    restoreSharedBuffers(`virtio device ${this.id}`, { slots: this.state.slots, config: this.state.config }, saved.transport);
    this.#restoreBackend = saved.backend;
  }

  /**
   * Hands the running back end a changed host-side configuration (see VirtioBackend.reconfigure); resolves once it
   * has taken it, between two of its turns.
   * @throws {@link DeviceError} when the back end is not running (before start, or once quiesced).
   * @throws {@link IoThreadError} when the back end on its I/O thread fails to take it.
   */
  protected async reconfigureBackend(args: unknown): Promise<void> {
    if (this.#host === undefined || this.#quiesced) throw new DeviceError(`virtio device ${this.placed ? this.id : this.kind}: its back end is not running`);
    await this.#host.call('reconfigure', args);
  }

  /**
   * A device-side change of config space (ConfigGeneration moves on) and the config-change interrupt that tells the
   * driver to read it again (virtio 1.2, 2.5.1 and 4.2.2).
   * @throws Nothing.
   */
  protected configChanged(offset: number, bytes: Uint8Array): void {
    this.transport.updateConfig(offset, bytes);
    if (this.transport.raiseInterrupt(InterruptBit.CONFIG_CHANGE)) this.#fds?.irq.signal();
  }

  #requireFds(): OwnedFds {
    if (this.#fds === undefined) throw new ConfigError(`virtio device ${this.placed ? this.id : this.kind} is not attached to a machine`);
    return this.#fds;
  }

  #failed(error: Error): void {
    this.error ??= error;
  }
}
