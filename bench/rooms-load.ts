// The rooms benchmark's load generator: one distinct user per socket, each a member of one room,
// sending at its own pace. Lean on purpose (it shares two cores with the servers): frames are
// recognised by their first bytes and only `seq` and `client_id` are read from them, by byte
// search; a full JSON.parse happens only for the rare error frame. A message's client_id carries
// its send time (µs on this process's clock), its sender's instance and index, so a delivery is
// timed without looking anything up.
import { setTimeout as sleep } from 'node:timers/promises';
import type WebSocket from 'ws';

export interface Member {
  index: number;
  user: string;
  token: string;
  socket: WebSocket;
  // which server process the socket is connected to
  instance: number;
  room: string;
  // the socket's position when its join was answered
  joinSeq: number;
  // highest chat seq received; a chat frame at or below it is out of order or doubled
  lastChat: number;
  outOfOrder: number;
  // every seq received (chat) or acked (own messages), when kept for the end-of-phase check
  seqs: number[] | null;
}

export interface Answer {
  type: 'ack' | 'error' | 'join' | 'chat';
  seq: number;
  code?: string;
  retryAfter?: number;
  recoverable?: boolean;
}

const PREFIX = Buffer.from('{"type":"');
const SEQ = Buffer.from('"seq":');
const CLIENT_ID = Buffer.from('"client_id":"');
const QUOTE = 0x22;
const DOT = 0x2e;

// Samples taken from frames as they arrive.
export class Recorder {
  // messages sent in [windowStart, windowEnd] (ms, performance.now()) are timed
  windowStart = Number.POSITIVE_INFINITY;
  windowEnd = Number.POSITIVE_INFINITY;
  // send → seen by another member (ms), all and those sent on another instance than the receiver's
  deliveries: number[] = [];
  crossDeliveries: number[] = [];
  // send → ack to the sender (ms)
  acks: number[] = [];
  // chat frames received, at any time
  delivered = 0;
  errors = new Map<string, number>();
  // answers awaited by client_id: acks, errors and joins to the sender; chat frames seen by a probe socket
  readonly waiters = new Map<string, (answer: Answer) => void>();
  readonly probeWaiters = new Map<string, (answer: Answer) => void>();

  attach(member: Member, probe = false): void {
    member.socket.on('message', (data: Buffer) => this.onFrame(member, data, probe));
  }

  reset(): void {
    this.deliveries = [];
    this.crossDeliveries = [];
    this.acks = [];
    this.errors.clear();
    this.windowStart = this.windowEnd = Number.POSITIVE_INFINITY;
  }

  private onFrame(member: Member, data: Buffer, probe: boolean): void {
    const at = performance.now();
    if (data.length < 12 || data.compare(PREFIX, 0, PREFIX.length, 0, PREFIX.length) !== 0) return;
    const first = data[9];
    const second = data[10];
    if (first === 0x63 /* c */ && second === 0x68 /* h */) {
      this.delivered++;
      const seq = intAfter(data, SEQ);
      if (seq <= member.lastChat) member.outOfOrder++;
      else member.lastChat = seq;
      member.seqs?.push(seq);
      const idAt = data.indexOf(CLIENT_ID);
      if (idAt < 0) return;
      const start = idAt + CLIENT_ID.length;
      const sentAt = sentAtOf(data, start);
      if (sentAt >= this.windowStart && sentAt <= this.windowEnd) {
        const latency = at - sentAt;
        this.deliveries.push(latency);
        if (instanceOf(data, start) !== member.instance) this.crossDeliveries.push(latency);
      }
      if (probe) this.answer(this.probeWaiters, stringAt(data, start), { type: 'chat', seq });
    } else if (first === 0x61 /* a */) {
      const idAt = data.indexOf(CLIENT_ID);
      const seq = intAfter(data, SEQ);
      if (seq > 0) member.seqs?.push(seq);
      if (idAt < 0) return;
      const start = idAt + CLIENT_ID.length;
      const sentAt = sentAtOf(data, start);
      if (sentAt >= this.windowStart && sentAt <= this.windowEnd) this.acks.push(at - sentAt);
      this.answer(this.waiters, stringAt(data, start), { type: 'ack', seq });
    } else if (first === 0x6a /* j */) {
      const idAt = data.indexOf(CLIENT_ID);
      if (idAt >= 0)
        this.answer(this.waiters, stringAt(data, idAt + CLIENT_ID.length), {
          type: 'join',
          seq: intAfter(data, SEQ),
        });
    } else if (first === 0x65 /* e */) {
      // rare: read it whole
      const frame = JSON.parse(data.toString()) as {
        client_id?: string;
        error?: { code?: string; retry_after?: number; recoverable?: boolean };
      };
      const code = frame.error?.code ?? 'unknown';
      this.errors.set(code, (this.errors.get(code) ?? 0) + 1);
      if (frame.client_id !== undefined)
        this.answer(this.waiters, frame.client_id, {
          type: 'error',
          seq: 0,
          code,
          retryAfter: frame.error?.retry_after,
          recoverable: frame.error?.recoverable,
        });
    }
  }

  private answer(waiters: Map<string, (answer: Answer) => void>, clientId: string, answer: Answer): void {
    const waiter = waiters.get(clientId);
    if (!waiter) return;
    waiters.delete(clientId);
    waiter(answer);
  }

  // Resolves with the answer to `clientId` (or a timeout error answer); `probe`: when a probe socket
  // received the message instead.
  wait(clientId: string, timeoutMs = 30_000, probe = false): Promise<Answer> {
    const waiters = probe ? this.probeWaiters : this.waiters;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        waiters.delete(clientId);
        resolve({ type: 'error', seq: 0, code: 'TIMEOUT' });
      }, timeoutMs);
      waiters.set(clientId, (answer) => {
        clearTimeout(timer);
        resolve(answer);
      });
    });
  }

  errorCount(): number {
    let total = 0;
    for (const count of this.errors.values()) total += count;
    return total;
  }
}

// the unsigned integer right after `key`
function intAfter(data: Buffer, key: Buffer): number {
  const at = data.indexOf(key);
  if (at < 0) return 0;
  let value = 0;
  for (let index = at + key.length; index < data.length; index++) {
    const byte = data[index];
    if (byte < 0x30 || byte > 0x39) break;
    value = value * 10 + byte - 0x30;
  }
  return value;
}

function stringAt(data: Buffer, start: number): string {
  const end = data.indexOf(QUOTE, start);
  return data.toString('latin1', start, end < 0 ? data.length : end);
}

// client_id = `<µs>.<instance>.<sender>.<k>`: the send time in ms, NaN for other ids
function sentAtOf(data: Buffer, start: number): number {
  let micros = 0;
  let index = start;
  for (; index < data.length; index++) {
    const byte = data[index];
    if (byte < 0x30 || byte > 0x39) break;
    micros = micros * 10 + byte - 0x30;
  }
  return index > start && data[index] === DOT ? micros / 1000 : Number.NaN;
}

function instanceOf(data: Buffer, start: number): number {
  const dot = data.indexOf(DOT, start);
  return dot < 0 ? -1 : data[dot + 1] - 0x30;
}

export function messageId(member: Member, k: number): string {
  return `${Math.round(performance.now() * 1000)}.${member.instance}.${member.index}.${k}`;
}

const WORDS = (
  'the quick brown fox jumps over the lazy dog while everyone in the room reads along and replies ' +
  'with a thought of their own about lunch plans meetings release dates and weekend football scores ' +
  'and somebody asks whether the build is green again before the demo this afternoon or tomorrow '
).repeat(2);

// plain words (nothing a JSON string needs to escape), `length` (≤ 200) characters
export function typedText(length: number): string {
  const start = (length * 7) % (WORDS.length - 200);
  // WORDS is longer than 400 characters, so any start leaves 200
  return WORDS.slice(start, start + length);
}

// a chat frame as a client writes it (no JSON.stringify on the hot path)
export function chatFrame(room: string, clientId: string, length: number): string {
  return `{"type":"chat","room_id":"${room}","client_id":"${clientId}","content":"${typedText(length)}"}`;
}

// a message length people type: mostly short, sometimes a paragraph (20..200 characters)
export function typedLength(): number {
  return Math.round(20 + 180 * Math.random() ** 2);
}

// Joins every member to its room over its socket, `concurrency` at a time.
export async function joinAll(members: Member[], recorder: Recorder, concurrency = 50): Promise<number> {
  let next = 0;
  let failures = 0;
  const worker = async (): Promise<void> => {
    while (next < members.length) {
      const member = members[next++];
      const clientId = `j-${member.index}`;
      const answer = recorder.wait(clientId);
      member.socket.send(`{"type":"join","room_id":"${member.room}","client_id":"${clientId}"}`);
      const result = await answer;
      if (result.type === 'join') member.joinSeq = member.lastChat = result.seq;
      else failures++;
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, members.length) }, worker));
  return failures;
}

// Every member sends on its own: exponential gaps (a Poisson process) with the mean that makes
// `perSecond` messages a second in all, from now for `durationMs`. Does not wait for acks.
export async function paced(members: Member[], perSecond: number, durationMs: number): Promise<number> {
  const meanGapMs = (members.length / perSecond) * 1000;
  const end = performance.now() + durationMs;
  let sent = 0;
  await Promise.all(
    members.map(async (member) => {
      for (let k = 0; ; k++) {
        await sleep(-Math.log(1 - Math.random()) * meanGapMs);
        if (performance.now() >= end) return;
        member.socket.send(chatFrame(member.room, messageId(member, k), typedLength()));
        sent++;
      }
    }),
  );
  return sent;
}

// Every seq of each member's room after its join, once: received as chat or acked as its own.
export function coverage(members: Member[]): { missing: number; doubled: number; outOfOrder: number } {
  const heads = new Map<string, number>();
  for (const member of members)
    for (const seq of member.seqs ?? []) heads.set(member.room, Math.max(heads.get(member.room) ?? 0, seq));
  let missing = 0;
  let doubled = 0;
  let outOfOrder = 0;
  for (const member of members) {
    outOfOrder += member.outOfOrder;
    const counts = new Map<number, number>();
    for (const seq of member.seqs ?? []) counts.set(seq, (counts.get(seq) ?? 0) + 1);
    const head = heads.get(member.room) ?? 0;
    for (let seq = member.joinSeq + 1; seq <= head; seq++) {
      const count = counts.get(seq) ?? 0;
      if (count === 0) missing++;
      else if (count > 1) doubled += count - 1;
    }
  }
  return { missing, doubled, outOfOrder };
}
