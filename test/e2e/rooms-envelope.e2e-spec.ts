import type { RunningApp } from '../helpers/app';
import { TestClient, type Frame } from '../helpers/ws-client';
import { api, createRoom, join, say, TwoInstances, withTwoInstances, type RoomFrame } from './rooms.helpers';

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// The room envelope `{ type, timestamp, user_id, room_id, message_id, content, metadata }` (the
// issue; docs/protocol.md, "Rooms"): every frame the server sends on a room socket says when the
// server made it, and whose it is where it is about a user (black-box audit of the rooms: finding 5).
describe('rooms: the envelope of every server frame (e2e, two instances)', () => {
  jest.setTimeout(60_000);
  let cluster: TwoInstances;
  let first: RunningApp;
  let second: RunningApp;

  withTwoInstances((started) => {
    cluster = started;
    ({ first, second } = started);
  });

  // `timestamp` an ISO-8601 instant made while the test ran
  const stamped = (frame: Frame, since: number): boolean => {
    const at = typeof frame.timestamp === 'string' ? Date.parse(frame.timestamp) : NaN;
    if (Number.isNaN(at)) return false;
    return new Date(at).toISOString() === frame.timestamp && at >= since - 1000 && at <= Date.now() + 1000;
  };
  const kinds = (frame: Frame) => `${frame.type}${frame.metadata?.phase ? `/${frame.metadata.phase}` : ''}`;

  it('should give every room frame a timestamp, and the user it is about in user_id', async () => {
    const since = Date.now();
    const alice = cluster.person();
    const bob = cluster.person();
    const roomId = await createRoom(first, alice.token);
    const a = await cluster.socket(first, alice.token);
    // bob on the AI chat's socket: room frames carry the same envelope there
    const b = cluster.track(await TestClient.connect(`${second.wsUrl}?token=${bob.token}`));
    await b.nextOfType('connection_status');
    await join(a, roomId);
    await join(b, roomId);
    const hello = await say(a, roomId, 'hello', 'e-1');
    const ask = (client: TestClient, frame: Record<string, unknown>, clientId: string) => {
      client.send({ ...frame, client_id: clientId });
      return client.next((candidate) => candidate.client_id === clientId);
    };
    await ask(a, { type: 'edit', room_id: roomId, message_id: hello.message_id, content: 'hello 2' }, 'e-2');
    await ask(a, { type: 'react', room_id: roomId, message_id: hello.message_id, content: '👍' }, 'e-3');
    a.send({ type: 'typing', room_id: roomId, metadata: { typing: true } });
    await ask(b, { type: 'read', room_id: roomId, seq: 1 }, 'e-4');
    await ask(b, { type: 'heartbeat' }, 'e-5');
    await ask(b, { type: 'chat', room_id: roomId, content: '' }, 'e-6');
    await ask(a, { type: 'delete', room_id: roomId, message_id: hello.message_id }, 'e-7');
    await say(a, roomId, '@ai hi', 'e-8');
    await a.next((frame) => frame.type === 'ai_stream' && frame.metadata?.phase === 'end', 10_000);
    await b.next((frame) => frame.type === 'ai_stream' && frame.metadata?.phase === 'end', 10_000);
    // a direct message's read receipt, a kick's leave and rooms_changed
    const dm = await say(a, `@${bob.id}`, 'psst', 'e-9');
    await join(a, dm.room_id as string);
    await join(b, dm.room_id as string);
    await ask(b, { type: 'read', room_id: dm.room_id, seq: dm.seq }, 'e-10');
    await a.next((frame) => frame.type === 'read');
    const secret = await createRoom(first, alice.token, 'private', [bob.id]);
    await join(b, secret);
    await join(a, secret);
    await api(first, alice.token, 'POST', `/rooms/${secret}/moderation/kick`, { user_id: bob.id });
    await b.next((frame) => frame.type === 'rooms_changed' && frame.metadata?.reason === 'removed');
    await pause(1500);

    const seen = new Set<string>();
    for (const [client, userId] of [
      [a, alice.id],
      [b, bob.id],
    ] as const)
      // (the AI chat's own connection_status aside)
      for (const frame of client.frames.filter((f) => client === a || f.type !== 'connection_status')) {
        const room = frame as RoomFrame;
        seen.add(kinds(frame));
        expect({ frame, stamped: stamped(frame, since) }).toEqual({ frame, stamped: true });
        expect({ frame, has: typeof room.user_id }).toEqual({ frame, has: 'string' });
        // an answer is about the user it answers
        if (frame.type === 'ack' || frame.type === 'error' || frame.type === 'connection_status')
          expect({ frame, user: room.user_id }).toEqual({ frame, user: userId });
        if (frame.type === 'presence') {
          const users = (frame.metadata?.users as Array<{ user_id: string }>).map((entry) => entry.user_id);
          expect(users).toContain(room.user_id);
        }
      }
    expect([...seen].sort()).toEqual(
      [
        'ack',
        'ai_stream/delta',
        'ai_stream/end',
        'ai_stream/start',
        'chat',
        'connection_status',
        'delete',
        'edit',
        'error',
        'join',
        'leave',
        'presence',
        'react',
        'read',
        'rooms_changed',
        'typing',
      ].sort(),
    );
    // one frame, made once: the same time on both instances' sockets
    const reacted = (client: TestClient) => client.frames.find((frame) => frame.type === 'react');
    expect(reacted(b)?.timestamp).toBe(reacted(a)?.timestamp);
  });
});
