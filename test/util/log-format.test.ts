/** Terminal logs: pretty on a TTY, JSON otherwise, BALLAST_LOG_FORMAT overriding; a bad value is refused by name. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { logFormat } from '../../src/util/log.js';

const bin = fileURLToPath(new URL('../../../bin/ballast', import.meta.url));

test('the log format: pretty for a terminal, JSON otherwise, the environment variable decides when set', () => {
  assert.equal(logFormat(undefined, true), 'pretty');
  assert.equal(logFormat(undefined, false), 'json');
  assert.equal(logFormat('', true), 'pretty');
  assert.equal(logFormat('json', true), 'json');
  assert.equal(logFormat('pretty', false), 'pretty');
  assert.throws(() => logFormat('xml', false), /BALLAST_LOG_FORMAT: expected json or pretty, got "xml"/);
});

test('pretty lines are readable text; JSON lines parse; a bad BALLAST_LOG_FORMAT exits 2 without a stack trace', () => {
  const run = (format: string) =>
    spawnSync(process.execPath, [bin, 'start', '--config', '/nonexistent/ballast.yaml'], { encoding: 'utf8', timeout: 15_000, env: { ...process.env, BALLAST_LOG_FORMAT: format } });
  const bad = run('xml');
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /BALLAST_LOG_FORMAT: expected json or pretty/);
  assert.doesNotMatch(bad.stderr, /\n\s+at /);

  const script = `import('${new URL('../../src/util/log.js', import.meta.url).href}').then((m) => m.createLogger('info').info({ listen: '127.0.0.1:8080' }, 'ballast listening'))`;
  const log = (format: string) => spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 15_000, env: { ...process.env, BALLAST_LOG_FORMAT: format } }).stderr;
  const json = JSON.parse(log('json').trim()) as Record<string, unknown>;
  assert.equal(json.msg, 'ballast listening');
  assert.equal(json.listen, '127.0.0.1:8080');
  const pretty = log('pretty');
  assert.match(pretty, /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: ballast listening .*listen.*127\.0\.0\.1:8080/);
  assert.throws(() => JSON.parse(pretty));
});
