// Errors of node-vmm's Firecracker interface (its config file and its REST API). A request or config
// that is wrong names the JSON path at fault; the API answers every one of them with 400 and
// `{"fault_message": error.message}`, as Firecracker does.
import { VmmError } from '../../kvm/errors';
import { VmConfigError } from '../errors';

/** A Firecracker config file or request body is malformed, out of range or asks for what node-vmm lacks; `field` is its JSON path. */
export class FirecrackerConfigError extends VmConfigError {}

/** A Firecracker API request that cannot be served now (wrong state, unknown path, too large a body). */
export class FirecrackerApiError extends VmmError {}
