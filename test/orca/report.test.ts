// The ORCA report parser (both forms, refusals, bounds), its writer, and the load window the
// demo backend and the simulator's servers measure with.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LoadReport, MAX_NAMED_METRICS, MAX_REPORT_LENGTH, parseLoadReport } from '../../src/orca/report.js';
import { formatLoadReport } from '../../src/orca/format.js';
import { LoadReportReader, ReportedLoad } from '../../src/orca/reported-load.js';
import { LoadWindow } from '../../src/orca/window.js';

const parse = (v: string) => {
  const r = new LoadReport();
  return { out: parseLoadReport(v, r), r };
};

test('orca: the TEXT form, with spaces, named metrics and fields Ballast does not use', () => {
  const { out, r } = parse('TEXT cpu_utilization=0.3, rps_fractional=10 ,named_metrics.foo=2,mem_utilization=0.5,eps=1.5e-1, application_utilization=0.25, rps=7');
  assert.deepEqual(out, { ok: true, ignored: false });
  assert.equal(r.cpuUtilization, 0.3);
  assert.equal(r.rpsFractional, 10);
  assert.equal(r.memUtilization, 0.5);
  assert.equal(r.eps, 0.15);
  assert.equal(r.applicationUtilization, 0.25);
  assert.equal(r.utilization, 0.25, 'application utilization wins over CPU when sent');
  assert.deepEqual([...r.named], [['foo', 2]]);
});

test('orca: the JSON form, snake_case and proto3 JSON names', () => {
  const a = parse('JSON {"cpu_utilization":0.7,"rps_fractional":42.5,"eps":2,"named_metrics":{"queue":3,"q2":0.5},"request_cost":{"db":1}}');
  assert.equal(a.out.ok, true);
  assert.equal(a.r.cpuUtilization, 0.7);
  assert.equal(a.r.rpsFractional, 42.5);
  assert.equal(a.r.eps, 2);
  assert.deepEqual(Object.fromEntries(a.r.named), { queue: 3, q2: 0.5 });
  assert.equal(a.r.memUtilization, -1, 'unsent fields stay unset');
  const b = parse('JSON {"cpuUtilization":1.5,"rpsFractional":3,"namedMetrics":{"x":1}}');
  assert.equal(b.out.ok, true);
  assert.equal(b.r.cpuUtilization, 1.5, 'utilization above 1 is allowed (ORCA: beyond a soft limit)');
  assert.equal(b.r.rpsFractional, 3);
  assert.equal(b.r.named.get('x'), 1);
});

test('orca: the binary form is recognised and ignored', () => {
  assert.deepEqual(parse('BIN CgkJAAAAAAAA4D8=').out, { ok: true, ignored: true });
});

test('orca: malformed values are refused whole, with the reason', () => {
  const cases: Array<[string, RegExp]> = [
    ['cpu_utilization=0.3', /prefix/],
    ['TEXT', /prefix/],
    ['TEXT ', /no metrics/],
    ['TEXT cpu_utilization', /name=value/],
    ['TEXT cpu_utilization=', /not a number/],
    ['TEXT cpu_utilization=abc', /not a number/],
    ['TEXT cpu_utilization=0x10', /not a number/],
    ['TEXT cpu_utilization=0.3,,rps_fractional=1', /empty entry/],
    ['TEXT =1', /empty metric name/],
    ['TEXT cpu_utilization=-0.1', /negative/],
    ['TEXT rps_fractional=-1', /negative/],
    ['TEXT eps=-2', /negative/],
    ['TEXT mem_utilization=1.5', /above 1/],
    ['TEXT cpu_utilization=1e999', /finite/],
    ['TEXT named_metrics.=1', /named metric name/],
    ['JSON {', /does not parse/],
    ['JSON [1]', /expected an object/],
    ['JSON {"cpu_utilization":"0.3"}', /not a number/],
    ['JSON {"cpu_utilization":-1}', /negative/],
    ['JSON {"named_metrics":{"a":"1"}}', /not a number/],
    ['JSON {"named_metrics":[1]}', /expected an object/],
  ];
  for (const [value, reason] of cases) {
    const { out } = parse(value);
    assert.equal(out.ok, false, value);
    if (!out.ok) assert.match(out.error, reason, value);
  }
});

test('orca: bounds: named metrics are capped, and an over-long value is not read', () => {
  const many = Array.from({ length: MAX_NAMED_METRICS + 1 }, (_, i) => `named_metrics.m${i}=1`).join(',');
  const over = parse(`TEXT ${many}`).out;
  assert.equal(over.ok, false);
  if (!over.ok) assert.match(over.error, new RegExp(`more than ${MAX_NAMED_METRICS}`));
  const atCap = Array.from({ length: MAX_NAMED_METRICS }, (_, i) => `named_metrics.m${i}=1`).join(',');
  assert.equal(parse(`TEXT ${atCap}`).out.ok, true);
  const long = parse(`TEXT cpu_utilization=0.5, named_metrics.pad=${'1'.repeat(MAX_REPORT_LENGTH)}`).out;
  assert.equal(long.ok, false);
  if (!long.ok) assert.match(long.error, /longer than/);
  assert.equal(parse(`TEXT named_metrics.${'n'.repeat(65)}=1`).out.ok, false, 'over-long metric name');
});

test('orca: the record is reused: a second parse leaves nothing of the first', () => {
  const r = new LoadReport();
  parseLoadReport('TEXT cpu_utilization=0.3, eps=4, named_metrics.a=1', r);
  parseLoadReport('TEXT rps_fractional=9', r);
  assert.equal(r.cpuUtilization, -1);
  assert.equal(r.eps, -1);
  assert.equal(r.rpsFractional, 9);
  assert.equal(r.named.size, 0);
});

test('orca: what the writer emits, the parser reads back (both forms)', () => {
  const r = new LoadReport();
  r.cpuUtilization = 0.123456789;
  r.rpsFractional = 250;
  r.eps = 0;
  r.named.set('queue', 7);
  for (const form of ['text', 'json'] as const) {
    const text = formatLoadReport(r, form);
    assert.match(text, form === 'text' ? /^TEXT / : /^JSON /);
    const back = parse(text);
    assert.equal(back.out.ok, true, text);
    assert.equal(back.r.cpuUtilization, 0.123457, '6 significant digits');
    assert.equal(back.r.rpsFractional, 250);
    assert.equal(back.r.eps, 0);
    assert.equal(back.r.memUtilization, -1, 'unset fields are not written');
    assert.equal(back.r.named.get('queue'), 7);
  }
});

test('orca: the reader counts read, ignored and refused reports per backend', () => {
  const reader = new LoadReportReader();
  const load = new ReportedLoad();
  assert.equal(reader.read(load, 'TEXT cpu_utilization=0.5, rps_fractional=20', 100)?.cpuUtilization, 0.5);
  assert.equal(reader.read(load, 'BIN AAAA', 200), null);
  assert.equal(reader.read(load, 'TEXT cpu_utilization=nope', 300), null);
  assert.deepEqual([load.received, load.ignored, load.invalid, load.at], [1, 1, 1, 100]);
  assert.match(load.lastError, /not a number/);
  assert.equal(load.latest.cpuUtilization, 0.5, 'a refused report does not replace the last good one');
});

test('orca: the load window: utilization of the slots, rates over the last second', () => {
  const w = new LoadWindow(4, 1_000, 10, 0);
  const r = new LoadReport();
  // Two requests in service for the whole first second, each finishing at its end: 2 of 4 slots.
  w.begin(0);
  w.begin(0);
  w.end(1_000);
  w.end(1_000, true);
  w.report(1_000, r);
  // At 1 000 ms a new bucket has just begun: the window is the nine full ones behind it, 0.9 s.
  assert.ok(Math.abs(r.cpuUtilization - 0.5) < 1e-9, `utilization ${r.cpuUtilization}`);
  assert.ok(Math.abs(r.rpsFractional - 2 / 0.9) < 1e-9, `rps ${r.rpsFractional}`);
  assert.ok(Math.abs(r.eps - 1 / 0.9) < 1e-9, `eps ${r.eps}`);
  // Half a second later, idle: the window covers 0.5..1.5 s, with nothing busy in 1..1.5.
  w.report(1_500, r);
  assert.ok(Math.abs(r.cpuUtilization - 0.25) < 0.051, `half the window busy: ${r.cpuUtilization}`);
  // Long idle: everything ages out.
  w.report(60_000, r);
  assert.equal(r.cpuUtilization, 0);
  assert.equal(r.rpsFractional, 0);
  // At the start of a run the figures cover the time since the start, not a full window.
  const fresh = new LoadWindow(1, 1_000, 10, 5_000);
  fresh.begin(5_000);
  fresh.report(5_100, r);
  assert.ok(Math.abs(r.cpuUtilization - 1) < 1e-9, `busy since the start: ${r.cpuUtilization}`);
});
