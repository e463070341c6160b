import type { MongooseModuleOptions } from '@nestjs/mongoose';

// The store client's options (docs/protocol.md, "Store watchdog").
export const STORE_CLIENT_OPTIONS: MongooseModuleOptions = {
  serverSelectionTimeoutMS: 5000,
  // a restarted store is found again within a second or two: the driver polls it (FerretDB's
  // streamed hello stayed on a closed connection for a minute after a restart in the chaos
  // test) every second instead of every ten
  serverMonitoringMode: 'poll',
  heartbeatFrequencyMS: 1000,
  // a store that keeps its sockets open and stops answering (a stopped FerretDB did for a minute; a
  // network partition does) fails a monitor check and a handshake in 5 s instead of 30, and a
  // command after 30 s of silence instead of never: a command hung for good holds its turn with it
  connectTimeoutMS: 5000,
  socketTimeoutMS: 30_000,
  autoIndex: false,
};
