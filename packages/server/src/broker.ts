// @gale/server/broker: what a topic broker is built from (the in-memory default and @gale/redis
// use it). Applications only need `Broker` from the main entry point, to pass one in.
export {
  type Broker,
  frameMessage,
  LocalTopics,
  MemoryBroker,
  type PublishOptions,
  type TopicMessage,
  type TopicSubscriber,
} from './topics.js';
