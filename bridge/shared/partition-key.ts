// The key of one partition of a log topic, `topic/partition`, as maps, cursors and messages name
// it. A topic name never holds '/' (broker/log/topic-name.ts), so the key is unambiguous.

export function partitionKey(topic: string, partition: number): string {
  return `${topic}/${partition}`;
}
