// vm.metrics() in Firecracker's names: the sections and fields, per-device sections, deltas between
// metrics-file lines, and the Prometheus text (no KVM needed: a VmMetrics value by hand).
import { strict as assert } from 'node:assert';
import { firecrackerCounters, firecrackerLatencies, MetricsDeltas } from '../../lib/api/firecracker/metrics';
import { prometheusText } from '../../lib/api/firecracker/prometheus';
import type { VmMetrics } from '../../lib/api/vm-metrics';

function sample(reads: number): VmMetrics {
  return {
    vcpus: [
      { byReason: { IO: 10, MMIO: 4 }, ioIn: 3, ioOut: 7, mmioRead: 1, mmioWrite: 3, byDevice: { serial0: 10, rootfs: 4 }, inKvmRunNs: 2_500_000_000, outOfKvmRunNs: 40_000 },
      { byReason: { IO: 1 }, ioIn: 0, ioOut: 1, mmioRead: 0, mmioWrite: 0, byDevice: { serial0: 1 }, inKvmRunNs: 0, outOfKvmRunNs: 0 },
    ],
    devices: {
      rootfs: { kind: 'virtio-blk', counters: { reads, writes: 1, flushes: 0, readBytes: reads * 512, writeBytes: 4096, ok: reads + 1, ioerr: 0, unsupp: 0, serviceNs: 5 } },
      eth0: { kind: 'virtio-net', counters: { rxFrames: 2, rxBytes: 120, txFrames: 1, txBytes: 60, txDropped: 0, rxTruncated: 0, rxWaitsForBuffers: 0 } },
      custom0: { kind: 'my-device', counters: { things: 1 } },
      serial0: { kind: 'serial', counters: { txBytes: 42, rxBytes: 5 } },
    },
    latenciesUs: { pause: 800, restore: 12000 },
  };
}

describe('Firecracker metrics', () => {
  it("uses Firecracker's sections and field names, summing vCPUs and devices", () => {
    const counters = firecrackerCounters(sample(3));
    assert.deepEqual(counters.vcpu, { exit_io_in: 3, exit_io_out: 8, exit_mmio_read: 1, exit_mmio_write: 3 });
    assert.equal(counters.block?.read_bytes, 1536);
    assert.equal(counters.block_rootfs?.read_count, 3);
    assert.equal(counters.net_eth0?.rx_bytes_count, 120);
    assert.equal(counters.net?.tx_packets_count, 1);
    assert.deepEqual(counters.uart, { write_count: 42, read_count: 5 }, 'the UART: bytes the guest wrote and read');
    assert.equal(Object.keys(counters).some((k) => k.includes('custom')), false, 'a device without a Firecracker mapping is left out');
    assert.deepEqual(firecrackerLatencies(sample(0)), { pause_vm: 800, load_snapshot: 12000 });
  });

  it('a metrics line holds the deltas since the previous one', () => {
    const deltas = new MetricsDeltas();
    assert.equal(deltas.next(firecrackerCounters(sample(3))).block_rootfs?.read_count, 3);
    const second = deltas.next(firecrackerCounters(sample(5)));
    assert.equal(second.block_rootfs?.read_count, 2);
    assert.equal(second.block_rootfs?.write_count, 0);
    assert.equal(second.vcpu?.exit_io_out, 0);
  });

  it('Prometheus text: TYPE lines, cumulative totals, device and vCPU labels, escaped instance', () => {
    const text = prometheusText(sample(3), 'vm "a"');
    assert.match(text, /^# TYPE node_vmm_block_read_count_total counter$/m);
    assert.match(text, /^node_vmm_block_read_count_total\{instance="vm \\"a\\""\} 3$/m);
    assert.match(text, /^node_vmm_block_device_read_count_total\{instance="vm \\"a\\"",device="rootfs"\} 3$/m);
    assert.match(text, /^node_vmm_vcpu_exits_total\{instance="vm \\"a\\"",vcpu="1",reason="IO"\} 1$/m);
    assert.match(text, /^node_vmm_vcpu_device_accesses_total\{instance="vm \\"a\\"",vcpu="0",device="rootfs"\} 4$/m);
    assert.match(text, /^node_vmm_vcpu_kvm_run_seconds_total\{instance="vm \\"a\\"",vcpu="0"\} 2.5$/m);
    assert.match(text, /^node_vmm_vcpu_outside_kvm_run_seconds_total\{instance="vm \\"a\\"",vcpu="0"\} 0.00004$/m);
    assert.match(text, /^# TYPE node_vmm_latencies_us_pause_vm gauge$/m);
    assert.equal(text.match(/^# TYPE node_vmm_vcpu_exits_total/gm)?.length, 1, 'one TYPE line per metric');
    assert.ok(text.endsWith('\n'));
  });
});
