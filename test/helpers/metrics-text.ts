// Reading a Prometheus exposition in tests.

/** The value of one sample line, e.g. sample(text, 'tributary_mqtt_publishes_refused_total{reason="topic too long"}'). */
export function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}
