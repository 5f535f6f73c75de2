// Firecracker's metrics from vm.metrics(): its sections and field names where node-vmm counts the same
// thing (vcpu.exit_io_out, block.read_bytes, net.rx_bytes_count, latencies_us.load_snapshot, ...).
// The metrics file gets one JSON line per flush holding what happened since the previous flush, as
// Firecracker's does; latencies (its "store" metrics) are the last values, not deltas. Prometheus gets
// the same counters, cumulative.
import type { DeviceMetrics, VmMetrics } from '../vm-metrics';

/** How often Firecracker writes its metrics file by itself (60 s). */
export const METRICS_FLUSH_INTERVAL_MS = 60_000;

type Section = Record<string, number>;

/** node-vmm's counter name -> Firecracker's field name, per device kind, with Firecracker's section name. */
const DEVICE_FIELDS: Record<string, { section: string; fields: Record<string, string> }> = {
  'virtio-blk': { section: 'block', fields: { readBytes: 'read_bytes', writeBytes: 'write_bytes', reads: 'read_count', writes: 'write_count', flushes: 'flush_count', unsupp: 'invalid_reqs_count', ioerr: 'execute_fails' } },
  'virtio-net': { section: 'net', fields: { rxBytes: 'rx_bytes_count', rxFrames: 'rx_packets_count', txBytes: 'tx_bytes_count', txFrames: 'tx_packets_count', txDropped: 'tx_malformed_frames', rxTruncated: 'rx_partial_writes', rxWaitsForBuffers: 'no_rx_avail_buffer' } },
  'virtio-vsock': { section: 'vsock', fields: { toGuestBytes: 'rx_bytes_count', fromGuestBytes: 'tx_bytes_count', connections: 'conns_added', resets: 'conns_killed' } },
  serial: { section: 'uart', fields: { txBytes: 'write_count', rxBytes: 'read_count' } },
  'virtio-rng': { section: 'entropy', fields: { requests: 'entropy_event_count', bytes: 'entropy_bytes' } },
};

const LATENCY_FIELDS = { pause: 'pause_vm', resume: 'resume_vm', snapshot: 'full_create_snapshot', restore: 'load_snapshot' } as const;

function addTo(section: Section, field: string, value: number): void {
  section[field] = (section[field] ?? 0) + value;
}

/** Cumulative counters in Firecracker's shape: { vcpu: {...}, block: {...}, block_rootfs: {...}, ... }. */
export function firecrackerCounters(metrics: VmMetrics): Record<string, Section> {
  const out: Record<string, Section> = { vcpu: { exit_io_in: 0, exit_io_out: 0, exit_mmio_read: 0, exit_mmio_write: 0 } };
  const vcpu = out.vcpu as Section;
  for (const counts of metrics.vcpus) {
    addTo(vcpu, 'exit_io_in', counts.ioIn);
    addTo(vcpu, 'exit_io_out', counts.ioOut);
    addTo(vcpu, 'exit_mmio_read', counts.mmioRead);
    addTo(vcpu, 'exit_mmio_write', counts.mmioWrite);
  }
  for (const [id, device] of Object.entries(metrics.devices)) addDevice(out, id, device);
  return out;
}

function addDevice(out: Record<string, Section>, id: string, device: DeviceMetrics): void {
  const mapping = DEVICE_FIELDS[device.kind];
  if (mapping === undefined) return;
  const aggregate = (out[mapping.section] ??= {});
  const own = mapping.section === 'block' || mapping.section === 'net' ? (out[`${mapping.section}_${id}`] ??= {}) : undefined;
  for (const [name, field] of Object.entries(mapping.fields)) {
    const value = device.counters[name] ?? 0;
    addTo(aggregate, field, value);
    if (own !== undefined) addTo(own, field, value);
  }
}

export function firecrackerLatencies(metrics: VmMetrics): Section {
  const out: Section = {};
  for (const [name, field] of Object.entries(LATENCY_FIELDS)) {
    const value = metrics.latenciesUs[name as keyof typeof LATENCY_FIELDS];
    if (value !== undefined) out[field] = value;
  }
  return out;
}

/** Turns cumulative counters into the deltas since the previous line, as Firecracker's metrics file holds. */
export class MetricsDeltas {
  #last: Record<string, Section> = {};

  /** One metrics line's object (its caller adds utc_timestamp_ms and the rest). */
  next(current: Record<string, Section>): Record<string, Section> {
    const out: Record<string, Section> = {};
    for (const [section, fields] of Object.entries(current)) {
      const previous = this.#last[section] ?? {};
      out[section] = Object.fromEntries(Object.entries(fields).map(([field, value]) => [field, value - (previous[field] ?? 0)]));
    }
    this.#last = current;
    return out;
  }
}
