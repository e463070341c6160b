import fc from 'fast-check';
import { READ_MIN_INTERVAL_MS, ReadMarks } from './read-marks';

const ROOMS = ['a', 'b'];

describe(ReadMarks.name, () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  // Random marks, answers (ack, over the budget, refused for good), reconnects (the unanswered are
  // lost with the socket) and time against a server that keeps each room's highest mark: every
  // room's mark reaches the server unless one of its reads was refused for good, no two sends are
  // less than a second apart, and a room's read goes only while it is ready.
  it("should bring every room's newest mark to the server, at most once a second (property)", () => {
    type Step =
      | { kind: 'mark'; room: string; seq: number }
      | { kind: 'answer'; with: 'ack' | 'RATE_LIMITED' | 'NOT_A_MEMBER' }
      | { kind: 'reconnect' }
      | { kind: 'ready'; room: string; ready: boolean }
      | { kind: 'time'; ms: number };
    const step: fc.Arbitrary<Step> = fc.oneof(
      fc.record({
        kind: fc.constant('mark' as const),
        room: fc.constantFrom(...ROOMS),
        seq: fc.integer({ min: 1, max: 50 }),
      }),
      fc.record({
        kind: fc.constant('answer' as const),
        with: fc.constantFrom(
          'ack' as const,
          'ack' as const,
          'RATE_LIMITED' as const,
          'NOT_A_MEMBER' as const,
        ),
      }),
      fc.constant({ kind: 'reconnect' as const }),
      fc.record({
        kind: fc.constant('ready' as const),
        room: fc.constantFrom(...ROOMS),
        ready: fc.boolean(),
      }),
      fc.record({ kind: fc.constant('time' as const), ms: fc.integer({ min: 0, max: 2_000 }) }),
    );
    fc.assert(
      fc.property(fc.array(step, { maxLength: 50 }), (steps) => {
        jest.clearAllTimers();
        jest.setSystemTime(1_000_000);
        const ready = new Set(ROOMS);
        const server = new Map<string, number>();
        const given = new Map<string, number>();
        const lost = new Set<string>();
        let inFlight: Array<{ roomId: string; seq: number; clientId: string }> = [];
        const sentAt: number[] = [];
        let ids = 0;
        const marks = new ReadMarks({
          send: (roomId, seq, clientId) => {
            expect(ready.has(roomId)).toBe(true);
            if (sentAt.at(-1) !== Date.now()) sentAt.push(Date.now());
            inFlight.push({ roomId, seq, clientId });
          },
          ready: (roomId) => ready.has(roomId),
          newClientId: () => String(++ids),
        });
        for (const next of steps) {
          if (next.kind === 'mark') {
            given.set(next.room, Math.max(next.seq, given.get(next.room) ?? 0));
            marks.mark(next.room, next.seq);
          }
          if (next.kind === 'answer' && inFlight.length > 0) {
            const read = inFlight.shift()!;
            if (next.with === 'ack') {
              server.set(read.roomId, Math.max(read.seq, server.get(read.roomId) ?? 0));
              expect(marks.acked(read.clientId)).toBe(true);
            } else {
              if (next.with === 'NOT_A_MEMBER') lost.add(read.roomId);
              expect(marks.refused(read.clientId, next.with, 500)).toBe(true);
            }
          }
          if (next.kind === 'reconnect') {
            inFlight = [];
            marks.reconnected();
            marks.flush();
          }
          if (next.kind === 'ready') {
            if (next.ready) ready.add(next.room);
            else ready.delete(next.room);
            marks.flush();
          }
          if (next.kind === 'time') jest.advanceTimersByTime(next.ms);
        }
        // everything ready, everything answered
        for (const room of ROOMS) ready.add(room);
        marks.flush();
        for (let round = 0; round < 100; round++) {
          if (inFlight.length > 0) {
            const read = inFlight.shift()!;
            server.set(read.roomId, Math.max(read.seq, server.get(read.roomId) ?? 0));
            marks.acked(read.clientId);
          } else if (jest.getTimerCount() > 0) jest.advanceTimersByTime(READ_MIN_INTERVAL_MS);
          else break;
        }
        for (const [room, seq] of given) if (!lost.has(room)) expect(server.get(room)).toBe(seq);
        for (let index = 1; index < sentAt.length; index++)
          expect(sentAt[index] - sentAt[index - 1]).toBeGreaterThanOrEqual(READ_MIN_INTERVAL_MS);
      }),
      { numRuns: 300 },
    );
  });
});
