// From @gale/server, the peer dependency, not from @gale/frame: the class is then the one the
// app's server uses, so `instanceof WebSocketError` holds even if two copies of @gale/frame
// were installed.
import { WebSocketError } from '@gale/server';

/**
 * Raised by `RedisBroker.publish()` when Redis could not take the message (then no subscriber,
 * on any instance, got it), and by a `subscribe()` still starting when the broker closes.
 */
export class BrokerUnavailableError extends WebSocketError<'ERR_BROKER_UNAVAILABLE'> {
  /** The topic of the publish or subscription. */
  readonly topic: string;

  constructor(topic: string, options?: ErrorOptions) {
    super(
      'ERR_BROKER_UNAVAILABLE',
      `Redis is unreachable: nothing was published to or delivered from topic ${JSON.stringify(topic)}`,
      options,
    );
    this.name = 'BrokerUnavailableError';
    this.topic = topic;
  }
}
