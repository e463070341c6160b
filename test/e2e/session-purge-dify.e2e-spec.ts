import { type Db, MongoClient } from 'mongodb';
import { SETTINGS, type Settings } from '../../src/config/settings';
import { SessionPurgeService } from '../../src/modules/history/session-purge.service';
import { type DifyFake, startDifyFake } from '../fakes/dify-fake';
import { startApp, type RunningApp } from '../helpers/app';
import { adminToken, uniqueUser } from '../helpers/tokens';
import { adminRead, call, ChatUser } from './session-purge.helpers';

const RETENTION_MS = 30 * 86_400_000;

// Dify keeps a conversation of its own of each session that used a Dify model (its id is the
// session's provider state, per model). The purge of a deleted session deletes them there, as the
// session's user, before the session goes: until then the user's words stayed at Dify for good
// (docs/protocol.md, "Session library"). Dify down leaves the session deleted and due for the next
// sweep; a model configured no more, or a key Dify refuses, cannot be helped by waiting.
describe('deleted sessions purged with their Dify conversations (e2e)', () => {
  jest.setTimeout(90_000);
  let dify: DifyFake;
  let server: RunningApp;
  let store: MongoClient;
  let db: Db;
  const admin = adminToken(uniqueUser('admin'), 'Ada Admin');
  const users: ChatUser[] = [];
  // two Dify apps (a model id with a dot: stored escaped in provider_state), each with its own key
  const model = (id: string, key: string) => ({
    id,
    name: id,
    type: 'dify',
    endpoint: dify.url,
    api_key: key,
    retry_base_ms: 20,
  });

  beforeAll(async () => {
    dify = await startDifyFake();
    server = await startApp({
      LLM_PROVIDERS: JSON.stringify([model('dify', 'app-first'), model('dify.v2', 'app-second')]),
    });
    store = await new MongoClient(server.app.get<Settings>(SETTINGS).mongodbUri).connect();
    db = store.db();
  });
  afterAll(async () => {
    for (const user of users) user.close();
    await server?.close();
    await store?.close();
    await dify?.close();
  });
  beforeEach(() => {
    dify.reset();
    dify.script = {};
  });

  const sweep = () => server.app.get(SessionPurgeService).sweep(Date.now() + RETENTION_MS);
  const stored = (sessionId: string) => db.collection('sessions').countDocuments({ _id: sessionId as never });
  const notes = (sessionId: string) =>
    db.collection('session_notes').countDocuments({ session_id: sessionId });
  // a user whose session had Dify conversations, then deleted it (and moved to a new one)
  const deletedWithConversations = async (name: string, models: string[]) => {
    const user = await ChatUser.connect(server, name);
    users.push(user);
    const sessionId = user.sessionId;
    for (const modelId of models) {
      user.socket.send({ type: 'model_select', model_id: modelId });
      await user.socket.nextOfType('model_select');
      await user.say(`my card number, told to ${modelId}`);
    }
    const conversations = [...dify.conversations].filter(([, owner]) => owner === user.id).map(([id]) => id);
    expect(conversations).toHaveLength(models.length);
    await user.newSession();
    await user.remove(sessionId);
    return { user, sessionId, conversations };
  };

  it("should delete each of the session's Dify conversations, as its user with its model's key", async () => {
    const { user, sessionId, conversations } = await deletedWithConversations('alice', ['dify', 'dify.v2']);
    const [first, second] = conversations;
    dify.reset();

    expect(await sweep()).toBe(1);
    expect(await stored(sessionId)).toBe(0);
    expect(dify.conversationDeletes).toEqual(
      expect.arrayContaining([
        { conversationId: first, user: user.id, authorization: 'Bearer app-first', deleted: true },
        { conversationId: second, user: user.id, authorization: 'Bearer app-second', deleted: true },
      ]),
    );
    expect(dify.conversationDeletes).toHaveLength(2);
    expect([dify.conversations.has(first), dify.conversations.has(second)]).toEqual([false, false]);
  });

  it('should keep the session for the next sweep while Dify is down, and purge it with its conversation once Dify is back', async () => {
    const { user, sessionId, conversations } = await deletedWithConversations('bob', ['dify']);
    expect(
      (await call(server, 'POST', `/chat/admin/sessions/${sessionId}/notes`, admin, { text: 'x' })).status,
    ).toBe(201);
    dify.reset();
    dify.script = { status: 503 };

    expect(await sweep()).toBe(0);
    expect(dify.conversationDeletes).toEqual([
      { conversationId: conversations[0], user: user.id, authorization: 'Bearer app-first', deleted: false },
    ]);
    expect([await stored(sessionId), await notes(sessionId)]).toEqual([1, 1]);
    expect((await adminRead(server, admin, sessionId)).status).toBe(200);
    expect(dify.conversations.has(conversations[0])).toBe(true);

    dify.script = {};
    expect(await sweep()).toBe(1);
    expect([await stored(sessionId), await notes(sessionId)]).toEqual([0, 0]);
    expect(dify.conversationDeletes.map((request) => request.deleted)).toEqual([false, true]);
    expect(dify.conversations.has(conversations[0])).toBe(false);
  });

  it('should purge the session all the same when Dify refuses the key, or its model is configured no more', async () => {
    const refused = await deletedWithConversations('carol', ['dify']);
    const unconfigured = await deletedWithConversations('dave', ['dify.v2']);
    // as an operator's removal of the model from LLM_PROVIDERS leaves it: a state no model reaches
    // (FerretDB 1.24 takes a whole provider_state that differs only in its keys for unchanged)
    const moved = await db.collection('sessions').updateOne(
      { _id: unconfigured.sessionId as never },
      {
        $set: { 'provider_state.retired': { conversation_id: unconfigured.conversations[0] } },
        $unset: { 'provider_state.dify%2Ev2': '' },
      },
    );
    expect(moved.modifiedCount).toBe(1);
    dify.reset();
    dify.script = { status: 401 };

    expect(await sweep()).toBe(2);
    expect([await stored(refused.sessionId), await stored(unconfigured.sessionId)]).toEqual([0, 0]);
    expect(dify.conversationDeletes).toEqual([
      expect.objectContaining({ conversationId: refused.conversations[0], deleted: false }),
    ]);
  });
});
