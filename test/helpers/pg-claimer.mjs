// One "host" of a queue cluster as its own process, for test/pg-queue.test.ts and bench/cluster.js.
// Uses the compiled queue (dist/, built by `npm run build`).
//   node pg-claimer.mjs drain <url> <host> [lease_seconds]
//     claims and completes jobs until the queue has nothing waiting or running; rides out an
//     unreachable database (retries every 100 ms); prints one JSON line:
//     {"host","done":[ids],"unreachable":n,"leaseLost":[ids],"seconds":s,"cpuSeconds":s}
//   node pg-claimer.mjs hold <url> <host> [lease_seconds]
//     claims one job, prints {"claimed":id} and keeps it (heartbeating) until killed
import { PgJobQueue } from '../../dist/daemon/queue/pg-queue.js';

const [mode, url, host, lease] = process.argv.slice(2);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Runs fn until it does not fail with E_QUEUE_UNREACHABLE. */
let unreachable = 0;
// A loaded machine may start this process just as the test restarts the server: open patiently too.
const queue = await patiently(() => PgJobQueue.open({ url, hostName: host, leaseSeconds: Number(lease ?? 30) }));
async function patiently(fn) {
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (err.code !== 'E_QUEUE_UNREACHABLE') throw err;
      unreachable++;
      await sleep(100);
    }
  }
}

if (mode === 'hold') {
  let job;
  while (!(job = await queue.claim(Date.now()))) await sleep(50);
  process.stdout.write(`${JSON.stringify({ claimed: job.id })}\n`);
  setInterval(() => undefined, 1 << 30);
} else {
  const done = [];
  const leaseLost = [];
  const t0 = process.hrtime.bigint();
  const cpu0 = process.cpuUsage();
  for (;;) {
    const job = await patiently(() => queue.claim(Date.now()));
    if (!job) {
      const c = await patiently(() => queue.counts(Date.now()));
      if (c.waiting === 0 && c.running === 0) break;
      await sleep(20);
      continue;
    }
    try {
      await patiently(() => queue.complete(job.id));
      done.push(job.id);
    } catch (err) {
      if (err.code !== 'E_QUEUE_LEASE_LOST') throw err;
      leaseLost.push(job.id);
    }
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  process.stdout.write(`${JSON.stringify({ host, done, unreachable, leaseLost, seconds, cpuSeconds })}\n`);
  await queue.close();
}
