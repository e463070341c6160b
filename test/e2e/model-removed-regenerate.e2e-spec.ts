import { startOpenAiFake, type OpenAiFake } from '../fakes/openai-fake';
import { startApp, type RunningApp } from '../helpers/app';
import { mongoUri } from '../helpers/env';
import { uniqueUser, userToken } from '../helpers/tokens';
import { TestClient } from '../helpers/ws-client';

// Found by a vendors audit in session 40. The operator removes a model from LLM_PROVIDERS and restarts. A session that had
// chosen it goes on: its next message is answered by the default model (ReplyAttempts: "a model
// removed from the settings since the session chose it: answer with the default"). But a regenerate
// of that session's last reply is refused UNKNOWN_MODEL ("Unknown model "old"") though the user
// named no model: the user cannot regenerate until they pick a model by hand, while a message in the
// same state is answered.
describe('a model removed from LLM_PROVIDERS mid-session (e2e)', () => {
  jest.setTimeout(60_000);
  let fake: OpenAiFake;
  let server: RunningApp | undefined;
  const uri = mongoUri();
  const model = (id: string) => ({
    id,
    name: id,
    type: 'openai',
    endpoint: fake.url,
    api_key: 'k',
    model: id,
    titles: false,
  });

  beforeAll(async () => {
    fake = await startOpenAiFake({});
  });
  afterAll(async () => {
    await server?.close();
    await fake?.close();
  });

  it('should regenerate with the default model, as a message is answered, once the chosen model is gone', async () => {
    server = await startApp({
      MONGODB_URI: uri,
      LLM_PROVIDERS: JSON.stringify([model('main'), model('old')]),
    });
    const token = userToken(uniqueUser());
    let client = await TestClient.connect(`${server.wsUrl}?token=${token}`);
    const sessionId = String((await client.nextOfType('connection_status')).session_id);
    client.send({ type: 'model_select', model_id: 'old' });
    await client.nextOfType('model_select');
    client.send({ type: 'user_message', client_id: 'u1', content: 'hello' });
    await client.reply();
    await client.close();
    await server.close();

    // the operator drops "old" and restarts
    server = await startApp({ MONGODB_URI: uri, LLM_PROVIDERS: JSON.stringify([model('main')]) });
    client = await TestClient.connect(`${server.wsUrl}?token=${token}&session_id=${sessionId}&last_seq=0`);
    await client.nextOfType('connection_status');
    client.send({ type: 'regenerate', client_id: 'r1' });
    const answer = await client.next(
      (frame) => frame.client_id === 'r1' && (frame.type === 'ack' || frame.type === 'error'),
    );
    // a message in the same state is answered by the default model
    client.send({ type: 'user_message', client_id: 'u2', content: 'still there?' });
    const reply = await client.reply();
    expect({
      regenerate: answer.type === 'error' ? answer.error : answer.type,
      message_answered_by: reply.final.model_id,
    }).toEqual({ regenerate: 'ack', message_answered_by: 'main' });
    await client.close();
  });
});
