// Sends one command to a daemon's control socket and returns its reply. Any failure to reach a
// daemon (no socket, refused, silent) is E_NO_DAEMON, which `h2k ctl` maps to exit code 69.
import { createConnection } from 'node:net';
import { H2kError } from '../util/errors.js';
import type { ControlReply } from './control-protocol.js';

export function sendControlCommand(socketPath: string, command: string, timeoutMs = 5000): Promise<ControlReply> {
  return new Promise((resolvePromise, reject) => {
    const sock = createConnection(socketPath);
    let buffer = '';
    let settled = false;
    const finish = (err: H2kError | undefined, reply?: ControlReply) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolvePromise(reply!);
    };
    const noDaemon = (why: string) =>
      new H2kError(`no daemon answered on ${socketPath}: ${why}`, {
        code: 'E_NO_DAEMON',
        file: socketPath,
        hint: 'is `h2k daemon` running? pass --output-dir or --socket to point at it',
      });
    const timer = setTimeout(() => finish(noDaemon(`no reply within ${timeoutMs} ms`)), timeoutMs);
    sock.setEncoding('utf8');
    sock.once('connect', () => sock.write(JSON.stringify({ command }) + '\n'));
    sock.on('data', (chunk: string) => {
      buffer += chunk;
      const nl = buffer.indexOf('\n');
      if (nl < 0) {
        if (buffer.length > 16 * 1024 * 1024) finish(noDaemon('reply too long'));
        return;
      }
      try {
        finish(undefined, JSON.parse(buffer.slice(0, nl)) as ControlReply);
      } catch {
        finish(noDaemon('reply is not JSON'));
      }
    });
    sock.once('error', (err: NodeJS.ErrnoException) =>
      finish(noDaemon(err.code === 'ENOENT' ? 'socket does not exist' : err.code === 'ECONNREFUSED' ? 'connection refused' : err.message)));
    sock.once('close', () => finish(noDaemon('connection closed without a reply')));
  });
}
