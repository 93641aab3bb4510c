/**
 * Ports: the interfaces core logic needs from the outside world. Adapters in
 * packages/adapters (and packages/db) implement them; core never imports an
 * implementation. Time and randomness are ports too, so core stays pure.
 */

export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
}

export interface Random {
  /** Cryptographically strong random bytes. */
  bytes(n: number): Uint8Array;
}

/** One message as an SQS-triggered Lambda sees it (a subset of aws-lambda's SQSRecord). */
export interface QueueRecord {
  messageId: string;
  receiptHandle: string;
  body: string;
  attributes: { ApproximateReceiveCount: string; SentTimestamp: string };
  eventSource: "aws:sqs";
  eventSourceARN: string;
}

export interface QueueBatchEvent {
  Records: QueueRecord[];
}

/** Partial batch response: the ids listed are retried (and dead-lettered after maxReceiveCount). */
export interface QueueBatchResult {
  batchItemFailures: { itemIdentifier: string }[];
}

export type QueueHandler = (event: QueueBatchEvent) => Promise<QueueBatchResult>;

/** Producer side: SQS in AWS and against the emulator, an in-process queue on embedded defaults. */
export interface QueueProducer {
  /** Sends bodies to the named queue (batched as the transport allows). Resolves once all are accepted. */
  send(queue: string, bodies: readonly string[]): Promise<void>;
}

/** Consumer side: delivers batches to a handler with Lambda's SQS semantics until stopped. */
export interface QueueConsumer {
  start(queue: string, handler: QueueHandler, options?: { batchSize?: number; concurrency?: number }): void;
  stop(): Promise<void>;
}

/** Structured logger (pino-compatible subset). Fields must be metadata only: never bodies, keys or tokens. */
export interface Logger {
  debug(fields: object, message: string): void;
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
  child(bindings: object): Logger;
}
