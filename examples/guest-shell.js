// Talking to the bundled guest's shell over its serial console: wait for the prompt, type a line,
// read what it printed. The examples share this; it is plain node-vmm API (vm.console is a Duplex).
const PROMPT = require('node-vmm').BUNDLED_GUEST_PROMPT;

/** Resolves with what the shell prints until its next prompt (without the prompt). */
function untilPrompt(vm) {
  return new Promise((resolve, reject) => {
    let output = '';
    const onData = (chunk) => {
      output += chunk;
      if (!output.endsWith(PROMPT)) return;
      done();
      resolve(output.slice(0, -PROMPT.length));
    };
    const onEnd = () => {
      done();
      reject(new Error(`the console ended before a prompt; it printed: ${JSON.stringify(output)}`));
    };
    const done = () => {
      vm.console.off('data', onData);
      vm.console.off('end', onEnd);
    };
    vm.console.on('data', onData);
    vm.console.on('end', onEnd);
  });
}

/** Types `line` at the prompt and resolves with the reply, without the echoed line. */
async function run(vm, line) {
  const reply = untilPrompt(vm);
  vm.console.write(`${line}\n`);
  return (await reply).slice(line.length + 2).trim(); // the echo, then "\r\n"
}

/** Boots the bundled guest and waits for its first prompt. */
async function bootShell(createVm, options = {}) {
  const vm = await createVm({ memoryMiB: 32, ...options });
  const booted = untilPrompt(vm);
  await vm.start();
  await booted;
  return vm;
}

module.exports = { untilPrompt, run, bootShell };
