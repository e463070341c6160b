import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join as joinPath } from 'node:path';
import { authHeaders, getJson, type SessionBody } from '../helpers/app';
import { adminToken, uniqueUser, userToken } from '../helpers/tokens';
import { answerTo, connectTo, startTwoInstances, type TwoInstances } from '../helpers/two-instances';
import { TestClient } from '../helpers/ws-client';
import { WAV } from './uploads.fixtures';
import { fileLink, upload } from './uploads.helpers';

const TRANSCRIPTIONS = '/v1/audio/transcriptions';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('a voice resend on the other instance naming another recording (e2e)', () => {
  let two: TwoInstances;
  const dir = mkdtempSync(joinPath(tmpdir(), 'session-files-voice2-'));
  const open: TestClient[] = [];

  beforeAll(async () => {
    two = await startTwoInstances({ transcript: 'Hello there' }, { UPLOAD_DIR: dir });
  });
  afterAll(async () => {
    await Promise.all(open.map((c) => c.close().catch(() => undefined)));
    await two?.close();
    rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    two.fake.reset();
    two.fake.script.transcriptDelayMs = undefined;
  });

  const transcriptions = () => two.fake.requests.filter((r) => r.path === TRANSCRIPTIONS).length;
  const transcribing = async () => {
    while (transcriptions() === 0) await sleep(20);
  };
  const wav = async (token: string, name = 'voice.wav') => {
    const { status, body } = await upload(two.first.httpUrl, token, WAV, name, 'audio/wav');
    expect(status).toBe(201);
    return body.file_id;
  };
  const connect = async (app: TwoInstances['first'], token: string, query: Record<string, string> = {}) => {
    const c = await connectTo(app, token, query);
    open.push(c.client);
    return c;
  };
  const session = (sessionId: string, token: string) =>
    getJson<SessionBody>(`${two.first.httpUrl}/chat/sessions/${sessionId}`, token);

  it('a voice resend reaching the other instance mid-transcription, naming another recording, leaves that one private', async () => {
    const token = userToken(uniqueUser());
    const shown = await wav(token, 'shown.wav');
    const secret = await wav(token, 'private.wav');
    const first = await connect(two.first, token);
    two.fake.enqueue({ transcriptDelayMs: 800 }, { transcriptDelayMs: 1500 });
    first.client.send({ type: 'voice_message', client_id: 'same', file_id: shown });
    await transcribing();
    const second = await connect(two.second, token, { session_id: first.sessionId });
    second.client.send({ type: 'voice_message', client_id: 'same', file_id: secret });
    expect((await answerTo(first.client, 'same', 15_000)).type).toBe('ack');
    const resent = await answerTo(second.client, 'same', 15_000);
    expect(resent.type).toBe('ack');
    const s = await session(first.sessionId, token);
    expect(
      s.messages.filter((m) => m.type === 'voice_message').map((m) => (m as { file_id?: string }).file_id),
    ).toEqual([shown]);
    const admin = adminToken(uniqueUser('admin'));
    const taken = await fetch(`${two.first.httpUrl}/chat/admin/sessions/${first.sessionId}/takeover`, {
      method: 'POST',
      headers: authHeaders(admin),
    });
    expect(taken.status).toBeLessThan(300);
    expect((await fileLink(two.first.httpUrl, admin, shown)).status).toBe(302);
    expect((await fileLink(two.first.httpUrl, admin, secret)).status).toBe(404);
  });
});
