// Reads one HTTP request's body with a size limit (Firecracker's --http-api-max-payload-size,
// 51200 bytes by default): a larger body is refused as soon as it is seen to be too large (by its
// Content-Length or by what has arrived), without buffering the rest.
import type { IncomingMessage } from 'node:http';
import { FirecrackerApiError, FirecrackerConfigError } from './errors';

export const DEFAULT_MAX_PAYLOAD_BYTES = 51200;

export function readBody(request: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const tooLarge = (): FirecrackerApiError => new FirecrackerApiError(`Request payload with size ${request.headers['content-length'] ?? 'over'} ${limit} is larger than the limit of ${limit} allowed by server.`);
    const declared = Number(request.headers['content-length'] ?? 0);
    if (declared > limit) {
      request.resume(); // let it drain; the answer goes out and the connection is closed
      reject(new FirecrackerApiError(`Request payload with size ${declared} is larger than the limit of ${limit} allowed by server.`));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        request.removeAllListeners('data');
        request.resume();
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
    request.on('aborted', () => reject(new FirecrackerApiError('the client went away mid-request')));
  });
}

/** Parses a body as JSON; an empty body is refused for requests that need one. */
export function parseJsonBody(text: string): unknown {
  if (text.trim().length === 0) throw new FirecrackerConfigError('body', 'is empty: this request needs a JSON body');
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new FirecrackerConfigError('body', `is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
}
