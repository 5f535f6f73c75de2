// One Firecracker instance: what its API configures before InstanceStart (a VmSpec), then the one VM
// it runs (createVm, or restoreVm for PUT /snapshot/load). Each operation checks the instance's state
// the way Firecracker does (pre-boot-only requests after start, post-boot-only ones before it) and
// calls the VM's lifecycle directly. Operations run one at a time (the server queues them).
import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import { parseKernel } from '../../boot/kernel-image';
import { VmFileError } from '../errors';
import { ConfigError, DeviceError } from '../../kvm/errors';
import type { Readable, Writable } from 'node:stream';
import { createVm } from '../create-vm';
import { restoreVm, type RestoreOptions } from '../restore-vm';
import type { VirtualMachine } from '../virtual-machine';
import type { VmExit } from '../vm-exit';
import { FirecrackerApiError, FirecrackerConfigError } from './errors';
import { VmmLog } from './logger';
import { MetricsFile } from './metrics-file';
import type { BootSource, Drive, Logger, MachineConfig, MetricsConfig, NetworkInterface, Vsock } from './sections';
import { VmSpec } from './vm-spec';

/** What GET / reports as the VM's state. */
export type InstanceState = 'Not started' | 'Running' | 'Paused';

export const NOT_SUPPORTED_BEFORE_START = 'The requested operation is not supported before starting the microVM.';
export const NOT_SUPPORTED_AFTER_START = 'The requested operation is not supported after starting the microVM.';

export interface SnapshotCreateRequest {
  snapshot_path: string;
  mem_file_path: string;
}

export interface SnapshotLoadRequest {
  snapshot_path: string;
  mem_file_path: string;
  resume_vm: boolean;
  network_overrides: { iface_id: string; host_dev_name: string }[];
  vsock_override?: { uds_path: string };
}

export interface InstanceEvents {
  /** The VM ended (the guest reset, halted or faulted, or it was stopped). */
  exit: [exit: VmExit];
}

export class FirecrackerInstance extends EventEmitter<InstanceEvents> {
  readonly #timeKvmRun: boolean;
  readonly id: string;
  readonly spec: VmSpec;
  readonly log: VmmLog;
  readonly #console: Writable;
  readonly #input: Readable | undefined;
  #vm: VirtualMachine | undefined;
  #metrics: MetricsFile | undefined;
  /** Set once InstanceStart or a snapshot load begins: configuration is closed from then on. */
  #starting = false;

  constructor(options: { id: string; spec?: VmSpec; console: Writable; input?: Readable; timeKvmRun?: boolean }) {
    super();
    this.#timeKvmRun = options.timeKvmRun === true;
    this.id = options.id;
    this.spec = options.spec ?? new VmSpec();
    this.log = new VmmLog(options.id);
    this.#console = options.console;
    this.#input = options.input;
    if (this.spec.logger !== undefined) this.log.configure(this.spec.logger);
    if (this.spec.metrics !== undefined) this.#metrics = this.#openMetrics(this.spec.metrics);
  }

  #openMetrics(config: MetricsConfig): MetricsFile {
    return new MetricsFile(config, this.id, () => this.#vm?.metrics());
  }

  /** FlushMetrics: one line to the metrics file now. */
  flushMetrics(): void {
    if (this.#metrics === undefined) throw new FirecrackerApiError('The metrics system is not initialized: configure it with PUT /metrics or --metrics-path.');
    this.#metrics.flush();
  }

  get vm(): VirtualMachine | undefined {
    return this.#vm;
  }

  get state(): InstanceState {
    if (this.#vm === undefined) return 'Not started';
    return this.#vm.paused ? 'Paused' : 'Running';
  }

  get started(): boolean {
    return this.#starting;
  }

  requireNotStarted(): void {
    if (this.#starting) throw new FirecrackerApiError(NOT_SUPPORTED_AFTER_START);
  }

  #requireVm(): VirtualMachine {
    if (this.#vm === undefined) throw new FirecrackerApiError(NOT_SUPPORTED_BEFORE_START);
    return this.#vm;
  }

  /** The kernel is opened and parsed now, as Firecracker opens it: a missing or unbootable file is refused here. */
  putBootSource(bootSource: BootSource): void {
    this.requireNotStarted();
    let image: Uint8Array;
    try {
      image = fs.readFileSync(bootSource.kernel_image_path);
    } catch (error) {
      throw new VmFileError('kernel_image_path', bootSource.kernel_image_path, error);
    }
    try {
      parseKernel(image);
    } catch (error) {
      throw new FirecrackerConfigError('kernel_image_path', `${bootSource.kernel_image_path} cannot be booted: ${(error as Error).message}`, { cause: error });
    }
    if (bootSource.initrd_path !== undefined) {
      try {
        fs.accessSync(bootSource.initrd_path, fs.constants.R_OK);
      } catch (error) {
        throw new VmFileError('initrd_path', bootSource.initrd_path, error);
      }
    }
    this.spec.bootSource = bootSource;
  }

  putMachineConfig(config: MachineConfig): void {
    this.requireNotStarted();
    this.spec.machineConfig = config;
  }

  putDrive(drive: Drive): void {
    this.requireNotStarted();
    this.spec.putDrive(drive);
  }

  /** PATCH /drives/{id}: the drive must exist; node-vmm cannot yet swap a running disk's file. */
  /** PATCH /drives/{id}: `path_on_host` swaps the running disk's file (a config-change interrupt tells the guest). */
  async patchDrive(update: { drive_id: string; path_on_host?: string }): Promise<void> {
    const vm = this.#requireVm();
    const drive = this.spec.drives.find((d) => d.drive_id === update.drive_id);
    if (drive === undefined) throw new FirecrackerConfigError('drive_id', `no drive ${update.drive_id}`);
    if (update.path_on_host === undefined || update.path_on_host === drive.path_on_host) return;
    const other = this.spec.drives.find((d) => d.path_on_host === update.path_on_host);
    if (other !== undefined) throw new FirecrackerConfigError('path_on_host', `${update.path_on_host} is already drive ${other.drive_id}'s`);
    try {
      await vm.swapDisk(drive.drive_id, update.path_on_host);
    } catch (error) {
      if (error instanceof ConfigError) throw new FirecrackerConfigError('path_on_host', error.message);
      throw error;
    }
    drive.path_on_host = update.path_on_host;
  }

  putNetworkInterface(iface: NetworkInterface): void {
    this.requireNotStarted();
    this.spec.putNetworkInterface(iface);
  }

  patchNetworkInterface(update: { iface_id: string }): void {
    this.#requireVm();
    if (!this.spec.networkInterfaces.some((n) => n.iface_id === update.iface_id)) throw new FirecrackerConfigError('iface_id', `no network interface ${update.iface_id}`);
  }

  putVsock(vsock: Vsock): void {
    this.requireNotStarted();
    this.spec.vsock = vsock;
  }

  putEntropy(): void {
    this.requireNotStarted();
    this.spec.entropy = true;
  }

  putLogger(logger: Logger): void {
    this.requireNotStarted();
    this.log.configure(logger);
    this.spec.logger = logger;
  }

  putMetrics(metrics: MetricsConfig): void {
    this.requireNotStarted();
    if (this.#metrics !== undefined) throw new FirecrackerApiError('Reinitialization of metrics not allowed.');
    this.#metrics = this.#openMetrics(metrics);
    this.spec.metrics = metrics;
  }

  /** InstanceStart: creates the VM from the spec and starts it. */
  async start(): Promise<void> {
    this.requireNotStarted();
    const config = { ...this.spec.toVmConfig(), timeKvmRun: this.#timeKvmRun };
    this.#starting = true;
    let vm: VirtualMachine;
    try {
      vm = await createVm(config);
    } catch (error) {
      this.#starting = false; // nothing was created: the client may fix the configuration and retry
      throw error;
    }
    await this.#run(vm, () => vm.start());
    this.log.log('Info', 'vmm::builder', `started the microVM (${this.spec.machineConfig.vcpu_count} vCPU, ${this.spec.machineConfig.mem_size_mib} MiB)`);
  }

  /** SendCtrlAltDel: the keys through the i8042; a full buffer is the client's 400, as in Firecracker. */
  sendCtrlAltDel(): void {
    const vm = this.#requireVm();
    try {
      vm.sendCtrlAltDel();
    } catch (error) {
      if (error instanceof DeviceError) throw new FirecrackerApiError(`SendCtrlAltDel failed: ${error.message}`);
      throw error;
    }
  }

  async pause(): Promise<void> {
    const vm = this.#requireVm();
    await vm.pause();
  }

  async resume(): Promise<void> {
    const vm = this.#requireVm();
    await vm.resume();
  }

  /** PUT /snapshot/create: Firecracker takes snapshots of paused microVMs only. */
  async createSnapshot(request: SnapshotCreateRequest): Promise<void> {
    const vm = this.#requireVm();
    if (!vm.paused) throw new FirecrackerApiError('Cannot create a snapshot of a running microVM: pause it first (PATCH /vm {"state": "Paused"}).');
    await vm.snapshot({ statePath: request.snapshot_path, memoryPath: request.mem_file_path });
  }

  /** PUT /snapshot/load: only on an instance nothing has been configured on, as in Firecracker. */
  async loadSnapshot(request: SnapshotLoadRequest): Promise<void> {
    this.requireNotStarted();
    if (this.spec.bootSource !== undefined || this.spec.drives.length > 0 || this.spec.networkInterfaces.length > 0 || this.spec.vsock !== undefined) {
      throw new FirecrackerApiError('Loading a microVM snapshot not allowed after configuring boot-specific resources.');
    }
    const options: RestoreOptions = { paused: !request.resume_vm, timeKvmRun: this.#timeKvmRun };
    if (request.network_overrides.length > 0) options.networks = Object.fromEntries(request.network_overrides.map((o) => [o.iface_id, { tap: o.host_dev_name }]));
    if (request.vsock_override !== undefined) options.vsock = { socketPath: request.vsock_override.uds_path };
    this.#starting = true;
    let vm: VirtualMachine;
    try {
      vm = await restoreVm({ statePath: request.snapshot_path, memoryPath: request.mem_file_path }, options);
    } catch (error) {
      this.#starting = false;
      throw error;
    }
    await this.#run(vm, async () => undefined);
  }

  async #run(vm: VirtualMachine, start: () => Promise<void>): Promise<void> {
    vm.console.pipe(this.#console, { end: false });
    try {
      await start();
    } catch (error) {
      await vm.dispose();
      this.#starting = false;
      throw error;
    }
    this.#vm = vm;
    const forward = (chunk: Buffer): void => {
      vm.console.write(chunk);
    };
    this.#input?.on('data', forward);
    void vm.exited.then((exit) => {
      this.#input?.off('data', forward);
      this.log.log('Info', 'vmm', `the microVM ended: ${exit.reason}`);
      this.emit('exit', exit);
    });
  }

  /** Stops the VM (if any) and releases it and the log. */
  async dispose(): Promise<void> {
    const vm = this.#vm;
    if (vm !== undefined) {
      await vm.dispose();
      if (!vm.console.readableEnded) await new Promise<void>((resolve) => vm.console.once('end', resolve).once('close', resolve));
      vm.console.unpipe(this.#console);
    }
    this.#metrics?.flush();
    this.#metrics?.close();
    this.log.close();
  }
}
