// deploy/grafana/tributary-dashboard.json queries only metrics a real node exports, and shows
// (almost) all of them.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { startTestNode } from '../helpers/mqtt-node.js';

interface Panel {
  type: string;
  title: string;
  gridPos: { h: number; w: number; x: number; y: number };
  targets?: Array<{ expr: string; datasource: { uid: string } }>;
}

const dashboard = JSON.parse(readFileSync(new URL('../../../deploy/grafana/tributary-dashboard.json', import.meta.url), 'utf8')) as {
  title: string;
  uid: string;
  panels: Panel[];
  __inputs: Array<{ name: string; pluginId: string }>;
};

/** Families a dashboard has no use for: their information is in another panel. */
const NOT_SHOWN = new Set(['tributary_log_appended_batches_total', 'tributary_log_appended_bytes_total', 'tributary_log_retention_deleted_batches_total', 'tributary_upstream_forwarded_offset']);

test('every query of the Grafana dashboard names metrics a node exports, and every metric is shown', async (t) => {
  const { node } = await startTestNode(t);
  // The upstream families appear once a forwarder reports; this one reports a quiet partition.
  node.metrics.watchUpstream({
    status: () => ({ connected: true, recordsForwarded: 0, bytesForwarded: 0, errors: 0, partitions: [{ topic: 'mqtt', partition: 0, forwardedOffset: 0, highWatermark: 0, lag: 0, lastError: null }] }),
  });
  const exposition = await (await fetch(`http://127.0.0.1:${node.http.port}/metrics`)).text();
  const families = new Map([...exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1]!, m[2]!]));
  const series = (family: string, type: string): string[] => (type === 'histogram' ? ['_bucket', '_sum', '_count'].map((s) => family + s) : [family]);
  const exported = new Set([...families].flatMap(([family, type]) => series(family, type)));

  assert.equal(dashboard.__inputs[0]?.pluginId, 'prometheus');
  const used = new Set<string>();
  for (const panel of dashboard.panels.filter((p) => p.type !== 'row')) {
    assert.ok((panel.targets ?? []).length > 0, `${panel.title} has queries`);
    for (const target of panel.targets ?? []) {
      assert.equal(target.datasource.uid, '${DS_PROMETHEUS}', `${panel.title}: the data source is chosen at import`);
      for (const [name] of target.expr.matchAll(/\b(?:tributary|process|nodejs)_[a-z0-9_]+/g)) {
        assert.ok(exported.has(name), `${panel.title}: ${name} is not exported`);
        used.add(name);
      }
    }
  }
  for (const [family, type] of families) {
    if (!family.startsWith('tributary_') || NOT_SHOWN.has(family)) continue;
    assert.ok(series(family, type).some((s) => used.has(s)), `${family} has no panel`);
  }
  for (const name of ['process_resident_memory_bytes', 'nodejs_eventloop_lag_p99_seconds']) assert.ok(used.has(name), name);
});

test('panels do not overlap on the grid', () => {
  const cells = new Set<string>();
  for (const panel of dashboard.panels) {
    const { x, y, w, h } = panel.gridPos;
    assert.ok(x + w <= 24, `${panel.title} fits the 24 columns`);
    for (let row = y; row < y + h; row++) {
      for (let col = x; col < x + w; col++) {
        const cell = `${row}:${col}`;
        assert.ok(!cells.has(cell), `${panel.title} overlaps another panel at ${cell}`);
        cells.add(cell);
      }
    }
  }
});
