// Machine: a VM with its memory and one worker thread per vCPU. The main thread only orchestrates
// (start, pause, resume, stop, dispose); exits are handled on the vCPU threads.
import { EventEmitter } from 'node:events';
import { MessageChannel, type MessagePort, receiveMessageOnPort, type TransferListItem, type Worker } from 'node:worker_threads';
import { kernelModeEmulated } from '../kvm/host-kind';
import { KVM_IDENTITY_MAP_ADDRESS, KVM_TSS_ADDRESS } from '../arch/x86_64/layout';
import { ClosedError, ConfigError, VcpuError } from '../kvm/errors';
import { Kvm } from '../kvm/kvm';
import { kickVcpu } from '../kvm/vcpu';
import type { Vm } from '../kvm/vm';
import { GuestMemory } from '../memory/guest-memory';
import { ramLayout } from '../memory/layout';
import { ControlBlock, Request, State } from './control';
import { endsMachine, MachineExit, summarizeExit } from './machine-exit';
import type { VcpuInit } from '../arch/x86_64/vcpu-init';
import type { VcpuState } from '../arch/x86_64/vcpu-state';
import { restoreVmState, saveVmState, type VmState } from '../arch/x86_64/vm-state';
import type { MachineAttachContext, MachineDevice } from './machine-device';
import { prestartVcpuWorkers, vcpuWorker } from './worker-pool';
import { ACTIVE_NS_SLOT, ACTIVE_SINCE_SLOT, DEVICE_COUNTER_SLOTS, DEVICE_SLOT_BASE, IO_IN_SLOT, monotonicNs, RUN_ENTERED_SLOT, RUN_NS_SLOT, IO_OUT_SLOT, MMIO_READ_SLOT, MMIO_WRITE_SLOT, VCPU_COUNTER_SLOTS } from './vcpu-loop';
import { exitName } from '../kvm/exits';
import { DeviceModuleSpec, serializeError, UnhandledIoPolicy, VcpuEnd, VcpuWorkerData, WorkerDevice, WorkerMessage } from './messages';

/** The most vCPUs a machine may have. */
export const MAX_VCPUS = 254;
const liveMachines = new Set<Machine>();

/** One vCPU's exits so far (Machine.vcpuExitCounts). */
export interface VcpuExitCounts {
  /** By KVM exit reason name (IO, MMIO, HLT, INTR, ...). */
  byReason: Record<string, number>;
  /** Port reads (IN, INS); a string I/O exit counts once, here and in the three below. */
  ioIn: number;
  /** Port writes (OUT, OUTS). */
  ioOut: number;
  /** MMIO reads. */
  mmioRead: number;
  /** MMIO writes. */
  mmioWrite: number;
  /**
   * Port and MMIO accesses routed to each device, by device id (a string I/O exit counts once per element; past
   * the 32nd device with a vCPU-thread half, the rest are counted together as 'other devices').
   */
  byDevice: Record<string, number>;
  /** Nanoseconds inside KVM_RUN (the guest running, or halted in the kernel), up to now; with `timeKvmRun`. */
  inKvmRunNs?: number;
  /** Nanoseconds the vCPU's thread ran outside KVM_RUN (handling exits, not parked by pause), up to now; with `timeKvmRun`. */
  outOfKvmRunNs?: number;
}

/** What Machine.create() builds a machine from. */
export interface MachineConfig {
  /** Guest RAM in bytes (page multiple). */
  memorySize: number;
  /** The number of vCPUs (default 1). */
  vcpus?: number;
  /** The KVM device (default `/dev/kvm`). */
  kvmPath?: string;
  /** In-kernel PIC/IOAPIC/LAPIC and PIT (default false: bare vCPUs, HLT exits to the VMM). */
  irqchip?: boolean;
  /**
   * The machine's devices, in registration order (attached, quiesced and closed in that order). A bare
   * DeviceModuleSpec is a device with only a vCPU-thread half.
   */
  devices?: (MachineDevice | DeviceModuleSpec)[];
  /** Initial vCPU state, the same for all or per vCPU index. */
  init?: VcpuInit | ((vcpu: number, memory: GuestMemory) => VcpuInit);
  /** What an access no device claims does: 'ignore' (reads all-ones, reported) or 'error' (ends the VM). */
  unhandledIo?: UnhandledIoPolicy;
  /** Time each vCPU in and out of KVM_RUN (vcpuExitCounts' inKvmRunNs and outOfKvmRunNs); default false. */
  timeKvmRun?: boolean;
  /**
   * Count every port and MMIO access by the device that took it (vcpuExitCounts' byDevice); default
   * true. Off only to measure what the counting costs (bench:exit-cost).
   */
  countDeviceAccesses?: boolean;
  /** Back guest RAM with huge pages where the host has them. */
  hugepages?: boolean;
  /**
   * Guest memory made elsewhere (a snapshot's, mapped copy-on-write); the machine owns it from here
   * and its regions must match the layout of `memorySize`.
   */
  memory?: GuestMemory;
  /** The VM's in-kernel devices and clock as a snapshot saved them (needs `irqchip`). */
  vmState?: VmState;
  /** Log the pages the guest writes (KVM_MEM_LOG_DIRTY_PAGES), so a snapshot copies only what was used. */
  logDirtyPages?: boolean;
  /**
   * KVM here runs guest ring 0 in its instruction emulator (nested PVM; default: detected). The vCPUs
   * then finish the ring-0 instructions the emulator gives up on where their result is known (int3,
   * fwait: arch/x86_64/emulator-completion.ts); elsewhere they never exit like that, and that repair
   * would be wrong there.
   */
  emulatedKernelMode?: boolean;
}

/** The events a Machine emits, with their arguments. */
export interface MachineEvents {
  /** A guest access no device claimed (with `unhandledIo: 'ignore'`, the default). */
  'unhandled-io': [info: Extract<WorkerMessage, { type: 'unhandled-io' }>];
  /** One vCPU ended. */
  'vcpu-end': [end: VcpuEnd];
  /** Every vCPU ended: how the machine ended. */
  exit: [exit: MachineExit];
}

type Phase = 'created' | 'starting' | 'running' | 'exited' | 'disposed';

interface VcpuThread {
  worker: Worker;
  kickToken?: number;
  end?: VcpuEnd;
  crash?: unknown;
}

/**
 * A VM with its guest memory and one worker thread per vCPU, with no boot protocol: the caller puts code in memory
 * and sets the registers.
 */
export class Machine extends EventEmitter<MachineEvents> {
  /** The open `/dev/kvm`. */
  readonly kvm: Kvm;
  /** The KVM VM. */
  readonly vm: Vm;
  /** Guest RAM. */
  readonly memory: GuestMemory;
  /** The number of vCPUs. */
  readonly vcpuCount: number;
  /** Resolves once, when every vCPU has ended, with how the machine ended. */
  readonly exited: Promise<MachineExit>;
  readonly #config: MachineConfig;
  readonly #control: ControlBlock;
  readonly #exitCounters: SharedArrayBuffer;
  readonly #threads: VcpuThread[] = [];
  readonly #devices: readonly MachineDevice[];
  /** The ids of the devices with a vCPU-thread half, in the order each worker loads them: their counter slots. */
  readonly #workerDeviceIds: string[] = [];
  /** Main-thread ends of the devices' channels, closed when the machine ends. */
  readonly #ports: MessagePort[] = [];
  readonly #deviceErrors: { device: string; error: Error }[] = [];
  #phase: Phase = 'created';
  #resolveExited!: (exit: MachineExit) => void;
  #liveWorkers = 0;
  #stopping = false;
  #finishing = false;
  #paused = false;

  private constructor(config: MachineConfig, devices: MachineDevice[], kvm: Kvm, vm: Vm, memory: GuestMemory) {
    super();
    this.#config = config;
    this.#devices = devices;
    this.kvm = kvm;
    this.vm = vm;
    this.memory = memory;
    this.vcpuCount = config.vcpus ?? 1;
    this.#control = new ControlBlock(this.vcpuCount);
    this.#exitCounters = new SharedArrayBuffer(this.vcpuCount * VCPU_COUNTER_SLOTS * Float64Array.BYTES_PER_ELEMENT);
    this.exited = new Promise((resolve) => {
      this.#resolveExited = resolve;
    });
  }

  /**
   * Opens KVM, creates the VM and its memory (slots registered before the irqchip: the first slot
   * after KVM_CREATE_IRQCHIP costs milliseconds), then attaches the devices. Nothing runs until start().
   * @throws {@link ConfigError} when the vCPU count, memory size or devices are invalid.
   * @throws {@link KvmUnavailableError} when /dev/kvm cannot be opened.
   * @throws {@link KvmCapabilityError} when a needed capability is missing.
   * @throws {@link KvmIoctlError} when creating the VM or its memory fails.
   */
  static create(config: MachineConfig): Machine {
    const vcpus = config.vcpus ?? 1;
    if (!Number.isInteger(vcpus) || vcpus < 1 || vcpus > MAX_VCPUS) throw new ConfigError(`vcpus must be an integer from 1 to ${MAX_VCPUS}, got ${vcpus}`);
    prestartVcpuWorkers(vcpus); // workers for this machine's vCPUs start now, while the VM is set up
    const devices = normalizeDevices(config.devices ?? []);
    const layout = ramLayout(config.memorySize);
    if (config.memory !== undefined && !sameLayout(config.memory, layout)) {
      config.memory.dispose();
      throw new ConfigError('the given guest memory does not have the layout of memorySize');
    }
    if (config.vmState !== undefined && config.irqchip !== true) throw new ConfigError('a saved VM state needs the in-kernel irqchip');
    let kvm: Kvm;
    try {
      kvm = Kvm.open(config.kvmPath);
    } catch (error) {
      config.memory?.dispose();
      throw error;
    }
    let vm: Vm | undefined;
    let memory: GuestMemory | undefined = config.memory;
    const attached: MachineDevice[] = [];
    try {
      kvm.requireCapabilities();
      vm = kvm.createVm();
      vm.setTssAddress(KVM_TSS_ADDRESS);
      if (vm.checkExtension('SET_IDENTITY_MAP_ADDR') > 0) vm.setIdentityMapAddress(KVM_IDENTITY_MAP_ADDRESS);
      memory ??= GuestMemory.allocate(layout, { hugepages: config.hugepages ?? false });
      const logDirtyPages = config.logDirtyPages ?? false;
      for (const region of memory.regions) vm.setUserMemoryRegion(region.slot, region.guestAddress, region.hostAddress, region.size, { logDirtyPages });
      if (config.irqchip) {
        vm.createIrqchip();
        vm.createPit2();
      }
      if (config.vmState !== undefined) restoreVmState(vm, config.vmState);
      const wiredVm = vm;
      const context: MachineAttachContext = {
        memory,
        vcpuCount: vcpus,
        vm: {
          irqfd: (fd, gsi) => wiredVm.irqfd(fd, gsi),
          ioeventfd: (fd, options) => wiredVm.ioeventfd(fd, options),
          irqLine: (irq, level) => wiredVm.irqLine(irq, level),
        },
      };
      for (const device of devices) {
        attached.push(device);
        device.attach?.(context);
      }
      return new Machine(config, devices, kvm, vm, memory);
    } catch (error) {
      for (const device of attached.reverse()) closeQuietly(device);
      vm?.close();
      memory?.dispose();
      kvm.close();
      throw error;
    }
  }

  /** The devices, in registration order. */
  get devices(): readonly MachineDevice[] {
    return this.#devices;
  }

  /** Where the machine is in its life: created, starting, running, stopping or ended. */
  get phase(): Phase {
    return this.#phase;
  }

  /**
   * Spawns the vCPU workers, waits until each has created its vCPU and devices, then lets them run.
   * @throws {@link ClosedError} when the machine was already started or has ended.
   * @throws {@link VcpuError} when a vCPU worker fails to start; whatever a device's start() throws.
   */
  async start(options: { paused?: boolean } = {}): Promise<void> {
    if (this.#phase !== 'created') throw new ClosedError(`cannot start a machine that is ${this.#phase}`);
    this.#phase = 'starting';
    liveMachines.add(this);
    // Everything that can throw synchronously (init functions, structured cloning of their results)
    // happens before the first worker exists, so a bad config never leaves a parked worker behind.
    let workerData: VcpuWorkerData[];
    try {
      workerData = Array.from({ length: this.vcpuCount }, (_, index) => this.#workerData(index));
      for (const data of workerData) structuredClone(data);
    } catch (error) {
      this.#stopping = true;
      this.#finish();
      throw error;
    }
    const ready: Promise<void>[] = [];
    try {
      const started = await Promise.allSettled(this.#devices.map(async (device) => device.start?.()));
      const failed = started.find((result): result is PromiseRejectedResult => result.status === 'rejected');
      if (failed !== undefined) throw failed.reason;
      if (this.#stopping) {
        // stop() came while the devices started: no worker exists to end, so end here.
        this.#finish();
        return;
      }
      // A single vCPU enters the guest as soon as its worker has set it up, not after a round trip here.
      // With more, every vCPU must exist before any runs: an IPI (INIT/SIPI) to one not yet created is lost.
      if (options.paused !== true && this.vcpuCount === 1) this.#requestAll(Request.RUN);
      for (const data of workerData) ready.push(this.#spawn(data));
      await Promise.all(ready);
    } catch (error) {
      this.#stopAll();
      if (this.#liveWorkers === 0) this.#finish();
      await this.exited;
      throw error;
    }
    if (this.#stopping) return;
    this.#phase = 'running';
    if (options.paused === true) {
      // Up and parked: the vCPUs wait for resume() without having entered the guest.
      this.#requestAll(Request.PAUSE);
      this.#paused = true;
      await Promise.all(this.#devices.map(async (device) => device.pause?.()));
      return;
    }
    this.#requestAll(Request.RUN);
  }

  /**
   * Parks every vCPU outside KVM_RUN (a vCPU inside it is kicked out), then pauses the devices (their
   * back ends stop serving queues and host sources); resolves when all are parked. A paused machine
   * uses no CPU and nothing writes guest memory.
   * @throws Nothing: on a machine that is not running it does nothing.
   */
  async pause(): Promise<void> {
    if (this.#phase !== 'running' || this.#stopping) return;
    this.#requestAll(Request.PAUSE);
    await Promise.all(this.#threads.map((_, index) => this.#control.waitForState(index, [State.PAUSED, State.EXITED])));
    if (this.#paused || this.#stopping) return;
    this.#paused = true;
    await Promise.all(this.#devices.map(async (device) => device.pause?.()));
  }

  /**
   * Resumes the devices, then the vCPUs.
   * @throws Nothing: on a machine that is not paused it does nothing.
   */
  async resume(): Promise<void> {
    if (this.#phase !== 'running' || this.#stopping) return;
    if (this.#paused) {
      this.#paused = false;
      await Promise.all(this.#devices.map(async (device) => device.resume?.()));
    }
    if (this.#stopping) return;
    this.#requestAll(Request.RUN);
  }

  /** True between pause() and resume(). */
  get paused(): boolean {
    return this.#paused;
  }

  /**
   * Every vCPU's whole state, read on its own thread (the machine must be paused). Pending I/O is
   * finished first, so the states are what the guest would run on with.
   * @throws {@link ClosedError} when the machine is not paused or running.
   * @throws {@link VcpuError} when a vCPU cannot report its state.
   */
  async saveVcpuStates(): Promise<VcpuState[]> {
    if (!this.#paused) throw new ClosedError('save the vCPUs of a paused machine only');
    return Promise.all(
      this.#threads.map(
        (thread, index) =>
          new Promise<VcpuState>((resolve, reject) => {
            const onMessage = (message: WorkerMessage): void => {
              if (message.type !== 'state' || message.vcpu !== index) return;
              thread.worker.off('message', onMessage);
              thread.worker.off('exit', onExit);
              if (message.state !== undefined) resolve(message.state);
              else reject(new VcpuError(index, `vCPU ${index} could not save its state: ${message.error?.message ?? 'unknown'}`));
            };
            const onExit = (): void => {
              thread.worker.off('message', onMessage);
              reject(new VcpuError(index, `vCPU ${index} ended while saving its state`));
            };
            thread.worker.on('message', onMessage);
            thread.worker.once('exit', onExit);
            this.#control.setRequest(index, Request.SAVE);
          }),
      ),
    );
  }

  /**
   * The VM's in-kernel interrupt controllers, PIT and clock (machines with the irqchip).
   * @throws {@link KvmIoctlError} when KVM cannot report the irqchip, PIT or clock.
   */
  saveVmState(): VmState {
    return saveVmState(this.vm);
  }

  /**
   * The pages the guest wrote since the last call (or since the slots were made), per memory region
   * (one bit per page, from KVM's dirty log; machines created with logDirtyPages).
   * @throws {@link KvmIoctlError} when KVM cannot report the dirty log.
   */
  takeDirtyPages(): Uint8Array[] {
    return this.memory.regions.map((region) => this.vm.getDirtyLog(region.slot));
  }

  /**
   * Stops every vCPU (even one spinning in the guest) and resolves with how the machine ended.
   * @throws Nothing.
   */
  async stop(): Promise<MachineExit> {
    if (this.#phase === 'created') {
      this.#stopping = true;
      this.#finish();
    }
    this.#stopAll();
    return this.exited;
  }

  /**
   * Stops the vCPUs (the devices quiesce before `exited` resolves), then releases guest memory, closes
   * the devices, the VM and /dev/kvm, in that order. Safe to call more than once.
   * @throws Nothing.
   */
  async dispose(): Promise<void> {
    if (this.#phase === 'disposed') return;
    await this.stop();
    if ((this.#phase as Phase) === 'disposed') return; // a concurrent dispose() finished first
    this.#phase = 'disposed';
    // KVM lets go of guest memory first (the addon refuses to unmap memory a slot still uses).
    for (const region of this.memory.regions) this.vm.deleteMemoryRegion(region.slot);
    this.memory.dispose();
    for (const device of this.#devices) closeQuietly(device);
    await this.vm.closeInBackground();
    this.kvm.close();
  }

  /**
   * The same as dispose(), for `await using`.
   * @throws Nothing.
   */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }

  /**
   * Called at process exit: a vCPU blocked in KVM_RUN would keep its worker thread from ever ending.
   * @throws Nothing.
   */
  static stopAllForExit(): void {
    for (const machine of liveMachines) machine.#stopAll();
  }

  /** STOP is final: once requested, no later pause or resume can replace it. */
  #stopAll(): void {
    this.#stopping = true;
    this.#requestAll(Request.STOP);
  }

  #requestAll(request: number): void {
    if (this.#stopping && request !== Request.STOP) return;
    // Every vCPU's slot, also of workers still being handed their vCPU: they read it when they start.
    for (let index = 0; index < this.vcpuCount; index++) {
      this.#control.setRequest(index, request);
      const token = this.#threads[index]?.kickToken;
      if (request !== Request.RUN && token !== undefined) kickVcpu(token);
    }
  }

  #workerData(index: number): VcpuWorkerData {
    const init = typeof this.#config.init === 'function' ? this.#config.init(index, this.memory) : (this.#config.init ?? {});
    return {
      kvmFd: this.kvm.fd,
      vmFd: this.vm.fd,
      vcpuIndex: index,
      vcpuCount: this.vcpuCount,
      control: this.#control.buffer,
      memory: this.memory.descriptors(),
      init,
      devices: [],
      unhandledIo: this.#config.unhandledIo ?? 'ignore',
      emulatedKernelMode: this.#config.emulatedKernelMode ?? kernelModeEmulated(),
      msrIndices: msrIndices(this.kvm),
      exitCounters: this.#exitCounters,
      timeKvmRun: this.#config.timeKvmRun ?? false,
      countDeviceAccesses: this.#config.countDeviceAccesses ?? true,
    };
  }

  /**
   * Each vCPU's exits so far: by KVM exit reason, and port/MMIO exits by direction. Cheap: reads shared counters.
   * @throws Nothing.
   */
  vcpuExitCounts(): VcpuExitCounts[] {
    const all = new Float64Array(this.#exitCounters);
    const now = monotonicNs();
    const upToNow = (total: number, since: number): number => total + (since > 0 ? Math.max(0, now - since) : 0);
    return Array.from({ length: this.vcpuCount }, (_, index) => {
      const slots = all.subarray(index * VCPU_COUNTER_SLOTS, (index + 1) * VCPU_COUNTER_SLOTS);
      const byReason: Record<string, number> = {};
      slots.subarray(0, IO_IN_SLOT).forEach((count, code) => {
        if (count > 0) byReason[exitName(code)] = count;
      });
      const byDevice: Record<string, number> = {};
      const ids = this.#workerDeviceIds;
      slots.subarray(DEVICE_SLOT_BASE, DEVICE_SLOT_BASE + DEVICE_COUNTER_SLOTS).forEach((count, slot) => {
        const id = slot === DEVICE_COUNTER_SLOTS - 1 && ids.length > DEVICE_COUNTER_SLOTS ? 'other devices' : ids[slot];
        if (count > 0 && id !== undefined) byDevice[id] = count;
      });
      const inKvmRunNs = upToNow(slots[RUN_NS_SLOT] as number, slots[RUN_ENTERED_SLOT] as number);
      const activeNs = upToNow(slots[ACTIVE_NS_SLOT] as number, slots[ACTIVE_SINCE_SLOT] as number);
      return {
        byReason,
        ioIn: slots[IO_IN_SLOT] as number,
        ioOut: slots[IO_OUT_SLOT] as number,
        mmioRead: slots[MMIO_READ_SLOT] as number,
        mmioWrite: slots[MMIO_WRITE_SLOT] as number,
        byDevice,
        ...(this.#config.timeKvmRun === true ? { inKvmRunNs, outOfKvmRunNs: Math.max(0, activeNs - inKvmRunNs) } : {}),
      };
    });
  }

  /** Each device's vCPU-thread half for one worker, with a fresh private channel where the device takes one. */
  #workerDevices(vcpu: number): { devices: WorkerDevice[]; transfer: TransferListItem[] } {
    const devices: WorkerDevice[] = [];
    const transfer: TransferListItem[] = [];
    if (vcpu === 0) this.#workerDeviceIds.length = 0;
    for (const device of this.#devices) {
      const spec = device.worker;
      if (spec === undefined) continue;
      if (vcpu === 0) this.#workerDeviceIds.push(device.id);
      if (device.connect === undefined) {
        devices.push({ id: device.id, spec });
        continue;
      }
      const { port1, port2 } = new MessageChannel();
      port1.unref();
      this.#ports.push(port1);
      device.connect(vcpu, port1);
      devices.push({ id: device.id, spec, port: port2 });
      transfer.push(port2);
    }
    return { devices, transfer };
  }

  async #spawn(data: VcpuWorkerData): Promise<void> {
    const index = data.vcpuIndex;
    const { devices, transfer } = this.#workerDevices(index);
    const worker = await vcpuWorker({ ...data, devices }, transfer);
    const thread: VcpuThread = { worker };
    this.#threads[index] = thread;
    this.#liveWorkers++;
    return new Promise<void>((resolve, reject) => {
      worker.on('message', (message: WorkerMessage) => {
        switch (message.type) {
          case 'ready':
            thread.kickToken = message.kickToken;
            // A request made while this vCPU was starting must still reach it inside KVM_RUN.
            if (this.#control.request(index) !== Request.RUN) kickVcpu(message.kickToken);
            resolve();
            break;
          case 'end':
            thread.end = message.end;
            this.emit('vcpu-end', message.end);
            if (endsMachine(message.end)) this.#stopAll();
            break;
          case 'unhandled-io':
            this.emit('unhandled-io', message);
            break;
        }
      });
      worker.on('error', (error) => {
        thread.crash = error;
      });
      worker.on('exit', (code) => {
        if (thread.end === undefined) {
          const crash = thread.crash ?? new VcpuError(index, `vCPU ${index} worker exited with code ${code} before reporting`);
          thread.end = { vcpu: index, reason: 'error', error: serializeError(crash), exitCounts: {}, recovered: {} };
          this.emit('vcpu-end', thread.end);
          this.#stopAll();
          reject(new VcpuError(index, `vCPU ${index} failed to start: ${thread.end.error?.message}`, { cause: crash }));
        }
        this.#control.setState(index, State.EXITED);
        this.#workerExited();
      });
    });
  }

  #workerExited(): void {
    this.#liveWorkers--;
    if (this.#liveWorkers > 0 || this.#phase === 'exited' || this.#phase === 'disposed') return;
    this.#finish();
  }

  /** Every vCPU has ended: the devices quiesce, then the machine reports how it ended. */
  #finish(): void {
    if (this.#phase === 'exited' || this.#phase === 'disposed' || this.#finishing) return;
    this.#finishing = true;
    liveMachines.delete(this);
    void this.#quiesceDevices().then(() => {
      for (const port of this.#ports.splice(0)) closeDelivered(port);
      this.#phase = 'exited';
      const exit = summarizeExit(this.#threads.map((t) => t.end).filter((e): e is VcpuEnd => e !== undefined));
      if (this.#deviceErrors.length > 0) exit.deviceErrors = [...this.#deviceErrors];
      this.emit('exit', exit);
      this.#resolveExited(exit);
    });
  }

  async #quiesceDevices(): Promise<void> {
    const results = await Promise.allSettled(this.#devices.map(async (device) => device.quiesce?.()));
    results.forEach((result, i) => {
      if (result.status === 'rejected') this.#deviceErrors.push({ device: (this.#devices[i] as MachineDevice).id, error: asError(result.reason) });
    });
  }
}

/**
 * Delivers what a device's vCPU half posted before its worker ended (a port's messages are not
 * ordered with the worker's own 'end'), then closes the port.
 */
function closeDelivered(port: MessagePort): void {
  for (let message = receiveMessageOnPort(port); message !== undefined; message = receiveMessageOnPort(port)) port.emit('message', message.message);
  port.close();
}

let cachedMsrIndices: number[] | undefined;

/** KVM's MSR list is the host's: read once per process. */
function msrIndices(kvm: Kvm): number[] {
  cachedMsrIndices ??= kvm.msrIndexList();
  return cachedMsrIndices;
}

function sameLayout(memory: GuestMemory, layout: readonly { guestAddress: number; size: number }[]): boolean {
  return memory.regions.length === layout.length && memory.regions.every((region, i) => region.guestAddress === layout[i]?.guestAddress && region.size === layout[i]?.size);
}

function asError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}

function closeQuietly(device: MachineDevice): void {
  try {
    device.close?.();
  } catch {
    // close() must not throw; one that does must not keep the others from closing.
  }
}

/** Bare module specs become devices with only a vCPU-thread half; ids must be unique. */
function normalizeDevices(entries: readonly (MachineDevice | DeviceModuleSpec)[]): MachineDevice[] {
  const devices = entries.map((entry, i): MachineDevice => ('module' in entry ? { id: `module${i}`, worker: entry } : entry));
  const ids = new Set<string>();
  for (const device of devices) {
    if (ids.has(device.id)) throw new ConfigError(`two devices have the id '${device.id}'`);
    ids.add(device.id);
  }
  return devices;
}

process.once('exit', () => Machine.stopAllForExit());
