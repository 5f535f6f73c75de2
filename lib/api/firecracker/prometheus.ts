// The Prometheus text exposition format (version 0.0.4) of a VM's counters, written by hand: it is a
// few lines of text per counter, and prom-client would add a dependency and a global registry for it.
// Every counter is cumulative; names are node_vmm_<firecracker section>_<field>, with the device id
// (drive_id, iface_id) as a label on per-device sections.
import type { VmMetrics } from '../vm-metrics';
import { firecrackerCounters, firecrackerLatencies } from './metrics';

const PER_DEVICE = /^(block|net)_(.+)$/;

function labelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** The exposition text for one VM (`instance` labels every sample). */
export function prometheusText(metrics: VmMetrics, instance: string): string {
  const samples = new Map<string, { type: 'counter' | 'gauge'; lines: string[] }>();
  const add = (name: string, type: 'counter' | 'gauge', labels: Record<string, string>, value: number): void => {
    const entry = samples.get(name) ?? { type, lines: [] };
    samples.set(name, entry);
    const text = Object.entries({ instance, ...labels }).map(([k, v]) => `${k}="${labelValue(v)}"`).join(',');
    entry.lines.push(`${name}{${text}} ${value}`);
  };
  for (const [section, fields] of Object.entries(firecrackerCounters(metrics))) {
    const match = PER_DEVICE.exec(section);
    if (match !== null) continue; // the aggregate sections carry the totals; per-device samples come below
    for (const [field, value] of Object.entries(fields)) add(`node_vmm_${section}_${field}_total`, 'counter', {}, value);
  }
  for (const [section, fields] of Object.entries(firecrackerCounters(metrics))) {
    const match = PER_DEVICE.exec(section);
    if (match === null) continue;
    for (const [field, value] of Object.entries(fields)) add(`node_vmm_${match[1]}_device_${field}_total`, 'counter', { device: match[2] as string }, value);
  }
  metrics.vcpus.forEach((vcpu, index) => {
    for (const [reason, value] of Object.entries(vcpu.byReason)) add('node_vmm_vcpu_exits_total', 'counter', { vcpu: String(index), reason }, value);
    for (const [device, value] of Object.entries(vcpu.byDevice)) add('node_vmm_vcpu_device_accesses_total', 'counter', { vcpu: String(index), device }, value);
    if (vcpu.inKvmRunNs !== undefined) add('node_vmm_vcpu_kvm_run_seconds_total', 'counter', { vcpu: String(index) }, vcpu.inKvmRunNs / 1e9);
    if (vcpu.outOfKvmRunNs !== undefined) add('node_vmm_vcpu_outside_kvm_run_seconds_total', 'counter', { vcpu: String(index) }, vcpu.outOfKvmRunNs / 1e9);
  });
  for (const [field, value] of Object.entries(firecrackerLatencies(metrics))) add(`node_vmm_latencies_us_${field}`, 'gauge', {}, value);
  const out: string[] = [];
  for (const [name, { type, lines }] of samples) out.push(`# TYPE ${name} ${type}`, ...lines);
  return `${out.join('\n')}\n`;
}
