export { RedisBroker, type RedisBrokerOptions, type RedisBrokerStats } from './broker.js';
export { BrokerUnavailableError } from './errors.js';
