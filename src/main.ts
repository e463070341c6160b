import 'reflect-metadata';
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
  await app.listen(settings.port, settings.host);
}

void main();
