/** Raised by `RedisBroker.publish()` for the other instances when Redis cannot be reached. */
export class BrokerUnavailableError extends Error {
  readonly code = 'ERR_BROKER_UNAVAILABLE' as const;
  /** The topic whose message did not reach the other instances. */
  readonly topic: string;

  constructor(topic: string, options?: ErrorOptions) {
    super(
      `Redis is unreachable: the message to topic ${JSON.stringify(topic)} reached this ` +
        "instance's subscribers only",
      options,
    );
    this.name = 'BrokerUnavailableError';
    this.topic = topic;
  }
}
