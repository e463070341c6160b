import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DOCS_DIR, operationsText, ROOT_DIR } from './generate';
import { envExampleEntries, readSettings, settingsTable, TABLE_END, TABLE_START } from './settings-table';

const ENV_EXAMPLE = readFileSync(join(ROOT_DIR, '.env.example'), 'utf8');

describe('settings table (docs/operations.md)', () => {
  const entries = envExampleEntries(ENV_EXAMPLE);
  const read = readSettings(entries).map((spec) => spec.name);

  it('should list in .env.example every setting the code reads, and nothing it does not', () => {
    const listed = entries.map((entry) => entry.name);
    expect(read.filter((name) => !listed.includes(name))).toEqual([]);
    expect(listed.filter((name) => !read.includes(name))).toEqual([]);
  });

  it("should take defaults and ranges from the settings code's readers", () => {
    const table = settingsTable(ENV_EXAMPLE);
    expect(table).toContain('| `PORT` | `3000` | 0..65535 |');
    expect(table).toContain('| `MAX_MESSAGE_LENGTH` | `4096` | 1..1000000 |');
    expect(table).toContain('| `ENCRYPTION_KEY` | **required** | 32 bytes, base64 |');
    expect(table).toContain('| `HEARTBEAT_INTERVAL` | `30s` | duration 1ms..24d |');
    expect(table).toContain('| `API_DOCS` | `admin` | off \\| admin \\| public |');
    expect(table).toContain('| `S3_ACCESS_KEY_ID` | unset | text | both or neither');
    expect(table).toContain('| `S3_SECRET_ACCESS_KEY` | unset | text | see `S3_ACCESS_KEY_ID` |');
  });

  it('should read comment blocks, shared blocks and example lines of .env.example', () => {
    expect(envExampleEntries('# top\n\n# one\n# two\nA=1\nB=\n# [json]\n#  x\nC=3\n')).toEqual([
      { name: 'A', value: '1', meaning: 'one two' },
      { name: 'B', value: '', meaning: 'see `A`' },
      { name: 'C', value: '3', meaning: '' },
    ]);
  });

  it('should match the table in docs/operations.md (run `npm run docs` after changing a setting)', () => {
    const written = readFileSync(join(DOCS_DIR, 'operations.md'), 'utf8');
    expect(written).toContain(TABLE_START);
    expect(written).toContain(TABLE_END);
    expect(written).toBe(operationsText());
  });
});
