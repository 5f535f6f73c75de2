import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { device, eisaId, extendedInterrupt, integer, memory32Fixed, name, nameString, pkgLength, resourceTemplate, string } from '../../lib/arch/x86_64/acpi/aml';
import { ACPI_AREA_END, ACPI_RSDP_ADDRESS, buildAcpiTables, PlacedTable } from '../../lib/arch/x86_64/acpi/tables';
import { isSoftOff, setup as setupAcpiSleep } from '../../lib/devices/legacy/acpi-sleep/acpi-sleep';
import { I8042Device } from '../../lib/devices/legacy/i8042/device';
import { SerialDevice } from '../../lib/devices/legacy/serial/device';
import { DeviceManager } from '../../lib/devices/manager';
import { VirtioRngBackend } from '../../lib/devices/virtio/rng/backend';
import { rngDescription } from '../../lib/devices/virtio/rng/device';
import { VirtioMmioDevice } from '../../lib/devices/virtio/transport/mmio-device';
import { ConfigError } from '../../lib/kvm/errors';
import { fakeContext } from '../helpers/fake-context';
import { missingPrerequisite } from '../helpers/prerequisite';

/** The DSDT nodes of a Linux machine's standard devices plus two virtio devices, placed by a manager. */
function deviceNodes(): Uint8Array[] {
  const manager = new DeviceManager();
  manager.add(new SerialDevice());
  manager.add(new I8042Device());
  for (let i = 0; i < 2; i++) manager.add(new VirtioMmioDevice({ device: rngDescription(), backend: (context) => new VirtioRngBackend(context) }));
  manager.place();
  return manager.acpiNodes();
}
const ascii = (text: string): number[] => [...Buffer.from(text, 'latin1')];
const sum = (bytes: Uint8Array): number => bytes.reduce((total, b) => total + b, 0) & 0xff;
const u32 = (bytes: Uint8Array, at: number): number => new DataView(bytes.buffer, bytes.byteOffset).getUint32(at, true);
const u64 = (bytes: Uint8Array, at: number): number => Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(at, true));

function tables(vcpus = 2): Map<string, PlacedTable> {
  return new Map(buildAcpiTables({ vcpus, deviceNodes: deviceNodes(), sleepPort: 0x600 }).map((t) => [t.signature, t]));
}

describe('AML encoding', () => {
  it('encodes PkgLength in one byte up to 63 and with a lead byte beyond', () => {
    assert.deepEqual([...pkgLength(0)], [1]);
    assert.deepEqual([...pkgLength(62)], [63]);
    // 63 body bytes + 2 length bytes = 65 = 0x41: lead 0x40 | 0x1, then 0x41 >> 4
    assert.deepEqual([...pkgLength(63)], [0x41, 0x04]);
    assert.deepEqual([...pkgLength(4093)], [0x4f, 0xff]);
    assert.deepEqual([...pkgLength(4094)], [0x81, 0x00, 0x01]);
  });

  it('encodes names, integers, strings and EISA ids', () => {
    assert.deepEqual([...nameString('\\_SB')], [0x5c, ...ascii('_SB_')]);
    assert.deepEqual([...nameString('_SB.COM1')], [0x2e, ...ascii('_SB_COM1')]);
    assert.deepEqual([...nameString('\\A.B.C')], [0x5c, 0x2f, 3, ...ascii('A___B___C___')]);
    assert.throws(() => nameString('TOOLONG'), ConfigError);
    assert.deepEqual([...integer(0)], [0x00]);
    assert.deepEqual([...integer(1)], [0x01]);
    assert.deepEqual([...integer(0x17)], [0x0a, 0x17]);
    assert.deepEqual([...integer(0x3f8)], [0x0b, 0xf8, 0x03]);
    assert.deepEqual([...integer(0xd0000000)], [0x0c, 0x00, 0x00, 0x00, 0xd0]);
    assert.deepEqual([...integer(2n ** 40n)], [0x0e, 0, 0, 0, 0, 0, 1, 0, 0]);
    assert.deepEqual([...string('LNRO0005')], [0x0d, ...ascii('LNRO0005'), 0]);
    assert.deepEqual([...eisaId('PNP0501')], [0x0c, 0x41, 0xd0, 0x05, 0x01]);
    assert.deepEqual([...eisaId('PNP0303')], [0x0c, 0x41, 0xd0, 0x03, 0x03]);
    assert.throws(() => eisaId('pnp0501'), ConfigError);
  });

  it('encodes a virtio-mmio device byte for byte', () => {
    const aml = device(
      'V000',
      name('_HID', string('LNRO0005')),
      name('_CRS', resourceTemplate(memory32Fixed(0xd0000000, 0x1000), extendedInterrupt(5, { edge: true }))),
    );
    const crsBuffer = [0x11, 0x1a, 0x0a, 0x17, 0x86, 0x09, 0x00, 0x01, 0x00, 0x00, 0x00, 0xd0, 0x00, 0x10, 0x00, 0x00, 0x89, 0x06, 0x00, 0x03, 0x01, 0x05, 0x00, 0x00, 0x00, 0x79, 0x00];
    const body = [...ascii('V000'), 0x08, ...ascii('_HID'), 0x0d, ...ascii('LNRO0005'), 0x00, 0x08, ...ascii('_CRS'), ...crsBuffer];
    assert.deepEqual([...aml], [0x5b, 0x82, body.length + 1, ...body]);
  });
});

describe('ACPI tables', () => {
  it('places every table in the reserved BIOS area, each summing to zero', () => {
    for (const table of tables().values()) {
      assert.ok(table.address >= ACPI_RSDP_ADDRESS && table.address + table.bytes.length <= ACPI_AREA_END, table.signature);
      assert.equal(table.address % 16, 0, `${table.signature} is 16-byte aligned`);
      if (table.signature !== 'RSD PTR ') {
        assert.equal(sum(table.bytes), 0, `${table.signature} checksum`);
        assert.equal(u32(table.bytes, 4), table.bytes.length, `${table.signature} length`);
        assert.equal(Buffer.from(table.bytes.subarray(0, 4)).toString('latin1'), table.signature);
      }
    }
  });

  it('chains RSDP -> XSDT -> FADT, MADT and FADT -> DSDT', () => {
    const t = tables();
    const rsdp = (t.get('RSD PTR ') as PlacedTable).bytes;
    assert.equal(rsdp.length, 36);
    assert.equal(sum(rsdp.subarray(0, 20)), 0, 'ACPI 1.0 checksum');
    assert.equal(sum(rsdp), 0, 'extended checksum');
    assert.equal(rsdp[15], 2, 'revision 2');
    assert.equal(u64(rsdp, 24), t.get('XSDT')?.address);
    const xsdt = (t.get('XSDT') as PlacedTable).bytes;
    assert.deepEqual([u64(xsdt, 36), u64(xsdt, 44)], [t.get('FACP')?.address, t.get('APIC')?.address]);
    const fadt = (t.get('FACP') as PlacedTable).bytes;
    assert.equal(fadt.length, 276);
    assert.equal(u64(fadt, 140), t.get('DSDT')?.address, 'X_DSDT');
    assert.equal(u32(fadt, 112) & (1 << 20), 1 << 20, 'HW_REDUCED_ACPI');
    assert.equal(fadt[244], 1, 'sleep control register in I/O space');
    assert.equal(u64(fadt, 248), 0x600);
  });

  it('lists each vCPU and the IOAPIC in the MADT', () => {
    const madt = (tables(3).get('APIC') as PlacedTable).bytes;
    assert.equal(u32(madt, 36), 0xfee00000);
    const entries: number[][] = [];
    for (let at = 44; at < madt.length; at += madt[at + 1] as number) entries.push([...madt.subarray(at, at + (madt[at + 1] as number))]);
    assert.deepEqual(entries, [
      [0, 8, 0, 0, 1, 0, 0, 0],
      [0, 8, 1, 1, 1, 0, 0, 0],
      [0, 8, 2, 2, 1, 0, 0, 0],
      [1, 12, 3, 0, 0x00, 0x00, 0xc0, 0xfe, 0, 0, 0, 0],
    ]);
  });

  it('refuses vCPU counts the MADT cannot describe', () => {
    assert.throws(() => buildAcpiTables({ vcpus: 0, deviceNodes: [], sleepPort: 0x600 }), ConfigError);
    assert.throws(() => buildAcpiTables({ vcpus: 256, deviceNodes: [], sleepPort: 0x600 }), ConfigError);
  });

  it('disassembles with ACPICA iasl into COM1, the i8042, the virtio devices and _S5', function () {
    try {
      execFileSync('iasl', ['-v'], { stdio: 'ignore' });
    } catch {
      missingPrerequisite(this, 'no iasl', 'apt-get install acpica-tools');
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'node-vmm-acpi-'));
    try {
      const aml = path.join(dir, 'dsdt.aml');
      fs.writeFileSync(aml, (tables().get('DSDT') as PlacedTable).bytes);
      execFileSync('iasl', ['-d', aml], { stdio: 'ignore' });
      const dsl = fs.readFileSync(path.join(dir, 'dsdt.dsl'), 'utf8').replace(/\s+/g, ' ');
      for (const expected of [
        'Device (COM1) { Name (_HID, EisaId ("PNP0501")',
        'IO (Decode16, 0x03F8, // Range Minimum 0x03F8, // Range Maximum 0x01, // Alignment 0x08, // Length )',
        'Device (PS2K) { Name (_HID, EisaId ("PNP0303")',
        'Device (V001) { Name (_HID, "LNRO0005")',
        'Memory32Fixed (ReadWrite, 0xD0001000, // Address Base 0x00001000, // Address Length )',
        'Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive, ,, ) { 0x00000006, }',
        'Name (\\_S5, Package (0x02) // _S5_: S5 System State { 0x05, Zero })',
      ]) {
        assert.ok(dsl.includes(expected), `iasl shows: ${expected}`);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('ACPI sleep control register', () => {
  it('ends the VM on SLP_EN with the S5 sleep type, and ignores everything else', () => {
    assert.equal(isSoftOff(0x20 | (5 << 2)), true);
    assert.equal(isSoftOff(5 << 2), false, 'without SLP_EN');
    assert.equal(isSoftOff(0x20 | (3 << 2)), false, 'S3');
    const context = fakeContext();
    setupAcpiSleep(context, { port: 0x600 });
    context.outb(0x600, 0x80); // clearing WAK_STS, as Linux does first
    assert.deepEqual(context.exits, []);
    assert.equal(context.inb(0x600), 0);
    context.outb(0x600, 0x34);
    assert.deepEqual(context.exits, [{ kind: 'poweroff' }]);
  });
});
