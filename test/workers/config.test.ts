/** The `workers` key: what it accepts, what "auto" means, and that a reload cannot change it. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { ConfigError, parseConfig } from '../../src/config/load.js';
import { workerCount } from '../../src/config/schema.js';
import { local, startBallast } from '../helpers/servers.js';
import { track } from '../helpers/lifecycle.js';

const servers = [{ host: '127.0.0.1', port: 9001 }];

test('workers defaults to 1; "auto" is one per core the process may use', () => {
  assert.equal(parseConfig({ servers }).workers, 1);
  assert.equal(workerCount(parseConfig({ servers, workers: 'auto' }).workers), Math.min(64, availableParallelism()));
  assert.equal(workerCount(parseConfig({ servers, workers: 4 }).workers), 4);
});

for (const bad of [0, 65, 1.5, -2, 'many', 'AUTO', null]) {
  test(`workers: ${JSON.stringify(bad)} is refused with an error naming the field`, () => {
    assert.throws(
      () => parseConfig({ servers, workers: bad }),
      (err: Error) => err instanceof ConfigError && /workers/.test(err.message) && /1 to 64|auto/.test(err.message),
    );
  });
}

test('a reload that changes the number of workers is refused, the running config stays', async () => {
  const lb = track(await startBallast({ servers: [local(9001)], healthCheck: { enabled: false } }));
  const next = parseConfig({ ...lb.config, workers: 2 });
  assert.throws(() => lb.reload(next), (err: Error) => err instanceof ConfigError && /^workers: cannot change on reload/.test(err.message) && /restart/.test(err.message));
  assert.equal(lb.config.workers, 1);
  // Same count spelled differently is no change.
  lb.reload(parseConfig({ ...lb.config, workers: availableParallelism() === 1 ? 'auto' : 1 }));
});
