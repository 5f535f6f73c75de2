// LAPIC local interrupt pins as a PC wires them: LINT0 receives the PIC's ExtINT, LINT1 the NMI.
const APIC_LVT_LINT0 = 0x350;
const APIC_LVT_LINT1 = 0x360;
const DELIVERY_MODE_SHIFT = 8;
const DELIVERY_MODE_MASK = 0x7 << DELIVERY_MODE_SHIFT;
const DELIVERY_MODE_NMI = 0x4;
const DELIVERY_MODE_EXTINT = 0x7;

function setDeliveryMode(state: DataView, register: number, mode: number): void {
  const value = state.getUint32(register, true);
  state.setUint32(register, ((value & ~DELIVERY_MODE_MASK) | (mode << DELIVERY_MODE_SHIFT)) >>> 0, true);
}

/** Rewrites a kvm_lapic_state (1 KiB register page) in place. */
export function wireLapicLint(lapic: Uint8Array): Uint8Array {
  const state = new DataView(lapic.buffer, lapic.byteOffset, lapic.byteLength);
  setDeliveryMode(state, APIC_LVT_LINT0, DELIVERY_MODE_EXTINT);
  setDeliveryMode(state, APIC_LVT_LINT1, DELIVERY_MODE_NMI);
  return lapic;
}
