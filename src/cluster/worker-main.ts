// Entry point of a worker process (forked by the supervisor through node:cluster): its number comes in PGPORTER_WORKER.
import { runWorker } from './worker.js';

runWorker(Number(process.env.PGPORTER_WORKER ?? 0)).catch((err: unknown) => {
  process.stderr.write(`pgporter worker: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
