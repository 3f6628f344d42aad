// Upstream topics: created when missing (with the log topic's partition count, or compacted for
// the cursor topic), and their partition counts, which decide the partition mapping.
import { Admin, ConfigResourceTypes, type BaseOptions } from '@platformatic/kafka';

export interface TopicWish {
  name: string;
  partitions: number;
  /** Topic configs for a topic created here, e.g. cleanup.policy=compact. */
  configs?: Record<string, string>;
}

export class UpstreamTopics {
  private readonly admin: Admin;
  private readonly counts = new Map<string, number>();

  constructor(
    base: BaseOptions,
    private readonly create: boolean,
    private readonly replicationFactor: number,
  ) {
    this.admin = new Admin(base);
  }

  /** Makes sure each topic exists; returns its partition count upstream. */
  async ensure(wishes: readonly TopicWish[]): Promise<Map<string, number>> {
    const unknown = wishes.filter((w) => !this.counts.has(w.name));
    if (unknown.length > 0) {
      const existing = new Set(await this.admin.listTopics());
      const missing = unknown.filter((w) => !existing.has(w.name));
      if (missing.length > 0 && !this.create) {
        throw new Error(`upstream topic ${missing.map((m) => m.name).join(', ')} does not exist and upstream.createTopics is false`);
      }
      for (const wish of missing) {
        try {
          await this.admin.createTopics({
            topics: [wish.name],
            partitions: wish.partitions,
            replicas: this.replicationFactor,
            configs: Object.entries(wish.configs ?? {}).map(([name, value]) => ({ name, value })),
          });
        } catch (err) {
          if (!/TOPIC_ALREADY_EXISTS|already exists/i.test(JSON.stringify(errorIds(err)))) throw err;
        }
      }
      const metadata = await this.admin.metadata({ topics: unknown.map((w) => w.name), forceUpdate: true });
      for (const wish of unknown) {
        const count = metadata.topics.get(wish.name)?.partitionsCount;
        if (count === undefined) throw new Error(`upstream topic ${wish.name} has no metadata`);
        this.counts.set(wish.name, count);
      }
    }
    return new Map(wishes.map((w) => [w.name, this.counts.get(w.name)!]));
  }

  /** The topic's cleanup.policy upstream, e.g. "compact" or "compact,delete". */
  async cleanupPolicy(name: string): Promise<string> {
    const [description] = await this.admin.describeConfigs({ resources: [{ resourceType: ConfigResourceTypes.TOPIC, resourceName: name, configurationKeys: ['cleanup.policy'] }] });
    return description?.configs.find((c) => c.name === 'cleanup.policy')?.value ?? 'delete';
  }

  close(): Promise<void> {
    return this.admin.close();
  }
}

function errorIds(err: unknown, depth = 0): string[] {
  if (err === null || typeof err !== 'object' || depth > 6) return [];
  const e = err as { apiId?: string; message?: string; errors?: unknown[]; cause?: unknown };
  return [e.apiId ?? '', e.message ?? '', ...(e.errors ?? []).flatMap((x) => errorIds(x, depth + 1)), ...errorIds(e.cause, depth + 1)];
}
