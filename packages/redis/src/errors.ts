// From @gale/server, the peer dependency, not from @gale/frame: the class is then the one the
// app's server uses, so `instanceof WebSocketError` holds even if two copies of @gale/frame
// were installed.
import { WebSocketError } from '@gale/server';

/** Raised by `RedisBroker.publish()` for the other instances when Redis cannot be reached. */
export class BrokerUnavailableError extends WebSocketError<'ERR_BROKER_UNAVAILABLE'> {
  /** The topic whose message did not reach the other instances. */
  readonly topic: string;

  constructor(topic: string, options?: ErrorOptions) {
    super(
      'ERR_BROKER_UNAVAILABLE',
      `Redis is unreachable: the message to topic ${JSON.stringify(topic)} reached this ` +
        "instance's subscribers only",
      options,
    );
    this.name = 'BrokerUnavailableError';
    this.topic = topic;
  }
}
