// A worker process for crash tests: runs the job worker on DATABASE_URL with fake providers
// `alpha` and `beta`, printing what they do ("STOP <id>", "PROVISION <op>"). Its beta provision
// never finishes, so the test can kill the process in the middle of a job.
import { startWorker } from '../../src/jobs/worker.ts';
import { FakeProvider, Gate } from './fake-provider.ts';
import { makeServices } from './services.ts';

const alpha = new FakeProvider('alpha');
const beta = new FakeProvider('beta');
alpha.onStop = (id) => process.stdout.write(`STOP ${id}\n`);
beta.onProvision = (op) => process.stdout.write(`PROVISION ${op}\n`);
beta.provisionGate = new Gate(); // never released: the process is killed while waiting
const svc = await makeServices(process.env.DATABASE_URL!, [alpha, beta], { TRELLIS_WORKER_HEARTBEAT_MS: process.env.TRELLIS_WORKER_HEARTBEAT_MS ?? '200', LOG_LEVEL: process.env.LOG_LEVEL ?? 'silent' });
const worker = await startWorker(svc, { pollInterval: 100 });
process.stdout.write(`READY ${worker.poolId}\n`);
