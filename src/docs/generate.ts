import 'reflect-metadata';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { buildAsyncApiDocument } from './asyncapi';
import { openApiDocumentFromControllers } from './openapi-app';
import { withSettingsTable } from './settings-table';

// Writes the generated documents under docs/ (run by `npm run build` and `npm run docs`).
export const DOCS_DIR = join(__dirname, '..', '..', 'docs');

export async function openApiText(): Promise<string> {
  return `${JSON.stringify(await openApiDocumentFromControllers(), null, 2)}\n`;
}

export function asyncApiText(): string {
  return `# Generated from src/protocol/frames.ts and rooms.ts by \`npm run docs\` (src/docs/asyncapi.ts): do not edit.\n${stringify(buildAsyncApiDocument(), { lineWidth: 100, aliasDuplicateObjects: false })}`;
}

export const ROOT_DIR = join(DOCS_DIR, '..');

// docs/operations.md with a fresh settings table
export function operationsText(): string {
  return withSettingsTable(
    readFileSync(join(DOCS_DIR, 'operations.md'), 'utf8'),
    readFileSync(join(ROOT_DIR, '.env.example'), 'utf8'),
  );
}

async function main(): Promise<void> {
  // an image build (Dockerfile) copies src/ and client/ only: there is no docs/ to refresh
  if (!existsSync(join(DOCS_DIR, 'operations.md')) || !existsSync(join(ROOT_DIR, '.env.example'))) {
    console.warn('chatbox docs: no docs/ or .env.example here; nothing generated');
    return;
  }
  writeFileSync(join(DOCS_DIR, 'openapi.json'), await openApiText());
  writeFileSync(join(DOCS_DIR, 'asyncapi.yaml'), asyncApiText());
  writeFileSync(join(DOCS_DIR, 'operations.md'), operationsText());
}

if (require.main === module)
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
