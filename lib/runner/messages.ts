// Messages and data passed between the main thread and vCPU workers (all structured-cloneable).
import type { VcpuExit } from '../kvm/exits';
import type { MessagePort } from 'node:worker_threads';
import type { VcpuInit } from '../arch/x86_64/vcpu-init';
import type { VcpuState } from '../arch/x86_64/vcpu-state';
import type { Regs } from '../kvm/structs/regs';
import type { Sregs } from '../kvm/structs/sregs';
import type { RegionDescriptor } from '../memory/guest-memory';

/** A module that, loaded in every vCPU worker, registers its devices on that worker's buses. */
export interface DeviceModuleSpec {
  /** Absolute path (or resolvable specifier) of a CommonJS module. */
  module: string;
  /** The export to call (default 'setup'): (context: DeviceContext, args) => void | Promise<void>. */
  export?: string;
  /** Structured-cloneable arguments, e.g. SharedArrayBuffers holding device state shared by all vCPUs. */
  args?: unknown;
}

/**
 * What a guest access no device claims does: `ignore` (reads give all ones, writes are dropped) or `error` (the VM
 * ends).
 */
export type UnhandledIoPolicy = 'ignore' | 'error';

/** One device's vCPU-thread half as a worker gets it: its module and, if it has one, its channel end. */
export interface WorkerDevice {
  id: string;
  spec: DeviceModuleSpec;
  port?: MessagePort;
}

export interface VcpuWorkerData {
  kvmFd: number;
  vmFd: number;
  vcpuIndex: number;
  vcpuCount: number;
  control: SharedArrayBuffer;
  memory: RegionDescriptor[];
  init: VcpuInit;
  devices: WorkerDevice[];
  unhandledIo: UnhandledIoPolicy;
  /** See MachineConfig.emulatedKernelMode. */
  emulatedKernelMode: boolean;
  /** See MachineConfig.timeKvmRun. */
  timeKvmRun: boolean;
  /** See MachineConfig.countDeviceAccesses. */
  countDeviceAccesses: boolean;
  /** The MSRs KVM lists (KVM_GET_MSR_INDEX_LIST): what a saved state holds. */
  msrIndices: number[];
  /** Every vCPU's exit counters (VCPU_COUNTER_SLOTS float64 each, this vCPU's at vcpuIndex), read live by the main thread. */
  exitCounters: SharedArrayBuffer;
}

/** Why a vCPU stopped running. */
export type VcpuEndReason =
  | 'hlt'
  | 'shutdown'
  | 'system-event'
  | 'internal-error'
  | 'fail-entry'
  | 'unknown-exit'
  | 'unexpected-exit'
  | 'unhandled-io'
  | 'device-exit'
  | 'stopped'
  | 'error';

/** A device asked to end the VM: the guest reset it, powered it off, or reported a status code. */
export type DeviceExit = { kind: 'reset' } | { kind: 'poweroff' } | { kind: 'status'; status: number };

export interface SerializedError {
  name: string;
  message: string;
  stack?: string;
}

/** How one vCPU ended: its reason, registers, exit counts and error. */
export interface VcpuEnd {
  /** The vCPU's index. */
  vcpu: number;
  /** Why it ended. */
  reason: VcpuEndReason;
  /** The exit that ended it (absent for 'stopped' and most 'error's). */
  exit?: VcpuExit;
  /** Registers at the end (absent when they could not be read). */
  regs?: Regs;
  /** Its special registers at the end, where they could be read. */
  sregs?: Sregs;
  /** The error that ended it, for reasons `fault` and `error`. */
  error?: SerializedError;
  /** For 'device-exit': what the device asked for. */
  deviceExit?: DeviceExit;
  /** Exits handled by this vCPU, by kind. */
  exitCounts: Record<string, number>;
  /** Exits that would have ended it but were dealt with (VcpuLoopOptions.recover), by what was done, e.g. 'int3'. */
  recovered: Record<string, number>;
}

export type WorkerMessage =
  | { type: 'ready'; kickToken: number }
  | { type: 'end'; end: VcpuEnd }
  | { type: 'state'; vcpu: number; state?: VcpuState; error?: SerializedError }
  | { type: 'unhandled-io'; vcpu: number; bus: 'pio' | 'mmio'; address: number; size: number; write: boolean };

export function serializeError(error: unknown): SerializedError {
  if (error instanceof Error) return { name: error.name, message: error.message, ...(error.stack !== undefined ? { stack: error.stack } : {}) };
  return { name: 'Error', message: String(error) };
}
