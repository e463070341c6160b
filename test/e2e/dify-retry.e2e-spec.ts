import { SessionPurgeService } from '../../src/modules/history/session-purge.service';
import { type DifyFake, startDifyFake } from '../fakes/dify-fake';
import { getJson, startApp, type RunningApp, type SessionBody } from '../helpers/app';
import { ChatUser } from './session-purge.helpers';

const RETENTION_MS = 30 * 86_400_000;

// Found by a vendors audit in session 40. Dify failing before its first token, retried by the chat flow.
describe('Dify retried before the first token (e2e)', () => {
  jest.setTimeout(60_000);
  let dify: DifyFake;
  let server: RunningApp;
  const users: ChatUser[] = [];
  const model = (id: string, extra: Record<string, unknown> = {}) => ({
    id,
    name: id,
    type: 'dify',
    endpoint: dify.url,
    api_key: 'app-key',
    retry_base_ms: 20,
    breaker_failures: 1000,
    ...extra,
  });

  beforeAll(async () => {
    dify = await startDifyFake();
    server = await startApp({
      LLM_PROVIDERS: JSON.stringify([model('dify'), model('dify-links', { files: 'external' })]),
    });
  });
  afterAll(async () => {
    for (const user of users) user.close();
    await server?.close();
    await dify?.close();
  });
  beforeEach(() => {
    dify.reset();
    dify.script = {};
  });

  const sweep = () => server.app.get(SessionPurgeService).sweep(Date.now() + RETENTION_MS);
  const ownedBy = (userId: string) =>
    [...dify.conversations].filter(([, owner]) => owner === userId).map(([id]) => id);

  // The purge promises a deleted session's words do not stay at Dify (docs/protocol.md, "Session
  // library"). A first turn whose first Dify attempt fails with an error event (Dify has made the
  // conversation and named it in the event) is retried with conversation_id '' again: Dify makes a
  // second conversation, the session keeps only the second id, and the first one, holding the user's
  // words, is never deleted.
  it("should leave no Dify conversation of a purged session behind when the session's first turn was retried", async () => {
    const user = await ChatUser.connect(server, 'orphan');
    users.push(user);
    const sessionId = user.sessionId;
    dify.enqueue({ errorAfterChunks: 0 });
    await user.say('my card number is 4111 1111 1111 1111');
    const made = ownedBy(user.id);
    await user.newSession();
    await user.remove(sessionId);
    expect(await sweep()).toBe(1);
    const left = ownedBy(user.id);
    // report what happened, then the guarantee
    expect({ made: made.length, left: left.length }).toEqual({ made: made.length, left: 0 });
  });

  // A file the failed attempt announced (message_file before its error) is kept with the retry's:
  // the stored reply lists two files for one answer (Dify signs each file URL anew).
  it("should not keep a failed attempt's files with the retried reply", async () => {
    const user = await ChatUser.connect(server, 'files');
    users.push(user);
    user.socket.send({ type: 'model_select', model_id: 'dify-links' });
    await user.socket.nextOfType('model_select');
    dify.enqueue(
      { files: [{ url: '/files/tools/chart.png?sign=first', type: 'image' }], errorAfterChunks: 0 },
      { files: [{ url: '/files/tools/chart.png?sign=second', type: 'image' }] },
    );
    user.socket.send({ type: 'user_message', client_id: 'f1', content: 'draw a chart' });
    const { final } = await user.socket.reply();
    expect(dify.chatCalls).toHaveLength(2);
    const origin = new URL(dify.url).origin;
    expect(final.metadata?.attachments).toEqual([
      {
        kind: 'image',
        source: 'ai',
        file_url: `${origin}/files/tools/chart.png?sign=second`,
        external: true,
      },
    ]);
  });

  // Same cause: a failed attempt's file makes an empty retried answer count as a reply. The retry
  // ended properly with no text and no file (an empty answer: LLM_UNAVAILABLE, nothing stored, per
  // "Vendor streams end with the vendor's end"), but the failed attempt's file was counted.
  it('should not store an empty retried answer as a reply because the failed attempt announced a file', async () => {
    const user = await ChatUser.connect(server, 'empty');
    users.push(user);
    user.socket.send({ type: 'model_select', model_id: 'dify-links' });
    await user.socket.nextOfType('model_select');
    dify.enqueue(
      { files: [{ url: '/files/tools/chart.png?sign=first', type: 'image' }], errorAfterChunks: 0 },
      { reply: '', chunks: [] },
    );
    user.socket.send({ type: 'user_message', client_id: 'e1', content: 'draw a chart' });
    const end = await user.socket.next(
      (frame) => (frame.type === 'ai_response' && frame.metadata?.done === true) || frame.type === 'error',
      10_000,
    );
    const session = await getJson<SessionBody>(
      `${server.httpUrl}/chat/sessions/${user.sessionId}`,
      user.token,
    );
    const replies = session.messages.filter((message) => message.type === 'ai_response');
    expect({ end: end.type, stored: replies.length }).toEqual({ end: 'error', stored: 0 });
  });
});
