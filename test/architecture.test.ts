// The dependency rules between the parts (ARCHITECTURE.md, "Parts (rooms) and the rules between
// them"; docs/architecture.md section 2), checked with dependency-cruiser over the TypeScript
// sources. Type-only imports count: a part that compiles against another part's internals depends
// on them even if nothing is loaded at run time.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { cruise, type ICruiseResult, type IForbiddenRuleType } from 'dependency-cruiser';
import extractTSConfig from 'dependency-cruiser/config-utl/extract-ts-config';

// This file runs from dist/test/; the sources are at the repository root.
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PARTS = ['broker', 'bridge', 'device-sim', 'bench'];
/** Our code: anything in the repository, as dependency-cruiser names it (relative to ROOT). */
const OURS = '^(broker|bridge|device-sim|bench|test|replication)/';

/** The rules; each names what it forbids. A violation prints the rule and both files. */
const RULES: IForbiddenRuleType[] = [
  {
    name: 'log-imports-no-other-part',
    comment: 'broker/ (the log, cursors, retention) imports nothing of ours outside broker/: the error base is broker/errors.ts',
    severity: 'error',
    from: { path: '^broker/' },
    to: { path: OURS, pathNot: '^broker/' },
  },
  {
    name: 'mqtt-does-not-import-upstream',
    comment: 'the MQTT front end and the upstream forwarder meet only in the log',
    severity: 'error',
    from: { path: '^bridge/mqtt/' },
    to: { path: '^bridge/upstream/' },
  },
  {
    name: 'upstream-does-not-import-mqtt',
    comment: 'the MQTT front end and the upstream forwarder meet only in the log',
    severity: 'error',
    from: { path: '^bridge/upstream/' },
    to: { path: '^bridge/mqtt/' },
  },
  {
    // Written before bridge/kafka/ and replication existed: the first holds since bridge/kafka/
    // does; the second passes vacuously until replication exists, and holds from its first file on.
    name: 'kafka-endpoint-imports-neither-mqtt-nor-upstream',
    comment: 'the Kafka endpoint uses the log and config only',
    severity: 'error',
    from: { path: '^bridge/kafka/' },
    to: { path: '^bridge/(mqtt|upstream)/' },
  },
  {
    name: 'replication-imports-neither-mqtt-nor-upstream',
    comment: 'replication (bridge/cluster/; broker/replication/ or a top-level replication/ were the other places named) uses the log and the Kafka codec only',
    severity: 'error',
    from: { path: '^(bridge/cluster|broker/replication|replication)/' },
    to: { path: '^bridge/(mqtt|upstream)/' },
  },
  {
    // bridge/cluster/ is replication: votes, epochs, followers' fetches, the commit rule. MQTT,
    // the forwarder and HTTP learn of its role through bridge/main.ts (callbacks, a status port).
    name: 'cluster-imports-only-the-log-and-the-kafka-codec',
    comment: 'bridge/cluster/ imports only its own files, broker/, the Kafka protocol codec (and its errors), bridge/net/listen.ts, bridge/logger.ts and the pure helpers of bridge/shared/',
    severity: 'error',
    from: { path: '^bridge/cluster/' },
    to: { path: OURS, pathNot: '^(bridge/cluster/|broker/|bridge/kafka/protocol/|bridge/kafka/errors\\.ts$|bridge/net/listen\\.ts$|bridge/logger\\.ts$|bridge/shared/)' },
  },
  {
    name: 'config-imports-no-other-part',
    comment: 'config is the one door: it uses its own files, the pure helpers of bridge/shared/, the error base and the topic-name rule',
    severity: 'error',
    from: { path: '^bridge/config/' },
    to: { path: OURS, pathNot: '^(bridge/config/|bridge/shared/|broker/errors\\.ts$|broker/log/topic-name\\.ts$)' },
  },
  {
    // The log checks topic names too, and broker/ may not import bridge/, so Kafka's topic-name
    // rule lives in broker/log/topic-name.ts, a leaf (next rule) that shared helpers may use.
    name: 'shared-helpers-are-pure',
    comment: 'bridge/shared/ holds helpers every part may use; they import nothing of ours but the topic-name rule',
    severity: 'error',
    from: { path: '^bridge/shared/' },
    to: { path: OURS, pathNot: '^(bridge/shared/|broker/log/topic-name\\.ts$)' },
  },
  {
    name: 'topic-name-rule-is-a-leaf',
    comment: 'broker/log/topic-name.ts imports nothing of ours, so config and bridge/shared/ may use it without reaching into the log',
    severity: 'error',
    from: { path: '^broker/log/topic-name\\.ts$' },
    to: { path: OURS },
  },
  {
    name: 'device-sim-imports-nothing-of-ours',
    comment: 'the simulator is a client only: it talks to the broker over MQTT',
    severity: 'error',
    from: { path: '^device-sim/' },
    to: { path: OURS, pathNot: '^device-sim/' },
  },
  {
    name: 'product-imports-no-tests-or-benchmarks',
    comment: 'bench/ may import anything (test helpers too); the shipped parts import neither',
    severity: 'error',
    from: { path: '^(broker|bridge|device-sim)/' },
    to: { path: '^(test|bench)/' },
  },
  {
    name: 'parts-do-not-import-http',
    comment: 'HTTP reads the parts; the parts never call into the HTTP server (bridge/cli/node-client.ts is the HTTP client)',
    severity: 'error',
    from: { path: '^(broker|bridge/(mqtt|upstream|replay|config|shared|observability|cluster))/' },
    to: { path: '^bridge/http/' },
  },
  {
    name: 'only-the-cli-imports-the-composition-root',
    comment: 'bridge/main.ts wires everything, bridge/cli.ts and bridge/cli/ drive it; no part imports them',
    severity: 'error',
    from: { path: '^(broker|bridge|device-sim)/', pathNot: '^bridge/(cli\\.ts$|cli/)' },
    to: { path: '^bridge/(main\\.ts|cli\\.ts|cli/)' },
  },
  {
    // HTTP sees the node through the small interfaces of bridge/http/ports.ts, which the parts
    // satisfy without importing them and bridge/main.ts wires; it imports no part. Besides its own
    // files it may use: the error base (broker/errors.ts: the classes it maps to statuses, and
    // UsageError for bad paths and bodies), the wire names it shares with the CLI's client
    // (bridge/shared/), binding a port (bridge/net/listen.ts) and the logger's type.
    name: 'http-imports-only-its-ports',
    comment: 'bridge/http/ imports only its own files, bridge/shared/, broker/errors.ts, bridge/net/listen.ts and bridge/logger.ts',
    severity: 'error',
    from: { path: '^bridge/http/' },
    to: { path: OURS, pathNot: '^(bridge/http/|bridge/shared/|broker/errors\\.ts$|bridge/net/listen\\.ts$|bridge/logger\\.ts$)' },
  },
  {
    name: 'no-circular',
    comment: 'no file depends on itself through others',
    severity: 'error',
    from: {},
    to: { circular: true },
  },
  {
    // A relative import that does not resolve would fall out of every rule above.
    name: 'our-imports-resolve',
    severity: 'error',
    from: {},
    to: { couldNotResolve: true, path: '^\\.' },
  },
];

async function cruiseParts(): Promise<ICruiseResult> {
  const tsConfigFile = `${ROOT}tsconfig.json`;
  const { output } = await cruise(
    PARTS,
    {
      baseDir: ROOT,
      tsPreCompilationDeps: true,
      tsConfig: { fileName: tsConfigFile },
      doNotFollow: { path: 'node_modules' },
      validate: true,
      ruleSet: { forbidden: RULES },
    },
    undefined,
    { tsConfig: extractTSConfig(tsConfigFile) },
  );
  assert.ok(typeof output !== 'string');
  return output;
}

test('the parts import each other only as the dependency rules allow', async () => {
  const result = await cruiseParts();
  // The cruise must have seen the tree and resolved our `.js` specifiers to the `.ts` sources,
  // or every rule would pass on nothing.
  const load = result.modules.find((m) => m.source === 'bridge/config/load.ts');
  assert.ok(load?.dependencies.some((d) => d.resolved === 'bridge/config/schema.ts'), 'bridge/config/load.ts -> schema.ts was not resolved');
  assert.ok(result.summary.totalCruised > 100, `only ${result.summary.totalCruised} modules cruised`);

  const broken = result.summary.violations.map((v) => {
    const cycle = v.cycle === undefined ? '' : ` (cycle: ${v.cycle.map((c) => c.name).join(' -> ')})`;
    return `${v.rule.name}: ${v.from} -> ${v.to}${cycle}`;
  });
  assert.deepEqual(broken, [], `dependency rules broken:\n  ${broken.join('\n  ')}`);
});
