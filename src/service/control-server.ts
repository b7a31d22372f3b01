// The daemon's control socket: {output_dir}/.daemon/control.sock, mode 0600 (only the daemon's
// user may pause or stop it). One implementation for both daemon modes; it speaks h2k's
// newline-delimited JSON and hyper2kvm's one-request-per-connection form (control-protocol.ts).
// A socket left by a crashed daemon is replaced; one that answers means another daemon owns
// this output directory.
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { chmod, unlink } from 'node:fs/promises';
import { H2kError } from '../util/errors.js';
import { fitSingleRecv, isCompleteRequest, isControlCommand, MAX_CONTROL_LINE, parseControlLine, CONTROL_COMMANDS } from './control-protocol.js';
import type { ControlCommand, ControlReply } from './control-protocol.js';

export type ControlHandler = (command: ControlCommand) => Promise<ControlReply>;

/** How long an unterminated request that is not yet a command or JSON object may stay silent. */
const UNTERMINATED_QUIET_MS = 200;

function socketAnswers(path: string): Promise<boolean> {
  return new Promise((res) => {
    const s = createConnection(path);
    const done = (v: boolean) => {
      s.destroy();
      res(v);
    };
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
    setTimeout(() => done(false), 1000).unref();
  });
}

export class ControlServer {
  private server?: Server;
  private readonly sockets = new Set<Socket>();

  constructor(private readonly path: string, private readonly handler: ControlHandler) {}

  async start(): Promise<void> {
    if (await socketAnswers(this.path))
      throw new H2kError(`another h2k daemon is already running on ${this.path}`, {
        code: 'E_DAEMON_RUNNING',
        file: this.path,
        hint: 'stop it first (h2k ctl stop) or use a different output_dir',
      });
    await unlink(this.path).catch(() => undefined);
    const server = createServer((sock) => this.serve(sock));
    // The socket is created with the umask applied: 0177 leaves 0600, with no window where others could connect.
    const oldMask = process.umask(0o177);
    try {
      await new Promise<void>((resolvePromise, reject) => {
        server.once('error', (err) =>
          reject(new H2kError(`cannot create control socket: ${err.message}`, { code: 'E_IO', file: this.path, cause: err })));
        server.listen(this.path, () => resolvePromise());
      });
    } finally {
      process.umask(oldMask);
    }
    await chmod(this.path, 0o600);
    this.server = server;
  }

  private serve(sock: Socket): void {
    this.sockets.add(sock);
    sock.setEncoding('utf8');
    let buffer = '';
    let chain = Promise.resolve();
    let idle: NodeJS.Timeout | undefined;
    // hyper2kvm's client sends one request with no newline, keeps the connection open and reads
    // one reply: such a request is answered as soon as it is complete, then the connection ends.
    const answerUnterminated = () => {
      clearTimeout(idle);
      const request = buffer;
      buffer = '';
      chain = chain.then(() => this.answer(sock, request, true)).then(() => void sock.end());
    };
    sock.on('data', (chunk: string) => {
      clearTimeout(idle);
      buffer += chunk;
      if (buffer.length > MAX_CONTROL_LINE) {
        sock.end(JSON.stringify({ status: 'error', message: 'request too long' }) + '\n');
        buffer = '';
        return;
      }
      let nl;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        if (!line.trim()) continue;
        chain = chain.then(() => this.answer(sock, line));
      }
      if (!buffer.trim()) return;
      if (isCompleteRequest(buffer)) answerUnterminated();
      // Anything else (a bare unknown word) is answered once the client goes quiet.
      else idle = setTimeout(answerUnterminated, UNTERMINATED_QUIET_MS);
    });
    // A client that sends one request without a newline and half-closes still gets its answer.
    sock.on('end', () => {
      clearTimeout(idle);
      if (buffer.trim()) chain = chain.then(() => this.answer(sock, buffer));
      buffer = '';
      void chain.then(() => sock.end());
    });
    sock.on('error', () => undefined);
    sock.on('close', () => {
      clearTimeout(idle);
      this.sockets.delete(sock);
    });
  }

  private async answer(sock: Socket, line: string, singleRecv = false): Promise<void> {
    const command = parseControlLine(line);
    let reply: ControlReply;
    if (!isControlCommand(command)) {
      reply = { status: 'error', message: `Unknown command: ${command.slice(0, 40)}`, available_commands: [...CONTROL_COMMANDS] };
    } else {
      try {
        reply = await this.handler(command);
      } catch (err) {
        reply = { status: 'error', message: (err as Error).message };
      }
    }
    if (!sock.destroyed && sock.writable) sock.write((singleRecv ? fitSingleRecv(reply) : JSON.stringify(reply)) + '\n');
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    for (const s of this.sockets) s.end();
    await new Promise<void>((res) => {
      server.close(() => res());
      setTimeout(() => {
        for (const s of this.sockets) s.destroy();
      }, 1000).unref();
    });
    await unlink(this.path).catch(() => undefined);
  }
}
