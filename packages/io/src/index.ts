export { lendFrameBuffer, settleFrameBuffer, sharedReadBuffer } from './buffers.js';
export { type Clock, systemClock, unref } from './clock.js';
export {
  type CloseInfo,
  Connection,
  type ConnectionDelegate,
  type ConnectionSettings,
  type ConnectionSocket,
  type WritePolicy,
} from './connection.js';
export { corkUntilImmediate, currentTurn } from './cork.js';
export { SocketReader } from './socket-reader.js';
export { writeSettled } from './write-settled.js';
