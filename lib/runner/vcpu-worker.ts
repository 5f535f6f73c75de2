// Entry point of a vCPU worker thread: creates its vCPU (KVM wants vCPU ioctls on the creating
// thread), applies the initial state, loads the device modules, then runs the loop until it ends.
import { ConfigError } from '../kvm/errors';
import { parentPort, workerData } from 'node:worker_threads';
import { completeEmulationFailure } from '../arch/x86_64/emulator-completion';
import { applyVcpuInit } from '../arch/x86_64/vcpu-init';
import { saveVcpuState } from '../arch/x86_64/vcpu-state';
import { IoBus } from '../bus/io-bus';
import { Vcpu } from '../kvm/vcpu';
import { GuestMemory } from '../memory/guest-memory';
import { ControlBlock, State } from './control';
import type { DeviceContext, DeviceSetup } from './device-context';
import type { VcpuWorkerData, WorkerMessage } from './messages';
import type { AssignMessage, PooledWorkerData } from './worker-pool';
import { DEVICE_COUNTER_SLOTS, DEVICE_SLOT_BASE, PendingDeviceExit, RUN_NS_SLOT, VCPU_COUNTER_SLOTS, VcpuLoop } from './vcpu-loop';
import { setIrqLine } from '../kvm/vm';
import { native } from '../native/binding';

function post(message: WorkerMessage): void {
  parentPort?.postMessage(message);
}

async function loadDevices(data: VcpuWorkerData, shared: Omit<DeviceContext, 'deviceId' | 'channel'>): Promise<void> {
  for (const [index, { id, spec, port }] of data.devices.entries()) {
    shared.pio.owner = index;
    shared.mmio.owner = index;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const loaded = require(spec.module) as Record<string, unknown>;
    const exportName = spec.export ?? 'setup';
    const setup = loaded[exportName];
    if (typeof setup !== 'function') throw new ConfigError(`device module ${spec.module} has no function export '${exportName}'`);
    await (setup as DeviceSetup)({ ...shared, deviceId: id, channel: port }, spec.args);
  }
}

/** A pooled worker loads what most VMs need, says so, then waits for its vCPU. */
async function assignment(): Promise<VcpuWorkerData> {
  const pooled = workerData as PooledWorkerData | VcpuWorkerData;
  if (!('pooled' in pooled)) return pooled;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  for (const module of pooled.preload) require(module);
  // Loading the addon into this thread takes milliseconds (measured: ~3-4 ms of the first vCPU's creation
  // here): done while the worker waits, not while a VM starts or restores.
  native();
  return new Promise((resolve) => {
    parentPort?.once('message', (message: AssignMessage) => resolve(message.data));
    parentPort?.postMessage('pooled-ready');
  });
}

async function main(): Promise<void> {
  const data = await assignment();
  const control = new ControlBlock(data.control);
  const vcpu = Vcpu.create(data.kvmFd, data.vmFd, data.vcpuIndex);
  try {
    applyVcpuInit(vcpu, data.init);
    const memory = GuestMemory.attach(data.memory);
    const counterBase = data.vcpuIndex * VCPU_COUNTER_SLOTS * Float64Array.BYTES_PER_ELEMENT;
    const deviceCounts = data.countDeviceAccesses ? new Float64Array(data.exitCounters, counterBase + DEVICE_SLOT_BASE * Float64Array.BYTES_PER_ELEMENT, DEVICE_COUNTER_SLOTS) : undefined;
    const buses = { pio: new IoBus('pio', deviceCounts), mmio: new IoBus('mmio', deviceCounts) };
    const pendingExit: PendingDeviceExit = {};
    const context: Omit<DeviceContext, 'deviceId' | 'channel'> = {
      ...buses,
      memory,
      vcpuIndex: data.vcpuIndex,
      vcpuCount: data.vcpuCount,
      irqLine: (irq, level) => setIrqLine(data.vmFd, irq, level),
      requestExit: (exit) => {
        pendingExit.exit ??= exit;
      },
    };
    await loadDevices(data, context);
    const counters = new Float64Array(data.exitCounters, counterBase, VCPU_COUNTER_SLOTS);
    if (data.timeKvmRun) vcpu.setRunClock(counters, RUN_NS_SLOT);
    post({ type: 'ready', kickToken: vcpu.kickToken });
    const loop = new VcpuLoop({
      vcpu,
      buses,
      control,
      index: data.vcpuIndex,
      unhandledIo: data.unhandledIo,
      post,
      pendingExit,
      ...(data.emulatedKernelMode ? { recover: (exit) => completeEmulationFailure(exit, vcpu, memory) } : {}),
      saveState: () => saveVcpuState(vcpu, data.msrIndices),
      counters,
    });
    const end = loop.run();
    post({ type: 'end', end });
  } finally {
    vcpu.close();
    control.setState(data.vcpuIndex, State.EXITED);
  }
}

if (parentPort !== null) {
  main().catch((error: unknown) => {
    // Surfaces on the main thread as the Worker's 'error' event, then as the VM's error exit.
    throw error;
  });
}
