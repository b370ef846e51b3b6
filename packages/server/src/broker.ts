// @gale/server/broker: what a topic broker is built from (the in-memory default and @gale/redis
// use it). Applications only need `Broker` from the main entry point, to pass one in.
export {
  type Broker,
  type Delivery,
  frameMessage,
  HISTORY_DEFAULTS,
  type HistoryOptions,
  type HistoryPolicy,
  LocalTopics,
  MemoryBroker,
  type MemoryBrokerOptions,
  newEpoch,
  type Position,
  type PublishOptions,
  type SubscribeOptions,
  type SubscriptionStart,
  TopicDelivery,
  type TopicMessage,
  type TopicSubscriber,
  toPayload,
} from './topics.js';
