// What the Kafka endpoint has served since start, for /metrics: requests by API, requests that
// closed their connection by cause, and bytes each way. Counted by each connection, kept by the
// server; read at scrape time.
export type RequestFailure = 'unsupported' | 'malformed' | 'unauthenticated' | 'failed';

export class KafkaTraffic {
  /** Requests answered (or, for Produce with acks 0, taken), by API name. */
  readonly requests = new Map<string, number>();
  /** Requests not served, by cause: an API or version we do not serve (answered), or bytes that closed the connection. */
  readonly failures = new Map<RequestFailure, number>();
  bytesReceived = 0;
  bytesSent = 0;
  /** Requests started while an earlier one of their connection was not answered yet (Produce pipelining, connection.ts). */
  pipelinedRequests = 0;

  request(api: string, frameBytes: number): void {
    this.requests.set(api, (this.requests.get(api) ?? 0) + 1);
    this.bytesReceived += frameBytes + 4; // the size prefix
  }

  pipelined(): void {
    this.pipelinedRequests++;
  }

  failure(cause: RequestFailure): void {
    this.failures.set(cause, (this.failures.get(cause) ?? 0) + 1);
  }

  sent(chunks: readonly Buffer[]): void {
    for (const chunk of chunks) this.bytesSent += chunk.length;
  }
}
