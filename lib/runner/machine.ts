// Machine: a VM with its memory and one worker thread per vCPU. The main thread only orchestrates
// (start, pause, resume, stop, dispose); exits are handled on the vCPU threads.
import { EventEmitter } from 'node:events';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
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
import { DeviceModuleSpec, serializeError, UnhandledIoPolicy, VcpuEnd, VcpuWorkerData, WorkerMessage } from './messages';

export const MAX_VCPUS = 254;
const WORKER_PATH = path.join(__dirname, 'vcpu-worker.js');
const liveMachines = new Set<Machine>();

export interface MachineConfig {
  /** Guest RAM in bytes (page multiple). */
  memorySize: number;
  vcpus?: number;
  kvmPath?: string;
  /** In-kernel PIC/IOAPIC/LAPIC and PIT (default false: bare vCPUs, HLT exits to the VMM). */
  irqchip?: boolean;
  /** Device modules loaded in every vCPU worker. */
  devices?: DeviceModuleSpec[];
  /** Initial vCPU state, the same for all or per vCPU index. */
  init?: VcpuInit | ((vcpu: number, memory: GuestMemory) => VcpuInit);
  /** What an access no device claims does: 'ignore' (reads all-ones, reported) or 'error' (ends the VM). */
  unhandledIo?: UnhandledIoPolicy;
  hugepages?: boolean;
  /**
   * KVM here runs guest ring 0 in its instruction emulator (nested PVM; default: detected). The vCPUs
   * then finish ring-0 int3s the emulator gives up on (arch/x86_64/int3-completion.ts); elsewhere an
   * int3 never exits like that, and that repair would be wrong there.
   */
  emulatedKernelMode?: boolean;
}

export interface MachineEvents {
  'device-message': [vcpu: number, payload: unknown];
  'unhandled-io': [info: Extract<WorkerMessage, { type: 'unhandled-io' }>];
  'vcpu-end': [end: VcpuEnd];
  exit: [exit: MachineExit];
}

type Phase = 'created' | 'starting' | 'running' | 'exited' | 'disposed';

interface VcpuThread {
  worker: Worker;
  kickToken?: number;
  end?: VcpuEnd;
  crash?: unknown;
}

export class Machine extends EventEmitter<MachineEvents> {
  readonly kvm: Kvm;
  readonly vm: Vm;
  readonly memory: GuestMemory;
  readonly vcpuCount: number;
  readonly exited: Promise<MachineExit>;
  readonly #config: MachineConfig;
  readonly #control: ControlBlock;
  readonly #threads: VcpuThread[] = [];
  #phase: Phase = 'created';
  #resolveExited!: (exit: MachineExit) => void;
  #liveWorkers = 0;
  #stopping = false;

  private constructor(config: MachineConfig, kvm: Kvm, vm: Vm, memory: GuestMemory) {
    super();
    this.#config = config;
    this.kvm = kvm;
    this.vm = vm;
    this.memory = memory;
    this.vcpuCount = config.vcpus ?? 1;
    this.#control = new ControlBlock(this.vcpuCount);
    this.exited = new Promise((resolve) => {
      this.#resolveExited = resolve;
    });
  }

  /** Opens KVM, creates the VM and its memory. Nothing runs until start(). */
  static create(config: MachineConfig): Machine {
    const vcpus = config.vcpus ?? 1;
    if (!Number.isInteger(vcpus) || vcpus < 1 || vcpus > MAX_VCPUS) throw new ConfigError(`vcpus must be an integer from 1 to ${MAX_VCPUS}, got ${vcpus}`);
    const layout = ramLayout(config.memorySize);
    const kvm = Kvm.open(config.kvmPath);
    let vm: Vm | undefined;
    let memory: GuestMemory | undefined;
    try {
      kvm.requireCapabilities();
      vm = kvm.createVm();
      vm.setTssAddress(KVM_TSS_ADDRESS);
      if (vm.checkExtension('SET_IDENTITY_MAP_ADDR') > 0) vm.setIdentityMapAddress(KVM_IDENTITY_MAP_ADDRESS);
      if (config.irqchip) {
        vm.createIrqchip();
        vm.createPit2();
      }
      memory = GuestMemory.allocate(layout, { hugepages: config.hugepages ?? false });
      for (const region of memory.regions) vm.setUserMemoryRegion(region.slot, region.guestAddress, region.hostAddress, region.size);
      return new Machine(config, kvm, vm, memory);
    } catch (error) {
      vm?.close();
      memory?.dispose();
      kvm.close();
      throw error;
    }
  }

  get phase(): Phase {
    return this.#phase;
  }

  /** Spawns the vCPU workers, waits until each has created its vCPU and devices, then lets them run. */
  async start(): Promise<void> {
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
    this.#requestAll(Request.RUN);
  }

  /** Parks every vCPU outside KVM_RUN; resolves when all are parked (or have ended). */
  async pause(): Promise<void> {
    if (this.#phase !== 'running' || this.#stopping) return;
    this.#requestAll(Request.PAUSE);
    await Promise.all(this.#threads.map((_, index) => this.#control.waitForState(index, [State.PAUSED, State.EXITED])));
  }

  resume(): void {
    if (this.#phase !== 'running' || this.#stopping) return;
    this.#requestAll(Request.RUN);
  }

  /** Stops every vCPU (even one spinning in the guest) and resolves with how the machine ended. */
  async stop(): Promise<MachineExit> {
    if (this.#phase === 'created') {
      this.#phase = 'exited';
      this.#resolveExited({ reason: 'stopped', vcpus: [] });
    }
    this.#stopAll();
    return this.exited;
  }

  /** Stops the vCPUs, then releases the VM, its memory and /dev/kvm. Safe to call more than once. */
  async dispose(): Promise<void> {
    if (this.#phase === 'disposed') return;
    await this.stop();
    this.#phase = 'disposed';
    this.vm.close();
    this.memory.dispose();
    this.kvm.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }

  /** Called at process exit: a vCPU blocked in KVM_RUN would keep its worker thread from ever ending. */
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
    for (let index = 0; index < this.#threads.length; index++) {
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
      devices: this.#config.devices ?? [],
      unhandledIo: this.#config.unhandledIo ?? 'ignore',
      emulatedKernelMode: this.#config.emulatedKernelMode ?? kernelModeEmulated(),
    };
  }

  #spawn(data: VcpuWorkerData): Promise<void> {
    const index = data.vcpuIndex;
    const worker = new Worker(WORKER_PATH, { workerData: data, name: `vcpu-${index}` });
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
          case 'device':
            this.emit('device-message', message.vcpu, message.payload);
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
          thread.end = { vcpu: index, reason: 'error', error: serializeError(crash), exitCounts: {} };
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

  #finish(): void {
    if (this.#phase === 'exited' || this.#phase === 'disposed') return;
    this.#phase = 'exited';
    liveMachines.delete(this);
    const exit = summarizeExit(this.#threads.map((t) => t.end).filter((e): e is VcpuEnd => e !== undefined));
    this.emit('exit', exit);
    this.#resolveExited(exit);
  }
}

process.once('exit', () => Machine.stopAllForExit());
