// The bundled guest's shell from a test: wait for its prompt, run a command, get what it printed.
// A stalled console fails with what was printed so far (never a bare mocha timeout).
import type { VirtualMachine } from '../../lib/api/virtual-machine';
import { BUNDLED_GUEST_PROMPT } from '../../lib/guest/bundled';

export const SHELL_STALL_MS = 30_000;

export class GuestShell {
  readonly vm: VirtualMachine;
  /** Everything the console printed since this shell was made. */
  text = '';
  #seen = 0;

  constructor(vm: VirtualMachine) {
    this.vm = vm;
    vm.console.on('data', (chunk: Buffer) => {
      this.text += chunk.toString('latin1');
    });
  }

  /** Resolves once the output (after what earlier calls consumed) ends with the prompt. */
  async prompt(stallMs = SHELL_STALL_MS): Promise<string> {
    const deadline = Date.now() + stallMs;
    for (;;) {
      const fresh = this.text.slice(this.#seen);
      if (fresh.endsWith(BUNDLED_GUEST_PROMPT)) {
        this.#seen = this.text.length;
        return fresh.slice(0, -BUNDLED_GUEST_PROMPT.length);
      }
      if (Date.now() > deadline) throw new Error(`no shell prompt within ${stallMs} ms; the console said:\n${this.text.slice(-600)}`);
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  }

  /** Types `command`, returns what it printed (without the echoed command line and the next prompt). */
  async run(command: string, stallMs = SHELL_STALL_MS): Promise<string> {
    this.vm.console.write(`${command}\n`);
    const output = await this.prompt(stallMs);
    const echo = `${command}\r\n`;
    return output.startsWith(echo) ? output.slice(echo.length) : output;
  }
}
