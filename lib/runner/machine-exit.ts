// How a machine ended, derived from how each of its vCPUs ended.
import { VcpuError } from '../kvm/errors';
import type { VcpuEnd, VcpuEndReason } from './messages';

/** Why a machine ended. */
export type MachineExitReason = 'halted' | 'stopped' | 'shutdown' | 'reset' | 'exited' | 'fault' | 'error';

/** How a machine ended: the reason, and each vCPU's end. */
export interface MachineExit {
  /** Why it ended: halted, stopped, shutdown, reset, exited, fault or error. */
  reason: MachineExitReason;
  /** Every vCPU's end, in vCPU order. */
  vcpus: VcpuEnd[];
  /** The first vCPU failure, for 'error' and 'fault'. */
  error?: VcpuError;
  /** The guest's status code, for 'exited' (written to the debug-exit port). */
  status?: number;
  /** Devices whose quiesce failed (host-side trouble; the machine still ended cleanly). */
  deviceErrors?: { device: string; error: Error }[];
}

const ERROR_REASONS: readonly VcpuEndReason[] = ['error', 'unhandled-io'];
const FAULT_REASONS: readonly VcpuEndReason[] = ['internal-error', 'fail-entry', 'unknown-exit', 'unexpected-exit'];

/** A vCPU end that should take the whole machine down. */
export function endsMachine(end: VcpuEnd): boolean {
  return end.reason !== 'hlt' && end.reason !== 'stopped';
}

function describe(end: VcpuEnd): string {
  const detail = end.error?.message ?? (end.exit ? JSON.stringify(end.exit, (_k, v: unknown) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v)) : '');
  const rip = end.regs ? ` at rip 0x${end.regs.rip.toString(16)}` : '';
  return `vCPU ${end.vcpu} ended with ${end.reason}${rip}${detail ? `: ${detail}` : ''}`;
}

export function summarizeExit(ends: VcpuEnd[]): MachineExit {
  const vcpus = [...ends].sort((a, b) => a.vcpu - b.vcpu);
  const failed = vcpus.find((e) => ERROR_REASONS.includes(e.reason));
  if (failed !== undefined) return { reason: 'error', vcpus, error: new VcpuError(failed.vcpu, describe(failed)) };
  const faulted = vcpus.find((e) => FAULT_REASONS.includes(e.reason));
  if (faulted !== undefined) return { reason: 'fault', vcpus, error: new VcpuError(faulted.vcpu, describe(faulted)) };
  const deviceExit = vcpus.find((e) => e.deviceExit !== undefined)?.deviceExit;
  if (deviceExit?.kind === 'reset') return { reason: 'reset', vcpus };
  if (deviceExit?.kind === 'poweroff') return { reason: 'shutdown', vcpus };
  if (deviceExit?.kind === 'status') return { reason: 'exited', vcpus, status: deviceExit.status };
  const event = vcpus.find((e) => e.reason === 'system-event');
  if (event?.exit?.kind === 'system-event') {
    if (event.exit.type === 'reset') return { reason: 'reset', vcpus };
    if (event.exit.type === 'shutdown') return { reason: 'shutdown', vcpus };
    return { reason: 'fault', vcpus, error: new VcpuError(event.vcpu, describe(event)) };
  }
  if (vcpus.some((e) => e.reason === 'shutdown')) return { reason: 'shutdown', vcpus };
  if (vcpus.length > 0 && vcpus.every((e) => e.reason === 'hlt')) return { reason: 'halted', vcpus };
  return { reason: 'stopped', vcpus };
}
