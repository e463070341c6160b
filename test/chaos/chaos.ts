import { startAppProcess, type AppProcess } from '../helpers/process';
import { listening, RedisServer } from '../helpers/redis-server';
import { StoreServer } from '../helpers/store-server';
import { uniqueUser, userToken } from '../helpers/tokens';
import { RoomChaos, type RoomChaosCounts } from './room-chaos';
import { TakeoverChaos, type TakeoverChaosCounts } from './takeover-chaos';
import { openSocket } from './sockets';

// A crashing world for the message pipeline: two instances of the built server behind one Redis on
// one store; clients that send the instant they can, cut their socket 0–40 ms after a send and
// resend the same client_id (on either instance); instances SIGKILLed and SIGTERMed and brought
// back; Redis killed and restarted, or frozen (SIGSTOP) for up to 4 s with its sockets open; the
// store (a FerretDB of its own) stopped and started again, or frozen for up to 8 s; an instance
// paused (SIGSTOP: a long GC, a VM stall) for up to 14 s, past its reply lease (10 s), and resumed.
// Afterwards every session's stored log is read and counted. Rooms go through the same run
// (test/chaos/room-chaos.ts): members of shared rooms and direct messages sending with client_ids,
// editing and reacting, listening devices resuming with last_seq, churners joining and leaving, an
// owner kicking and banning listening users; every room's history is read and counted next to the
// sessions. Takeovers too (test/chaos/takeover-chaos.ts): admins join, write into and leave a few
// users' sessions, or drop their sockets and let the lease lapse, while those users write.

export interface ChaosOptions {
  env: Record<string, string>;
  clients: number;
  durationMs: number;
  // one fault every faultEveryMs
  faultEveryMs: number;
  // the rooms half: members of every public room (paired in direct messages), public rooms, churners
  roomMembers?: number;
  publicRooms?: number;
  roomChurners?: number;
  // the takeovers half: users whose sessions admins take over, and the admins
  assistedUsers?: number;
  admins?: number;
  log?: (line: string) => void;
}

export interface ChaosCounts {
  acked: number;
  lost: number;
  duplicated: number;
  seqGaps: number;
  openTurns: number;
  // acked user turns without a reply of their own (one tagged with their client_id), and replies
  // whose pieces a socket saw interleaved with another reply's (docs/protocol.md, "Every acked turn
  // ends"; both found by a black-box audit with pipelined turns)
  unansweredTurns: number;
  interleaved: number;
  rooms: RoomChaosCounts;
  takeovers: TakeoverChaosCounts;
  faults: Record<string, number>;
}

interface ChatClient {
  user: string;
  token: string;
  // replies seen interleaved on this client's sockets, and when (their trace is printed at the end)
  interleaved?: number;
  interleavings?: string[];
  sessionId?: string;
  acked: Set<string>;
  next: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// What the instances (the dead ones' too) logged as an unexpected error, counted by its cause: an
// INTERNAL a client got says only "something went wrong", these say what (a store or Redis fault
// the chaos made, or a fault of ours).
function unexpectedErrors(outputs: Array<() => string>): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const output of outputs)
    for (const line of output().split('\n')) {
      if (!line.includes('"unexpected error"')) continue;
      const cause = /"err":"((?:[^"\\]|\\.){0,160})/.exec(line)?.[1] ?? line.slice(0, 160);
      counts[cause] = (counts[cause] ?? 0) + 1;
    }
  return counts;
}

export async function runChaos(options: ChaosOptions): Promise<ChaosCounts> {
  // every fault with its time, and every instance's output (the dead ones' too): a session that lost
  // or doubled a message is explained from them (trace)
  const faultLog: string[] = [];
  const outputs: Array<() => string> = [];
  const log = (line: string) => {
    faultLog.push(`${new Date().toISOString()} ${line}`);
    options.log?.(line);
  };
  const trace = (sessionId: string): string[] => [
    ...faultLog.map((line) => `fault ${line}`),
    ...outputs.flatMap((output, index) =>
      output()
        .split('\n')
        .filter((line) => line.includes(sessionId))
        .map((line) => `instance start ${index}: ${line.slice(0, 600)}`),
    ),
  ];
  const start = async (port?: number) => {
    const instance = await startAppProcess(env, port);
    outputs.push(instance.output);
    return instance;
  };
  const redis = await RedisServer.start();
  const store = await StoreServer.start('chatbox-chaos-');
  const env = { ...options.env, REDIS_URL: redis.url, MONGODB_URI: store.uri('chaos') };
  const instances: Array<AppProcess | undefined> = [await start(), undefined];
  instances[1] = await start();
  const ports = instances.map((instance) => instance!.port);
  const faults: Record<string, number> = {
    sigkill: 0,
    sigterm: 0,
    redis: 0,
    freeze: 0,
    store: 0,
    storeFreeze: 0,
    pause: 0,
    cut: 0,
  };
  const rooms = new RoomChaos({
    members: options.roomMembers ?? 4,
    publicRooms: options.publicRooms ?? 3,
    churners: options.roomChurners ?? 2,
    log,
    faults,
  });
  await rooms.setup(ports[0]);
  const takeovers = new TakeoverChaos({
    users: options.assistedUsers ?? 3,
    admins: options.admins ?? 3,
    log,
    faults,
    trace,
  });
  const deadline = Date.now() + options.durationMs;
  let stopping = false;

  const clients: ChatClient[] = Array.from({ length: options.clients }, () => {
    const user = uniqueUser('chaos');
    return { user, token: userToken(user, { expiresInSeconds: 7200 }), acked: new Set(), next: 0 };
  });

  // one client: connect to a random instance, send one message (a new client_id, or the last one
  // again when it was not acked), maybe cut the socket 0–40 ms later, else wait for its reply
  async function drive(client: ChatClient): Promise<void> {
    let unacked: string | undefined;
    while (Date.now() < deadline) {
      const port = ports[Math.floor(Math.random() * ports.length)];
      const socket = await openSocket(`ws://127.0.0.1:${port}/chat/ws?token=${client.token}`);
      if (!socket) {
        await sleep(50);
        continue;
      }
      const clientId = unacked ?? `${client.user}-${client.next++}`;
      unacked = clientId;
      // a fast client now and then sends its next turn the instant this one is acked
      const pipelined = Math.random() < 0.3 ? `${client.user}-${client.next++}` : undefined;
      const replies: string[] = [];
      const outcome = await new Promise<'acked' | 'replied' | 'gone'>((resolve) => {
        let acked = false;
        const finish = (result: 'acked' | 'replied' | 'gone') => {
          socket.removeAllListeners('message');
          resolve(result);
        };
        socket.on('message', (data) => {
          const frame = JSON.parse(data.toString()) as {
            type: string;
            id?: string;
            client_id?: string;
            session_id?: string;
            metadata?: { done?: boolean };
          };
          // a reply's pieces after another reply's, when that one's came before it too: interleaved
          if (frame.type === 'ai_response' && frame.metadata?.done === false && frame.id) {
            if (frame.id !== replies.at(-1) && replies.includes(frame.id)) {
              client.interleaved = (client.interleaved ?? 0) + 1;
              (client.interleavings ??= []).push(
                `${new Date().toISOString()} port ${port} replies ${replies.join(' ')} then ${frame.id} again`,
              );
            }
            if (frame.id !== replies.at(-1)) replies.push(frame.id);
          }
          if (frame.type === 'connection_status') {
            client.sessionId = frame.session_id;
            socket.send(
              JSON.stringify({ type: 'user_message', client_id: clientId, content: `chaos ${clientId}` }),
            );
            if (Math.random() < 0.3) {
              faults.cut++;
              setTimeout(() => socket.terminate(), Math.random() * 40);
            }
          } else if (frame.type === 'ack' && frame.client_id === clientId) {
            acked = true;
            client.acked.add(clientId);
            unacked = undefined;
            if (pipelined)
              socket.send(
                JSON.stringify({ type: 'user_message', client_id: pipelined, content: `chaos ${pipelined}` }),
              );
          } else if (frame.type === 'ack' && pipelined && frame.client_id === pipelined) {
            // never sent again when unacked: a turn acked is what must end
            client.acked.add(pipelined);
          } else if (
            frame.type === 'ai_response' &&
            frame.metadata?.done &&
            acked &&
            frame.client_id === (pipelined ?? clientId)
          ) {
            finish('replied');
          }
        });
        socket.once('close', () => finish(acked ? 'acked' : 'gone'));
        setTimeout(() => finish(acked ? 'acked' : 'gone'), 15_000);
      });
      socket.terminate();
      if (outcome === 'gone') await sleep(20);
    }
  }

  async function monkey(): Promise<void> {
    const kinds = ['sigkill', 'sigterm', 'redis', 'store', 'freeze', 'storeFreeze', 'pause'];
    let turn = 0;
    while (!stopping && Date.now() < deadline - options.faultEveryMs) {
      await sleep(options.faultEveryMs);
      if (stopping) break;
      const kind = kinds[turn % kinds.length];
      // the instance faults alternate between the two instances from one round to the next
      const round = Math.floor(turn / kinds.length);
      turn++;
      faults[kind]++;
      log(`${kind} begins`);
      if (kind === 'store') {
        store.stop();
        // gone for good before it starts again on the same files
        while (await listening(store.port)) await sleep(50);
        await sleep(1000);
        store.start();
        log('store restarted');
        continue;
      }
      if (kind === 'storeFreeze') {
        // under and past the driver's 5 s, after which it cuts the store's connections while the
        // store still holds their commands (docs/protocol.md, "A write given up on")
        const frozenMs = 500 + Math.floor(Math.random() * 7500);
        store.signal('SIGSTOP');
        await sleep(frozenMs);
        store.signal('SIGCONT');
        log(`store frozen for ${frozenMs} ms`);
        continue;
      }
      if (kind === 'freeze') {
        // past the connections' 2 s without an answer, or under it (docs/protocol.md, "Redis that
        // stops answering")
        const frozenMs = 500 + Math.floor(Math.random() * 3500);
        redis.signal('SIGSTOP');
        await sleep(frozenMs);
        redis.signal('SIGCONT');
        log(`redis frozen for ${frozenMs} ms`);
        continue;
      }
      if (kind === 'redis') {
        await redis.kill();
        await sleep(300);
        await redis.restart();
        log('redis restarted');
        continue;
      }
      const index = round % 2;
      const instance = instances[index]!;
      if (kind === 'pause') {
        // under and past the reply lease (10 s) and a takeover's grace in these runs: the instance
        // resumes holding what it held (docs/protocol.md, "Every acked turn ends", the reply lease)
        const pausedMs = 2_000 + Math.floor(Math.random() * 12_000);
        instance.child.kill('SIGSTOP');
        await sleep(pausedMs);
        instance.child.kill('SIGCONT');
        log(`instance ${index} paused for ${pausedMs} ms`);
        continue;
      }
      instance.child.kill(kind === 'sigkill' ? 'SIGKILL' : 'SIGTERM');
      await instance.exited;
      instances[index] = await start(ports[index]);
      log(`instance ${index} ${kind} and back`);
    }
  }

  try {
    await Promise.all([
      ...clients.map(drive),
      monkey(),
      rooms.run(ports, deadline),
      takeovers.run(ports, deadline),
    ]);
    stopping = true;
    // every acked turn must end: give the reply leases time to lapse and the turn watch to answer;
    // meanwhile the rooms are read and every member resumes once more, and the takeovers' leases lapse
    const [counts, roomCounts, takeoverCounts] = await Promise.all([
      settle(clients, ports[0], 90_000, trace),
      rooms.settle(ports[0], 90_000),
      takeovers.settle(ports[0], 90_000),
    ]);
    console.log(`chaos: unexpected errors ${JSON.stringify(unexpectedErrors(outputs))}`);
    return { ...counts, rooms: roomCounts, takeovers: takeoverCounts, faults };
  } catch (error) {
    // what the running instances logged as errors says why (their output is kept in memory)
    for (const instance of instances)
      for (const line of instance?.output().split('\n') ?? [])
        if (line.includes('"level":50')) console.log(`chaos: instance error: ${line.slice(0, 2000)}`);
    throw error;
  } finally {
    rooms.stop();
    takeovers.stop();
    for (const instance of instances) {
      instance?.child.kill('SIGKILL');
      await instance?.exited;
    }
    await redis.kill();
    store.remove();
  }
}

interface StoredMessage {
  seq: number;
  type: string;
  sender: string;
  client_id?: string;
  content?: string;
}

// Reconnects every client (so its session is watched) and reads its log until no turn is open.
async function settle(
  clients: ChatClient[],
  port: number,
  waitMs: number,
  trace: (sessionId: string) => string[],
): Promise<Omit<ChaosCounts, 'faults' | 'rooms' | 'takeovers'>> {
  const deadline = Date.now() + waitMs;
  // every user comes back (an upgrade is refused while the store restarts: try again)
  const sockets = await Promise.all(
    clients.map(async (client) => {
      for (;;) {
        const socket = await openSocket(`ws://127.0.0.1:${port}/chat/ws?token=${client.token}`);
        if (socket || Date.now() > deadline) return socket;
        await sleep(200);
      }
    }),
  );
  let counts: Omit<ChaosCounts, 'faults' | 'rooms' | 'takeovers'>;
  for (;;) {
    counts = {
      acked: 0,
      lost: 0,
      duplicated: 0,
      seqGaps: 0,
      openTurns: 0,
      unansweredTurns: 0,
      interleaved: clients.reduce((sum, client) => sum + (client.interleaved ?? 0), 0),
    };
    let unreadable = 0;
    for (const client of clients) {
      counts.acked += client.acked.size;
      if (!client.sessionId) continue;
      const response = await fetch(`http://127.0.0.1:${port}/chat/sessions/${client.sessionId}`, {
        headers: { authorization: `Bearer ${client.token}` },
      });
      if (!response.ok) {
        // the store is still coming back: read again on the next round
        unreadable++;
        continue;
      }
      const body = (await response.json()) as { messages: StoredMessage[] };
      const messages = body.messages;
      const stored = new Map<string, number>();
      for (const message of messages)
        if (message.sender === 'user' && message.client_id)
          stored.set(message.client_id, (stored.get(message.client_id) ?? 0) + 1);
      let faulty = false;
      for (const clientId of client.acked)
        if (!stored.has(clientId)) {
          counts.lost++;
          faulty = true;
          console.log(
            `chaos: lost ${clientId} in ${client.sessionId}: ${JSON.stringify(messages.map((m) => [m.seq, m.sender, m.client_id]))}`,
          );
        }
      for (const copies of stored.values())
        if (copies > 1) {
          counts.duplicated += copies - 1;
          faulty = true;
        }
      if (faulty) console.log(`chaos: trace of ${client.sessionId}:\n${trace(client.sessionId).join('\n')}`);
      messages.forEach((message, index) => {
        if (message.seq !== index + 1) counts.seqGaps++;
      });
      const last = [...messages]
        .reverse()
        .find((message) => message.sender === 'user' || message.type === 'ai_response');
      if (last?.sender === 'user') counts.openTurns++;
      // each acked turn has a reply of its own: tagged with its client_id, answering its text (the
      // demo model quotes the turn it answers)
      for (const clientId of client.acked) {
        // (a reply cut short by a shutdown may end before the quote: it quotes no other turn)
        const own = messages.some(
          (message) =>
            message.type === 'ai_response' &&
            message.client_id === clientId &&
            (!(message.content ?? '').includes('"chaos ') ||
              (message.content ?? '').includes(`"chaos ${clientId}"`)),
        );
        if (!own && stored.has(clientId)) {
          counts.unansweredTurns++;
          console.log(`chaos: ${clientId} has no reply of its own in ${client.sessionId}`);
        }
      }
    }
    if (unreadable > 0 && Date.now() > deadline) throw new Error(`${unreadable} sessions could not be read`);
    if ((counts.openTurns + counts.unansweredTurns === 0 && unreadable === 0) || Date.now() > deadline) break;
    await sleep(1000);
  }
  for (const socket of sockets) socket?.terminate();
  for (const client of clients)
    if (client.interleaved && client.sessionId)
      console.log(
        `chaos: interleaved in ${client.sessionId}: ${(client.interleavings ?? []).join('; ')}\n${trace(client.sessionId).join('\n')}`,
      );
  return counts;
}
