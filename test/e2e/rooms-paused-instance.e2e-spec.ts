import type { RunningApp } from '../helpers/app';
import { type HoldingRelay, insertOf, startRelayedPair, type RelayedPair } from '../helpers/holding-relay';
import type { AppProcess } from '../helpers/process';
import { uniqueUser, userToken } from '../helpers/tokens';
import type { TestClient } from '../helpers/ws-client';
import { api, createRoom, join as joinRoom, roomsSocket, waitUntil, type RoomFrame } from './rooms.helpers';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Shown {
  content?: string;
  deleted: boolean;
  reactions: Record<string, string[]>;
}

// A member's view of a message built from the frames its socket got, as the client applies them
// (docs/protocol.md: the client drops a change of a message it does not hold).
function viewOf(frames: RoomFrame[], roomId: string, messageId: string): Shown | null {
  let view: Shown | null = null;
  for (const frame of frames) {
    if (frame.room_id !== roomId || frame.message_id !== messageId) continue;
    const meta = (frame.metadata ?? {}) as Record<string, unknown>;
    if (frame.type === 'chat') {
      view ??= {
        content: frame.content as string | undefined,
        deleted: meta.deleted === true,
        reactions: { ...((meta.reactions as Record<string, string[]>) ?? {}) },
      };
      continue;
    }
    if (!view) continue;
    if (frame.type === 'edit' && !view.deleted) view.content = frame.content as string;
    if (frame.type === 'delete') view = { deleted: true, reactions: {} };
    if (frame.type === 'react' && !view.deleted) {
      const users = new Set(view.reactions[frame.content as string] ?? []);
      if (meta.removed === true) users.delete(frame.user_id!);
      else users.add(frame.user_id!);
      view.reactions[frame.content as string] = [...users];
    }
  }
  return view;
}

// Two built instances, A reaching the store through a HoldingRelay, which pins "A sent this insert and
// then froze": the insert is held, A is stopped (SIGSTOP), the insert is let through (the store holds
// the message, its answer waits in A's socket), B acts, then A resumes (SIGCONT).
describe('rooms: an instance paused between a message insert and its fan-out (e2e, built server)', () => {
  let pair: RelayedPair | undefined;
  let relay: HoldingRelay;
  let a: AppProcess | undefined;
  let b: AppProcess | undefined;
  const open: TestClient[] = [];
  const appOf = (instance: AppProcess) =>
    ({
      httpUrl: `http://127.0.0.1:${instance.port}`,
      wsUrl: `ws://127.0.0.1:${instance.port}/chat/ws`,
    }) as RunningApp;

  beforeAll(async () => {
    pair = await startRelayedPair({ ROOM_RATE_LIMIT_MESSAGES_PER_SECOND: '1000' });
    ({ relay, a, b } = pair);
  }, 90_000);
  afterAll(async () => {
    await Promise.all(open.map((client) => client.close()));
    await pair?.close();
  }, 60_000);

  const socket = async (instance: AppProcess, token: string) => {
    const client = await roomsSocket(appOf(instance), token);
    open.push(client);
    return client;
  };
  const answer = (client: TestClient, clientId: string, timeoutMs = 20_000) =>
    client.next(
      (frame) => frame.client_id === clientId && (frame.type === 'ack' || frame.type === 'error'),
      timeoutMs,
    ) as Promise<RoomFrame>;

  // Found by the pause black-box audit in session 44 (3 of 3 runs for each of delete, edit and react,
  // every round). In a room B had fanned out no message of since its sockets joined (no room order
  // there yet), a member's chat stored by A, which froze before fanning it out, was deleted, edited
  // or reacted to on B: B sent the change to its sockets at once, A's `chat` came after it, and every
  // member on B, dropping a change of a message it did not hold, showed the message as it was before
  // (docs/protocol.md, "Guarantees").
  it.each(['delete', 'edit', 'react'] as const)(
    'should never show a member on B the message as it was before its %s, after A resumes (quiet room)',
    async (change) => {
      const wrong: string[] = [];
      for (let round = 0; round < 2; round++) {
        const [ownerToken, senderToken, watcherToken] = ['owner', 'sender', 'watcher'].map((name) =>
          userToken(uniqueUser(name)),
        );
        const roomId = await createRoom(appOf(b!), ownerToken, 'public');
        for (const token of [senderToken, watcherToken])
          expect((await api(appOf(b!), token, 'POST', `/rooms/${roomId}/join`)).status).toBeLessThan(300);
        const sA = await socket(a!, senderToken);
        const sB = await socket(b!, senderToken);
        const wA = await socket(a!, watcherToken);
        const wB = await socket(b!, watcherToken);
        for (const client of [sA, sB, wA, wB]) await joinRoom(client, roomId);

        const held = relay.arm(insertOf('chat_messages'));
        sA.send({ type: 'chat', room_id: roomId, content: 'original', client_id: 'late' });
        await held;
        a!.child.kill('SIGSTOP');
        relay.release();
        let messageId = '';
        await waitUntil(async () => {
          const history = await api<{ items: RoomFrame[] }>(
            appOf(b!),
            senderToken,
            'GET',
            `/rooms/${roomId}/messages`,
          );
          messageId = history.body.items?.find((item) => item.content === 'original')?.message_id ?? '';
          return messageId !== '';
        });
        const by = change === 'react' ? wB : sB;
        by.send({
          type: change,
          room_id: roomId,
          message_id: messageId,
          client_id: 'change',
          ...(change === 'edit' ? { content: 'edited' } : change === 'react' ? { content: '👍' } : {}),
        });
        expect((await answer(by, 'change')).type).toBe('ack');
        await sleep(400);
        a!.child.kill('SIGCONT');
        expect((await answer(sA, 'late')).type).toBe('ack');
        await sleep(1000);

        const history = await api<{ items: RoomFrame[] }>(
          appOf(b!),
          senderToken,
          'GET',
          `/rooms/${roomId}/messages`,
        );
        const stored = history.body.items.find((item) => item.message_id === messageId)!;
        const meta = (stored.metadata ?? {}) as Record<string, unknown>;
        const truth: Shown = {
          content: stored.content as string | undefined,
          deleted: meta.deleted === true,
          reactions: (meta.reactions as Record<string, string[]>) ?? {},
        };
        for (const [name, client] of Object.entries({ sB, wA, wB })) {
          const shown = viewOf(client.frames as RoomFrame[], roomId, messageId);
          if (
            shown === null ||
            shown.deleted !== truth.deleted ||
            (shown.content ?? null) !== (truth.content ?? null) ||
            JSON.stringify(shown.reactions) !== JSON.stringify(truth.reactions)
          ) {
            const order = (client.frames as RoomFrame[])
              .filter((f) => f.message_id === messageId && f.type !== 'ack')
              .map((f) => f.type);
            wrong.push(
              `round ${round} ${name}: shows ${JSON.stringify(shown)}, stored ${JSON.stringify(truth)} [${order.join(',')}]`,
            );
          }
        }
      }
      expect(wrong).toEqual([]);
    },
    30_000,
  );
});
