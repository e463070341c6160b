import 'reflect-metadata';
import type { Server } from 'node:http';
import { Logger } from 'nestjs-pino';
import { createApp } from './bootstrap';
import { HttpDrain } from './common/http/http-drain';
import { describeError } from './common/logging/logging';
import { loadSettings, SettingsError } from './config/settings';

async function main(): Promise<void> {
  let settings;
  try {
    settings = loadSettings();
  } catch (error) {
    if (error instanceof SettingsError) {
      console.error(`chatbox: ${error.message}`);
      process.exit(78);
    }
    throw error;
  }
  const app = await createApp(settings);
  // A promise whose rejection nothing handles is a bug, logged with what it was; it does not end the
  // process (Node's default), which would cut every user's socket and reply for one stray path. A
  // thrown exception nothing caught still ends it: the process's state may be broken then, and the
  // orchestrator restarts it (docs/protocol.md, "Bad input").
  process.on('unhandledRejection', (reason: unknown) =>
    app.get(Logger).error(
      {
        event: 'unhandled_rejection',
        err: describeError(reason),
      },
      'unhandled rejection',
    ),
  );
  const server = app.getHttpServer() as Server;
  const http = new HttpDrain(server);
  // SIGTERM/SIGINT: Nest's shutdown hooks run (stop accepting, tell clients, store partial replies,
  // close MongoDB), then the process exits 0 so orchestrators see a clean stop
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    app.get(Logger).log({ event: 'shutdown_signal', signal }, 'shutting down');
    // every response from now on ends its connection; once the listener is closed, connections with
    // no request being answered are cut (src/common/http/http-drain.ts)
    http.begin();
    // Last resort, for a request still being answered (a handler that never returns) or anything
    // else that holds app.close(): once the grace is over the connections left are cut, and a
    // shutdown still not done later exits anyway (as safe as SIGKILL, which the turn watch and the
    // rooms' resume recover from; docs/protocol.md, "Guarantees").
    setTimeout(() => server.closeAllConnections(), settings.shutdownGraceMs + 2_000).unref();
    setTimeout(() => {
      console.error('chatbox: shutdown did not finish in time; exiting');
      process.exit(1);
    }, settings.shutdownGraceMs + 15_000).unref();
    app.close().then(
      () => process.exit(0),
      (error: unknown) => {
        // an error's fields may hold documents or a URI with its password: name and message only
        console.error(`chatbox: shutdown failed: ${describeError(error)}`);
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  await app.listen(settings.port, settings.host);
}

// Node would print the whole error, fields and all: a MongoDB driver's error quotes the URI with its
// password. Its name and message only, credentials masked.
main().catch((error: unknown) => {
  console.error(`chatbox: failed to start: ${describeError(error)}`);
  process.exit(1);
});
