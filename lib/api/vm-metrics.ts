// vm.metrics(): a VM's counters gathered into one typed value. Nothing is counted here: the vCPU
// loops count exits into shared memory, the devices' back ends keep their own counters (DeviceCounters)
// and the VM times its lifecycle operations; this reads them.
import type { Device } from '../devices/device';
import type { DeviceCounters } from '../devices/counters';
import type { Machine, VcpuExitCounts } from '../runner/machine';

/** Lifecycle operations the VM times (their last duration, microseconds). */
export type VmLatency = 'pause' | 'resume' | 'snapshot' | 'restore';

/** One device's counters in vm.metrics(). */
export interface DeviceMetrics {
  /** The device's kind ('virtio-blk', 'virtio-net', 'virtio-vsock', 'virtio-rng', ...). */
  kind: string;
  /** Its counters by name: blk reads/writes/flushes/readBytes/writeBytes/serviceNs, net rxBytes/txFrames/..., vsock, rng. */
  counters: Record<string, number>;
}

/** What vm.metrics() returns: exits per vCPU, counters per device, lifecycle latencies. */
export interface VmMetrics {
  /** Each vCPU's exits: by KVM exit reason, and port/MMIO exits by direction. */
  vcpus: VcpuExitCounts[];
  /** The devices that keep counters, by device id ('blk0', a drive's id, ...). */
  devices: Record<string, DeviceMetrics>;
  /** The last pause, resume, snapshot and restore of this VM, in microseconds (absent until one happened). */
  latenciesUs: Partial<Record<VmLatency, number>>;
}

function countersOf(device: Device): DeviceCounters | undefined {
  return (device as { counters?: DeviceCounters }).counters;
}

/** @internal Reads a VM's counters (VirtualMachine.metrics()). */
export function collectMetrics(machine: Machine, devices: readonly Device[], latencies: Partial<Record<VmLatency, number>>): VmMetrics {
  const byId: Record<string, DeviceMetrics> = {};
  for (const device of devices) {
    const counters = countersOf(device);
    if (counters !== undefined) byId[(device as { id: string }).id] = { kind: device.kind, counters: counters.read() };
  }
  return { vcpus: machine.vcpuExitCounts(), devices: byId, latenciesUs: { ...latencies } };
}
