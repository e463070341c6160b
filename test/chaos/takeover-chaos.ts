import type WebSocket from 'ws';
import { adminToken, uniqueUser, userToken } from '../helpers/tokens';
import { onFrames, openLine, pick, sleep } from './sockets';

// Takeovers in the crashing world (test/chaos/chaos.ts): a few users write into their sessions, cutting
// their sockets 0–40 ms after a send and resending, while admins on random instances join those
// sessions, write, leave, or drop their sockets and let the lease lapse, cutting their own sends too.
// Afterwards each session's log is read: nothing acked lost or doubled (the users' messages and the
// admins'), one admin at a time (a join only after the last leave), an admin's message only from
// the admin who holds the session, and on the users' sockets no piece of a reply of the model between
// an admin_join and its admin_leave (docs/protocol.md, "Takeover handoff").

export interface TakeoverChaosCounts {
  userAcked: number;
  adminAcked: number;
  joins: number;
  leaves: number;
  // takeovers left to lapse: the admin's socket closed or cut without admin_leave
  abandoned: number;
  // admin_join refused because another admin held the session
  locked: number;
  // admin messages refused once the session was no longer the admin's
  adminRefused: number;
  // an admin's message acked for another session than the one it named
  misrouted: number;
  lost: number;
  duplicated: number;
  adminLost: number;
  adminDuplicated: number;
  seqGaps: number;
  openTurns: number;
  // a join logged while another admin held the session, or a leave by someone else
  twoAdmins: number;
  // an admin's message logged while that admin did not hold the session
  strayAdmin: number;
  // a piece of the model's reply that reached a user's socket between the admin_join it was shown and
  // the admin_leave
  aiOverAdmin: number;
  // a reply of the model logged between an admin_join and its admin_leave: a reply the takeover cut
  // off is stored with what it showed before the join, unless its store takes longer than the join
  // waits for it (11 s since session 26, 1.5 s before: 4 of 547 takeovers in a 10-minute run, the
  // store restarting). Counted, not a fault: an instance that never heard of the takeover (Redis
  // away) may still finish a reply and store it later (docs/protocol.md, "Takeover handoff")
  aiStoredWhileAssisted: number;
  // takeovers still held in the log after the run (every lease should have ended)
  heldAtEnd: number;
}

// the counts that must be 0 after a run
export const TAKEOVER_FAULTS = [
  'lost',
  'duplicated',
  'adminLost',
  'adminDuplicated',
  'misrouted',
  'seqGaps',
  'openTurns',
  'twoAdmins',
  'strayAdmin',
  'aiOverAdmin',
  'heldAtEnd',
] as const;

export interface TakeoverChaosOptions {
  users: number;
  admins: number;
  log: (line: string) => void;
  faults: Record<string, number>;
  // every instance's lines about a session, beside the faults (printed for a session that lost a message)
  trace?: (sessionId: string) => string[];
}

interface Frame {
  type: string;
  client_id?: string;
  session_id?: string;
  id?: string;
  error?: { code?: string };
  seq?: number;
  metadata?: { done?: boolean; admin_name?: string; assisting_admin?: string; offset?: number };
}

interface User {
  name: string;
  token: string;
  sessions: Set<string>;
  acked: Set<string>;
  next: number;
}

interface Admin {
  name: string;
  token: string;
  // acked messages by session
  acked: Map<string, Set<string>>;
  next: number;
}

interface StoredMessage {
  seq: number;
  type: string;
  sender: string;
  client_id?: string;
  metadata?: { admin_name?: string };
}

const ADMIN_NAMES = ['Ada', 'Grace', 'Hedy', 'Radia', 'Barbara'];

export class TakeoverChaos {
  private readonly users: User[];
  private readonly admins: Admin[];
  private readonly counts = {
    joins: 0,
    leaves: 0,
    abandoned: 0,
    locked: 0,
    adminRefused: 0,
    misrouted: 0,
  };
  private readonly misrouted: string[] = [];
  private readonly overAdmin: string[] = [];
  private stopped = false;

  constructor(private readonly options: TakeoverChaosOptions) {
    this.users = Array.from({ length: options.users }, () => {
      const name = uniqueUser('assisted');
      return {
        name,
        token: userToken(name, { expiresInSeconds: 7200 }),
        sessions: new Set<string>(),
        acked: new Set<string>(),
        next: 0,
      };
    });
    this.admins = Array.from({ length: options.admins }, (_, index) => {
      const name = `${ADMIN_NAMES[index % ADMIN_NAMES.length]} ${index}`;
      return {
        name,
        token: adminToken(`chaos-admin-${index}-${uniqueUser('a')}`, name),
        acked: new Map<string, Set<string>>(),
        next: 0,
      };
    });
  }

  run(ports: number[], deadline: number): Promise<unknown> {
    return Promise.all([
      ...this.users.map((user) => this.driveUser(user, ports, deadline)),
      ...this.admins.map((admin) => this.driveAdmin(admin, ports, deadline)),
    ]);
  }

  stop(): void {
    this.stopped = true;
  }

  // A user: connect anywhere, send one message (the last unacked one again, or a new one), maybe cut
  // the socket 0–40 ms later, else listen a while. Every frame is watched for the model's pieces
  // while an admin assists.
  private async driveUser(user: User, ports: number[], deadline: number): Promise<void> {
    let unacked: string | undefined;
    while (Date.now() < deadline && !this.stopped) {
      const socket = await openLine(this.url(pick(ports), user.token));
      if (!socket) {
        await sleep(50);
        continue;
      }
      const clientId = unacked ?? `${user.name}-${user.next++}`;
      unacked = clientId;
      let assisted: string | undefined;
      let sessionId: string | undefined;
      await new Promise<void>((resolve) => {
        let done = false;
        const finish = () => {
          if (done) return;
          done = true;
          onFrames(socket, undefined);
          resolve();
        };
        onFrames(socket, (data) => {
          const frame = JSON.parse(data) as Frame;
          if (frame.type === 'connection_status') {
            sessionId = frame.session_id;
            if (sessionId) user.sessions.add(sessionId);
            assisted = frame.metadata?.assisting_admin;
            socket.send(
              JSON.stringify({ type: 'user_message', client_id: clientId, content: `assisted ${clientId}` }),
            );
            if (Math.random() < 0.3) {
              this.options.faults.cut++;
              setTimeout(() => socket.terminate(), Math.random() * 40);
            }
          } else if (frame.type === 'ack' && frame.client_id === clientId) {
            user.acked.add(clientId);
            unacked = undefined;
            // listen a while: the admin's answer or the model's reply
            setTimeout(finish, 200 + Math.random() * 1300);
          } else if (frame.type === 'admin_join') {
            assisted = frame.metadata?.admin_name;
          } else if (frame.type === 'admin_leave') {
            if (assisted === frame.metadata?.admin_name) assisted = undefined;
          } else if (
            frame.type === 'ai_response' &&
            frame.metadata?.done === false &&
            assisted !== undefined
          ) {
            this.overAdmin.push(
              `${sessionId}: the model's piece (reply ${frame.id}, offset ${frame.metadata.offset}) while ${assisted} assisted`,
            );
          }
        });
        socket.once('close', finish);
        setTimeout(finish, 10_000);
      });
      socket.terminate();
      await sleep(20 + Math.random() * 100);
    }
  }

  // An admin: connect anywhere, join a user's session, write a few messages (resending a cut one),
  // then leave, or drop the socket and let the lease lapse.
  private async driveAdmin(admin: Admin, ports: number[], deadline: number): Promise<void> {
    let pending: { sessionId: string; clientId: string } | undefined;
    while (Date.now() < deadline && !this.stopped) {
      const known = this.users.flatMap((user) => [...user.sessions]);
      if (known.length === 0) {
        await sleep(100);
        continue;
      }
      const socket = await openLine(this.url(pick(ports), admin.token));
      if (!socket) {
        await sleep(50);
        continue;
      }
      const line = new Line(socket);
      try {
        if (!(await line.next((frame) => frame.type === 'connection_status', 5_000))) continue;
        const sessionId = pending?.sessionId ?? pick(known);
        const joinId = `join-${admin.name}-${admin.next++}`;
        socket.send(JSON.stringify({ type: 'admin_join', session_id: sessionId, client_id: joinId }));
        const joined = await line.answer(joinId);
        if (joined?.type !== 'ack') {
          if (joined?.error?.code === 'SESSION_LOCKED') this.counts.locked++;
          // the session is someone else's now: a cut message of an earlier hold stays unacked
          pending = undefined;
          continue;
        }
        this.counts.joins++;
        let cut = false;
        for (let index = Math.floor(Math.random() * 4); index >= 0 && !cut; index--) {
          const clientId = pending?.clientId ?? `${admin.name}-${admin.next++}`;
          pending = { sessionId, clientId };
          socket.send(
            JSON.stringify({
              type: 'user_message',
              // the session it is meant for, as the dashboard names it (client/admin/src/admin-link.ts)
              session_id: sessionId,
              client_id: clientId,
              content: `${admin.name} says ${clientId}`,
            }),
          );
          if (Math.random() < 0.2) {
            this.options.faults.cut++;
            await sleep(Math.random() * 40);
            socket.terminate();
            cut = true;
            break;
          }
          const answer = await line.answer(clientId);
          if (answer?.type === 'ack') {
            if (answer.session_id !== sessionId) {
              this.counts.misrouted++;
              this.misrouted.push(
                `${admin.name}'s ${clientId} for ${sessionId} acked in ${answer.session_id}`,
              );
            }
            if (!admin.acked.has(sessionId)) admin.acked.set(sessionId, new Set());
            admin.acked.get(sessionId)!.add(clientId);
            pending = undefined;
          } else if (answer?.error?.code === 'SESSION_LOCKED') {
            this.counts.adminRefused++;
            pending = undefined;
            break;
          } else break;
          await sleep(50 + Math.random() * 250);
        }
        if (cut) {
          this.counts.abandoned++;
          continue;
        }
        const ending = Math.random();
        if (ending < 0.7) {
          const leaveId = `leave-${admin.name}-${admin.next++}`;
          socket.send(JSON.stringify({ type: 'admin_leave', session_id: sessionId, client_id: leaveId }));
          if ((await line.answer(leaveId))?.type === 'ack') this.counts.leaves++;
        } else this.counts.abandoned++;
      } finally {
        socket.terminate();
        line.close();
        await sleep(50 + Math.random() * 300);
      }
    }
  }

  // Every admin has stopped: once every lease has lapsed and the model has answered what no admin
  // did, each session's log is read and counted.
  async settle(port: number, waitMs: number): Promise<TakeoverChaosCounts> {
    this.stopped = true;
    const deadline = Date.now() + waitMs;
    // every user comes back, as the sessions' clients do (chaos.ts, settle): a turn whose reply died
    // with its instance is answered once its user's session is watched again (docs/protocol.md,
    // "Every acked turn ends"); an upgrade is refused while the store restarts: try again
    const back = await Promise.all(
      this.users.map(async (user) => {
        for (;;) {
          const socket = await openLine(this.url(port, user.token));
          if (socket || Date.now() > deadline) return socket;
          await sleep(200);
        }
      }),
    );
    try {
      return await this.count(port, deadline);
    } finally {
      for (const socket of back) socket?.terminate();
    }
  }

  private async count(port: number, deadline: number): Promise<TakeoverChaosCounts> {
    let counts: TakeoverChaosCounts;
    const problems: string[] = [];
    const traced = new Set<string>();
    for (;;) {
      problems.length = 0;
      traced.clear();
      // (printed once, after the last round)
      counts = {
        ...this.counts,
        userAcked: this.users.reduce((sum, user) => sum + user.acked.size, 0),
        adminAcked: this.admins.reduce(
          (sum, admin) => sum + [...admin.acked.values()].reduce((total, set) => total + set.size, 0),
          0,
        ),
        lost: 0,
        duplicated: 0,
        adminLost: 0,
        adminDuplicated: 0,
        seqGaps: 0,
        openTurns: 0,
        twoAdmins: 0,
        strayAdmin: 0,
        aiOverAdmin: this.overAdmin.length,
        aiStoredWhileAssisted: 0,
        heldAtEnd: 0,
      };
      let unreadable = 0;
      for (const user of this.users) {
        const stored = new Map<string, number>();
        for (const sessionId of user.sessions) {
          const messages = await this.read(port, user.token, sessionId);
          if (!messages) {
            unreadable++;
            continue;
          }
          messages.forEach((message, index) => {
            if (message.seq !== index + 1) counts.seqGaps++;
          });
          const fromAdmins = new Map<string, number>();
          const before = problems.length;
          let holder: string | undefined;
          let open = false;
          for (const message of messages) {
            const name = message.metadata?.admin_name;
            if (message.sender === 'user' && message.client_id)
              stored.set(message.client_id, (stored.get(message.client_id) ?? 0) + 1);
            if (message.sender === 'admin' && message.client_id)
              fromAdmins.set(message.client_id, (fromAdmins.get(message.client_id) ?? 0) + 1);
            if (message.type === 'admin_join') {
              if (holder !== undefined) {
                counts.twoAdmins++;
                problems.push(`${sessionId} ${message.seq}: ${name} joined while ${holder} held it`);
              }
              holder = name;
            } else if (message.type === 'admin_leave') {
              if (holder !== name) {
                counts.twoAdmins++;
                problems.push(
                  `${sessionId} ${message.seq}: ${name} left while ${holder ?? 'nobody'} held it`,
                );
              }
              holder = undefined;
            } else if (message.sender === 'admin' && holder !== name) {
              counts.strayAdmin++;
              problems.push(`${sessionId} ${message.seq}: ${name} wrote while ${holder ?? 'nobody'} held it`);
            }
            if (message.type === 'ai_response' && holder !== undefined) {
              counts.aiStoredWhileAssisted++;
              problems.push(
                `${sessionId} ${message.seq}: a reply of the model stored while ${holder} held it`,
              );
            }
            if (message.type === 'user_message' && message.sender === 'user') open = true;
            else if (
              message.type === 'ai_response' ||
              (message.type === 'user_message' && message.sender === 'admin')
            )
              open = false;
          }
          if (holder !== undefined) counts.heldAtEnd++;
          // (counted below; named here so that its log is printed with it)
          if (open) problems.push(`${sessionId}: ${user.name}'s last turn has no answer`);
          // the log of a session with a problem, for the reader of the run's output
          if (problems.length > before)
            problems.push(
              `${sessionId} log: ${JSON.stringify(messages.map((message) => [message.seq, message.type, message.sender, message.metadata?.admin_name ?? message.client_id]))}`,
            );
          if (open) counts.openTurns++;
          for (const admin of this.admins)
            for (const clientId of admin.acked.get(sessionId) ?? [])
              if (!fromAdmins.has(clientId)) {
                counts.adminLost++;
                problems.push(`${sessionId}: ${admin.name}'s acked ${clientId} is not stored`);
                traced.add(sessionId);
              }
          for (const copies of fromAdmins.values()) if (copies > 1) counts.adminDuplicated += copies - 1;
        }
        for (const clientId of user.acked)
          if (!stored.has(clientId)) {
            counts.lost++;
            problems.push(`${user.name}: acked ${clientId} is not stored`);
            for (const sessionId of user.sessions) traced.add(sessionId);
          }
        for (const copies of stored.values()) if (copies > 1) counts.duplicated += copies - 1;
      }
      if (unreadable > 0 && Date.now() > deadline)
        throw new Error(`${unreadable} assisted sessions could not be read`);
      const settled = unreadable === 0 && counts.openTurns === 0 && counts.heldAtEnd === 0;
      if (settled || Date.now() > deadline) break;
      await sleep(1000);
    }
    for (const line of [...problems, ...this.misrouted, ...this.overAdmin.slice(0, 20)])
      console.log(`chaos: takeover: ${line}`);
    for (const sessionId of traced)
      console.log(
        `chaos: takeover: trace of ${sessionId}:\n${(this.options.trace?.(sessionId) ?? []).join('\n')}`,
      );
    return counts;
  }

  private url(port: number, token: string): string {
    return `ws://127.0.0.1:${port}/chat/ws?token=${token}`;
  }

  private async read(port: number, token: string, sessionId: string): Promise<StoredMessage[] | undefined> {
    try {
      const response = await fetch(`http://127.0.0.1:${port}/chat/sessions/${sessionId}`, {
        headers: { authorization: `Bearer ${token}` },
        signal: AbortSignal.timeout(10_000),
      });
      if (!response.ok) return undefined;
      return ((await response.json()) as { messages: StoredMessage[] }).messages;
    } catch {
      return undefined;
    }
  }
}

// An admin socket's frames, awaited one at a time.
class Line {
  private readonly frames: Frame[] = [];
  private waiter?: () => void;
  private closed = false;

  constructor(socket: WebSocket) {
    onFrames(socket, (data) => {
      this.frames.push(JSON.parse(data) as Frame);
      this.waiter?.();
    });
    socket.once('close', () => {
      this.closed = true;
      this.waiter?.();
    });
  }

  // the first frame (from the start of the line) that matches, within `ms`
  async next(match: (frame: Frame) => boolean, ms: number): Promise<Frame | undefined> {
    const until = Date.now() + ms;
    for (;;) {
      const index = this.frames.findIndex(match);
      if (index >= 0) return this.frames.splice(index, 1)[0];
      if (this.closed || Date.now() >= until) return undefined;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, until - Date.now());
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.waiter = undefined;
    }
  }

  // the ack or error answering this client_id
  answer(clientId: string): Promise<Frame | undefined> {
    return this.next(
      (frame) => frame.client_id === clientId && (frame.type === 'ack' || frame.type === 'error'),
      8_000,
    );
  }

  close(): void {
    this.closed = true;
    this.waiter?.();
  }
}
