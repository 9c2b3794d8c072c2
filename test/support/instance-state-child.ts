// One instance-state reconciler cycle in a process of its own, for the kill test: on DATABASE_URL,
// with a fake provider `gone` whose every instance is not running, armed with TRELLIS_CRASH_AT
// (the crash point SIGKILLs this process). Prints `DONE <figures>` if the cycle ends.
import { reconcileInstances } from '../../src/reconcilers/instance-state.ts';
import { armCrashPoint } from '../../src/shared/crash-points.ts';
import { FakeProvider } from './fake-provider.ts';
import { makeServices } from './services.ts';

const gone = new FakeProvider('gone');
gone.isRunning = async (ids) => new Map(ids.map((id) => [id, false]));
const svc = await makeServices(process.env.DATABASE_URL!, [gone]);
armCrashPoint(process.env.TRELLIS_CRASH_AT);
const figures = await reconcileInstances(svc, { batchSize: Number(process.env.BATCH_SIZE ?? 5), concurrency: Number(process.env.CONCURRENCY ?? 4) });
process.stdout.write(`DONE ${JSON.stringify(figures)}\n`);
await svc.close();
