import 'reflect-metadata';
import type { Server } from 'node:http';
import { Logger } from 'nestjs-pino';
import { createApp } from './bootstrap';
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
  // SIGTERM/SIGINT: Nest's shutdown hooks run (stop accepting, tell clients, store partial replies,
  // close MongoDB), then the process exits 0 so orchestrators see a clean stop
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    app.get(Logger).log({ event: 'shutdown_signal', signal }, 'shutting down');
    // A connection its client never closes (an idle keep-alive that was busy when the listener
    // closed, a socket that ignores the close) holds app.close() forever: once the grace is over the
    // rest are cut, and a shutdown still not done later exits anyway (as safe as SIGKILL, which the
    // turn watch and the rooms' resume recover from; docs/protocol.md, "Guarantees").
    const server = app.getHttpServer() as Server;
    setTimeout(() => server.closeAllConnections(), settings.shutdownGraceMs + 2_000).unref();
    setTimeout(() => {
      console.error('chatbox: shutdown did not finish in time; exiting');
      process.exit(1);
    }, settings.shutdownGraceMs + 15_000).unref();
    app.close().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error('chatbox: shutdown failed', error);
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  await app.listen(settings.port, settings.host);
}

void main();
