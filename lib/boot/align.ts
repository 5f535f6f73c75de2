// Rounding of guest-physical addresses (plain arithmetic: addresses may exceed 32 bits).

export function alignUp(value: number, alignment: number): number {
  const remainder = value % alignment;
  return remainder === 0 ? value : value + alignment - remainder;
}

export function alignDown(value: number, alignment: number): number {
  return value - (value % alignment);
}
