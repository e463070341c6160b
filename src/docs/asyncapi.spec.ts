import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Parser } from '@asyncapi/parser';
import ts from 'typescript';
import { parse } from 'yaml';
import { parseClientFrame } from '../modules/chat/envelope-parser';
import { validateRoomFrame } from '../modules/rooms/room-frame-parser';
import { CLIENT_MESSAGE_TYPES } from '../protocol/frames';
import { ROOM_CLIENT_TYPES } from '../protocol/rooms';
import { messageKey, roomMessageKey } from './asyncapi';
import { asyncApiText, DOCS_DIR } from './generate';

const FRAMES_FILE = join(__dirname, '..', 'protocol', 'frames.ts');
const ROOMS_FILE = join(__dirname, '..', 'protocol', 'rooms.ts');
const ROOM_SERVER_FILE = join(__dirname, '..', 'protocol', 'room-server-frames.ts');

// The members of a union's ['type'] (ServerMessage of frames.ts, RoomClientFrame of rooms.ts,
// RoomServerFrame of room-server-frames.ts) as the compiler sees them, so a frame added to the union
// (not only to the tables in asyncapi-frames.ts and asyncapi-room-*-frames.ts) is caught.
function frameTypes(file = FRAMES_FILE, union = 'ServerMessage'): string[] {
  const program = ts.createProgram([file], { strict: true, noEmit: true });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(file) as ts.SourceFile;
  const alias = source.statements.find(
    (statement): statement is ts.TypeAliasDeclaration =>
      ts.isTypeAliasDeclaration(statement) && statement.name.text === union,
  );
  if (!alias) throw new Error(`no ${union} in ${file}`);
  const type = checker.getTypeAtLocation(alias.name);
  const types = new Set<string>();
  for (const member of type.isUnion() ? type.types : [type]) {
    const field = checker.getTypeOfSymbol(member.getProperty('type') as ts.Symbol);
    for (const literal of field.isUnion() ? field.types : [field])
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
  const document = parse(written) as {
    components: { messages: Record<string, Message> };
    channels: Record<string, { messages: Record<string, unknown>; description: string }>;
  };

  it('should be valid AsyncAPI 3 for the official parser', async () => {
    const { document: parsed, diagnostics } = await new Parser().parse(written);
    // severity 0 = error, 1 = warning
    expect(diagnostics.filter((diagnostic) => diagnostic.severity <= 1).map((d) => d.message)).toEqual([]);
    expect(parsed?.version()).toBe('3.0.0');
    expect(parsed?.channels().get('chat')?.address()).toBe('/chat/ws');
    expect(parsed?.channels().get('rooms')?.address()).toBe('/ws/chat');
  });

  it('should describe every client frame type of the protocol module', () => {
    for (const type of CLIENT_MESSAGE_TYPES)
      expect([type, document.components.messages[messageKey('client', type)]?.name]).toEqual([type, type]);
  });

  it("should describe every member of ServerMessage['type']", () => {
    const types = frameTypes();
    expect(types).toEqual(expect.arrayContaining(['ack', 'ai_response', 'connection_status', 'error']));
    for (const type of types)
      expect([type, document.components.messages[messageKey('server', type)]?.name]).toEqual([type, type]);
  });

  it("should describe every member of RoomClientFrame['type'], on both sockets", () => {
    const types = frameTypes(ROOMS_FILE, 'RoomClientFrame');
    expect(types).toEqual([...ROOM_CLIENT_TYPES].sort());
    for (const type of types) {
      const key = roomMessageKey('client', type);
      expect([type, document.components.messages[key]?.name]).toEqual([type, type]);
      expect([key, key in document.channels.rooms.messages, key in document.channels.chat.messages]).toEqual([
        key,
        true,
        true,
      ]);
    }
  });

  it("should describe every member of RoomServerFrame['type'], on /ws/chat and (but its first frame) on /chat/ws", () => {
    const types = frameTypes(ROOM_SERVER_FILE, 'RoomServerFrame');
    expect(types).toEqual(
      expect.arrayContaining(['ack', 'chat', 'connection_status', 'error', 'join', 'presence']),
    );
    for (const type of types) {
      const key = roomMessageKey('server', type);
      expect([type, document.components.messages[key]?.name]).toEqual([type, type]);
      expect([key, key in document.channels.rooms.messages, key in document.channels.chat.messages]).toEqual([
        key,
        true,
        type !== 'connection_status',
      ]);
    }
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

  it("should give room client frames examples the server's room frame parser accepts", () => {
    for (const type of ROOM_CLIENT_TYPES) {
      const { examples } = document.components.messages[roomMessageKey('client', type)];
      for (const example of examples) {
        const result = validateRoomFrame(JSON.parse(JSON.stringify(example.payload)), 4096);
        expect([type, result.ok]).toEqual([type, true]);
      }
    }
  });

  // a client must know the drain to get through it (docs/protocol.md, "Shutdown"): until the deploy
  // audit neither channel said what 1001 or an upgrade's 503 mean, nor what to do then
  it('should describe the drain on both sockets: 1001, 503 at the upgrade, and how to come back', () => {
    for (const name of ['chat', 'rooms']) {
      const { description } = document.channels[name];
      expect(description).toContain('1001');
      expect(description).toContain('server shutting down');
      expect(description).toMatch(/503/);
      expect(description).toContain('client_id');
      expect(description).toContain('last_seq');
    }
    expect(document.channels.chat.description).toContain('session_id');
  });

  it('should match the generator (run `npm run docs` after changing the protocol)', () => {
    expect(written).toBe(asyncApiText());
  });
});
