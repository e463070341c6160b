import { authHeaders, type RunningApp } from '../helpers/app';
import { uniqueUser, userToken } from '../helpers/tokens';
import { TestClient } from '../helpers/ws-client';
import { PNG } from './uploads.fixtures';
import { fileLink, upload } from './uploads.helpers';

// A user of the AI chat on one instance, over a real socket and REST, and what the purge specs have
// them do in their sessions (docs/protocol.md, "Session library").
export class ChatUser {
  private sent = 0;

  private constructor(
    readonly server: RunningApp,
    readonly id: string,
    readonly token: string,
    readonly socket: TestClient,
    // the session the socket is in
    public sessionId: string,
  ) {}

  static async connect(server: RunningApp, name = 'user'): Promise<ChatUser> {
    const id = uniqueUser(name);
    const token = userToken(id);
    const socket = await TestClient.connect(`${server.wsUrl}?token=${token}`);
    const status = await socket.nextOfType('connection_status');
    return new ChatUser(server, id, token, socket, String(status.session_id));
  }

  private clientId(kind: string): string {
    return `${kind}-${++this.sent}`;
  }

  // a question and the model's whole reply; the reply's id
  async say(content: string): Promise<string> {
    this.socket.send({ type: 'user_message', client_id: this.clientId('m'), content });
    return String((await this.socket.reply()).final.id);
  }

  async upload(name: string): Promise<string> {
    const uploaded = await upload(this.server.httpUrl, this.token, PNG, name, 'image/png');
    if (uploaded.status !== 201 && uploaded.status !== 200)
      throw new Error(`upload: HTTP ${uploaded.status} ${JSON.stringify(uploaded.body)}`);
    return uploaded.body.file_id;
  }

  // a file_upload of the file in the socket's session, acked
  async sendFile(fileId: string): Promise<void> {
    const clientId = this.clientId('f');
    this.socket.send({ type: 'file_upload', client_id: clientId, file_id: fileId });
    const answer = await this.socket.next((frame) => frame.client_id === clientId);
    if (answer.type !== 'ack') throw new Error(`file_upload: ${JSON.stringify(answer)}`);
  }

  async helpRequest(content: string): Promise<void> {
    const clientId = this.clientId('h');
    this.socket.send({ type: 'help_request', client_id: clientId, content });
    await this.socket.next((frame) => frame.type === 'ack' && frame.client_id === clientId);
  }

  // a new chat: the socket moves to it
  async newSession(): Promise<string> {
    this.socket.send({ type: 'new_session', client_id: this.clientId('n') });
    this.sessionId = String((await this.socket.nextOfType('connection_status')).session_id);
    return this.sessionId;
  }

  async remove(sessionId: string): Promise<void> {
    const response = await call(this.server, 'DELETE', `/chat/sessions/${sessionId}`, this.token);
    if (response.status !== 204) throw new Error(`delete: HTTP ${response.status}`);
  }

  async fileStatus(fileId: string, token = this.token): Promise<number> {
    return (await fileLink(this.server.httpUrl, token, fileId)).status;
  }

  close(): void {
    this.socket.socket.terminate();
  }
}

export function call(
  server: RunningApp,
  method: string,
  path: string,
  token: string,
  body?: unknown,
): Promise<Response> {
  return fetch(`${server.httpUrl}${path}`, {
    method,
    headers: { ...authHeaders(token), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

// GET /chat/sessions/:id as an admin: every session, deleted ones too, until it is purged
export async function adminRead(
  server: RunningApp,
  admin: string,
  sessionId: string,
): Promise<{ status: number; deletedAt?: number }> {
  const response = await call(server, 'GET', `/chat/sessions/${sessionId}`, admin);
  if (response.status !== 200) return { status: response.status };
  const body = (await response.json()) as { deleted_at: string | null };
  return { status: 200, deletedAt: body.deleted_at ? Date.parse(body.deleted_at) : undefined };
}

// the sessions an admin's search finds for `query`, of one user
export async function adminSearch(
  server: RunningApp,
  admin: string,
  query: string,
  userId: string,
): Promise<string[]> {
  const response = await call(server, 'GET', `/chat/admin/search?q=${query}&user_id=${userId}`, admin);
  const body = (await response.json()) as { items: Array<{ session_id: string }> };
  return [...new Set(body.items.map((hit) => hit.session_id))].sort();
}

export async function purgedTotal(server: RunningApp): Promise<number> {
  const text = await (await fetch(`${server.httpUrl}/metrics`)).text();
  const line = text.split('\n').find((row) => row.startsWith('chatbox_sessions_purged_total '));
  return line ? Number(line.split(' ').at(-1)) : 0;
}
