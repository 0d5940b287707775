// The response rewrite captures a backend's load report and drops it unless told to pass it on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rewriteResponse, type ResponseRewrite } from '../../src/proxy/http/headers.js';
import { DUPLICATE_REPORTS } from '../../src/orca/report.js';

const res = (headers: string[], forwardLoadReports = false): ResponseRewrite => ({
  statusCode: 200,
  statusMessage: 'OK',
  headers,
  clientVersionMinor: 1,
  clientKeepAlive: true,
  noBody: false,
  via: 'ballast',
  backendLine: '',
  watchHeader: '',
  forwardLoadReports,
});

test('load report header: captured and removed by default, kept when forwarded, any case', () => {
  const headers = ['Content-Length', '2', 'Endpoint-Load-Metrics', 'TEXT cpu_utilization=0.5', 'X-Other', 'y'];
  const stripped = rewriteResponse(res(headers));
  assert.equal(stripped.loadReport, 'TEXT cpu_utilization=0.5');
  assert.doesNotMatch(stripped.head, /load-metrics/i);
  assert.match(stripped.head, /X-Other: y\r\n/);
  const kept = rewriteResponse(res(headers, true));
  assert.equal(kept.loadReport, 'TEXT cpu_utilization=0.5');
  assert.match(kept.head, /Endpoint-Load-Metrics: TEXT cpu_utilization=0\.5\r\n/);
});

test('load report header: the -bin header is marked binary; two report headers are a duplicate; none is undefined', () => {
  assert.equal(rewriteResponse(res(['endpoint-load-metrics-bin', 'AAAA'])).loadReport, 'BIN AAAA');
  const two = rewriteResponse(res(['endpoint-load-metrics', 'TEXT eps=1', 'endpoint-load-metrics', 'TEXT eps=2']));
  assert.equal(two.loadReport, DUPLICATE_REPORTS);
  assert.equal(rewriteResponse(res(['content-length', '0'])).loadReport, undefined);
});
