// The command table: what `node-vmm NAME` runs. A new command is a file exporting a CliCommand and one
// entry here; help, --help, suggestions and exit codes come with it.
import { CHECK_COMMAND } from './check';
import type { CliCommand } from './command';
import { DEMO_COMMAND } from './demo';
import { RUN_COMMAND } from './run';
import { SERVE_COMMAND } from './serve';

export const COMMANDS: readonly CliCommand[] = [RUN_COMMAND, SERVE_COMMAND, CHECK_COMMAND, DEMO_COMMAND];
