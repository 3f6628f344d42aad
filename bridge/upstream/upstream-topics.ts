// Upstream topics: created when missing (with the log topic's partition count, or compacted for
// the cursor topic), and their partition counts, which decide the partition mapping.
import { Admin, ConfigResourceTypes, type BaseOptions } from '@platformatic/kafka';
import { UpstreamTopicMissingError, UpstreamUnavailableError } from './errors.js';
import { hasKafkaError } from './kafka-errors.js';

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
        const names = missing.map((m) => m.name).join(', ');
        throw new UpstreamTopicMissingError(
          `the upstream topic${missing.length > 1 ? 's' : ''} ${names} ${missing.length > 1 ? 'do' : 'does'} not exist and upstream.createTopics is false: ` +
            `forwarding stops; create ${missing.length > 1 ? 'them' : 'it'} on the cluster (or set upstream.createTopics: true) and restart the gateway`,
        );
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
          // Created meanwhile (by another gateway): what we wanted.
          if (!hasKafkaError(err, 'TOPIC_ALREADY_EXISTS')) throw err;
        }
      }
      const metadata = await this.admin.metadata({ topics: unknown.map((w) => w.name), forceUpdate: true });
      for (const wish of unknown) {
        const count = metadata.topics.get(wish.name)?.partitionsCount;
        // Retried: a topic just created can take a moment to show in the metadata.
        if (count === undefined) throw new UpstreamUnavailableError(`upstream topic ${wish.name} has no metadata yet`);
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
