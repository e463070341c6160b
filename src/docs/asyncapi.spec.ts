import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Parser } from '@asyncapi/parser';
import ts from 'typescript';
import { parse } from 'yaml';
import { parseClientFrame } from '../modules/chat/envelope-parser';
import { CLIENT_MESSAGE_TYPES } from '../protocol/frames';
import { messageKey } from './asyncapi';
import { asyncApiText, DOCS_DIR } from './generate';

const FRAMES_FILE = join(__dirname, '..', 'protocol', 'frames.ts');

// The members of ServerMessage['type'] as the compiler sees them, so a frame added to the union
// (not only to the table in asyncapi-frames.ts) is caught.
function serverFrameTypes(): string[] {
  const program = ts.createProgram([FRAMES_FILE], { strict: true, noEmit: true });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(FRAMES_FILE) as ts.SourceFile;
  const alias = source.statements.find(
    (statement): statement is ts.TypeAliasDeclaration =>
      ts.isTypeAliasDeclaration(statement) && statement.name.text === 'ServerMessage',
  );
  if (!alias) throw new Error('no ServerMessage in frames.ts');
  const union = checker.getTypeAtLocation(alias.name);
  const types = new Set<string>();
  for (const member of union.isUnion() ? union.types : [union]) {
    const type = checker.getTypeOfSymbol(member.getProperty('type') as ts.Symbol);
    for (const literal of type.isUnion() ? type.types : [type])
      if (literal.isStringLiteral()) types.add(literal.value);
  }
  return [...types].sort();
}

interface Schema {
  required?: string[];
  properties?: Record<string, Schema>;
  const?: unknown;
}
interface Message {
  name: string;
  payload: Schema;
  examples: Array<{ payload: Record<string, unknown> }>;
}

// What the parser does not check: an example has the payload's required fields and type, and no
// field the payload does not name (one level deep, and into metadata).
function exampleProblems(schema: Schema, example: Record<string, unknown>, at = ''): string[] {
  const problems: string[] = [];
  for (const field of schema.required ?? []) if (!(field in example)) problems.push(`${at}${field} missing`);
  for (const [field, value] of Object.entries(example)) {
    const property = schema.properties?.[field];
    if (!property) {
      if (at === '') problems.push(`${field} not in the payload schema`);
    } else if (property.const !== undefined && property.const !== value)
      problems.push(`${at}${field} ≠ const`);
    else if (property.properties && value && typeof value === 'object')
      problems.push(...exampleProblems(property, value as Record<string, unknown>, `${at}${field}.`));
  }
  return problems;
}

describe('AsyncAPI document', () => {
  const written = readFileSync(join(DOCS_DIR, 'asyncapi.yaml'), 'utf8');
  const document = parse(written) as { components: { messages: Record<string, Message> } };

  it('should be valid AsyncAPI 3 for the official parser', async () => {
    const { document: parsed, diagnostics } = await new Parser().parse(written);
    // severity 0 = error, 1 = warning
    expect(diagnostics.filter((diagnostic) => diagnostic.severity <= 1).map((d) => d.message)).toEqual([]);
    expect(parsed?.version()).toBe('3.0.0');
    expect(parsed?.channels().get('chat')?.address()).toBe('/chat/ws');
  });

  it('should describe every client frame type of the protocol module', () => {
    for (const type of CLIENT_MESSAGE_TYPES)
      expect([type, document.components.messages[messageKey('client', type)]?.name]).toEqual([type, type]);
  });

  it("should describe every member of ServerMessage['type']", () => {
    const types = serverFrameTypes();
    expect(types).toEqual(expect.arrayContaining(['ack', 'ai_response', 'connection_status', 'error']));
    for (const type of types)
      expect([type, document.components.messages[messageKey('server', type)]?.name]).toEqual([type, type]);
  });

  it('should give every message an example that fits its payload', () => {
    for (const [key, message] of Object.entries(document.components.messages)) {
      expect(message.examples.length).toBeGreaterThan(0);
      for (const example of message.examples)
        expect([key, exampleProblems(message.payload, example.payload)]).toEqual([key, []]);
    }
  });

  it("should give client frames examples the server's own parser accepts", () => {
    for (const type of CLIENT_MESSAGE_TYPES) {
      const { examples } = document.components.messages[messageKey('client', type)];
      for (const example of examples) {
        const result = parseClientFrame(JSON.stringify(example.payload), 4096);
        expect([type, result.ok]).toEqual([type, true]);
      }
    }
  });

  it('should match the generator (run `npm run docs` after changing the protocol)', () => {
    expect(written).toBe(asyncApiText());
  });
});
