// A worker process for the replica tests of the reconcilers: runs the job worker (and with it the
// reconcilers) on DATABASE_URL with a fake provider `gone` whose every instance is not running.
// Its logs (JSON, one line each) go to the run's log directory and to stdout, where the test reads
// the reconciler cycle lines.
import { startWorker } from '../../src/jobs/worker.ts';
import { FakeProvider } from './fake-provider.ts';
import { makeServices } from './services.ts';

const gone = new FakeProvider('gone');
gone.isRunning = async (ids) => new Map(ids.map((id) => [id, false]));
const svc = await makeServices(process.env.DATABASE_URL!, [gone], {
  TRELLIS_RECONCILE_INTERVAL_MS: process.env.TRELLIS_RECONCILE_INTERVAL_MS ?? '200',
  TRELLIS_WORKER_HEARTBEAT_MS: '200',
  LOG_LEVEL: 'debug',
}, { alsoLogTo: (line) => process.stdout.write(line) });
const worker = await startWorker(svc, { pollInterval: 100 });
process.stdout.write(`READY ${worker.poolId}\n`);
