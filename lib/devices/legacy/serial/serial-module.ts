// The vCPU-thread half of a SerialDevice: registers a Serial8250 over shared state on this worker's
// port bus. Output is not sent as messages per byte: the first byte after the host's last drain posts
// one message on the device's channel, and the main thread then drains the shared ring.
import { ConfigError } from '../../../kvm/errors';
import type { DeviceContext } from '../../../runner/device-context';
import { UART_PORT_COUNT } from './registers';
import { Serial8250 } from './serial-8250';
import { isSerialSharedState, type SerialSharedState } from './serial-state';

export interface SerialModuleArgs {
  state: SerialSharedState;
  port: number;
  irq: number;
}

function checkArgs(args: unknown): SerialModuleArgs {
  const { state, port, irq } = (args ?? {}) as Partial<SerialModuleArgs>;
  if (!isSerialSharedState(state) || !Number.isInteger(port) || !Number.isInteger(irq)) {
    throw new ConfigError('serial module: args must be { state: SerialSharedState, port: number, irq: number }');
  }
  return { state, port: port as number, irq: irq as number };
}

/** The UART's line is level-triggered: it drives context.irqLine (the machine needs an in-kernel irqchip). */
export function setup(context: DeviceContext, rawArgs: unknown): void {
  const { state, port, irq } = checkArgs(rawArgs);
  const device = new Serial8250(state, {
    setIrq: (level) => context.irqLine(irq, level),
    onTransmit: () => context.channel?.postMessage(null),
  });
  context.pio.register(port, UART_PORT_COUNT, device, 'serial-8250');
}
