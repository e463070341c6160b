import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gptModel, startOpenAiFake, type OpenAiFake } from '../fakes/openai-fake';
import { getJson, startApp, type RunningApp, type SessionBody } from '../helpers/app';
import { uniqueUser, userToken } from '../helpers/tokens';
import { TestClient } from '../helpers/ws-client';
import { PNG } from './uploads.fixtures';

interface Exported {
  messages: Array<{
    id: string;
    type: string;
    content?: string;
    attachment?: { name: string; url: string };
    attachments?: Array<{ name: string; url: string }>;
  }>;
}

// Found by a library audit in session 40 (3 of 3 runs): a reply's image, kept by the server
// (metadata.attachments, a files record in the owner's quota), was left out of the export, whose
// reply held only the vendor's link (which expires). docs/protocol.md, "Session library".
describe('session export of a reply with a file it brought (e2e)', () => {
  let openai: OpenAiFake;
  let files: Server;
  let filesHost: string;
  let server: RunningApp;
  const dir = mkdtempSync(join(tmpdir(), 'history-export-'));

  beforeAll(async () => {
    openai = await startOpenAiFake();
    files = createServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'image/png' });
      response.end(PNG);
    });
    await new Promise<void>((resolve) => files.listen(0, '127.0.0.1', resolve));
    filesHost = `127.0.0.1:${(files.address() as AddressInfo).port}`;
    server = await startApp({
      UPLOAD_DIR: dir,
      LLM_PROVIDERS: JSON.stringify([gptModel(openai, { file_hosts: [filesHost] })]),
    });
  });
  afterAll(async () => {
    await server?.close();
    await openai?.close();
    await new Promise<void>((resolve) => files.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  });

  it("should link the reply's kept image in the export, as the conversation shows it", async () => {
    const token = userToken(uniqueUser());
    const client = await TestClient.connect(`${server.wsUrl}?token=${token}`);
    const sessionId = String((await client.nextOfType('connection_status')).session_id);
    openai.enqueue({ reply: `Here is your chart: ![chart](http://${filesHost}/chart.png)` });
    client.send({ type: 'user_message', client_id: 'g1', content: 'draw a chart' });
    await client.reply(20_000);
    await client.close();
    const session = await getJson<SessionBody>(`${server.httpUrl}/chat/sessions/${sessionId}`, token);
    const reply = session.messages.find((message) => message.type === 'ai_response');
    const attachments = (reply?.metadata?.attachments ?? []) as Array<{ file_url?: string }>;
    // the server kept the image: the conversation shows it from /chat/files
    expect(attachments).toEqual([
      expect.objectContaining({ file_url: expect.stringContaining('/chat/files/') }),
    ]);

    const exported = await getJson<Exported>(
      `${server.httpUrl}/chat/sessions/${sessionId}/export?format=json`,
      token,
    );
    const exportedReply = exported.messages.find((message) => message.type === 'ai_response');
    const fileId = attachments[0].file_url!.split('/').pop()!;
    // the export links the kept file, not only the vendor's URL, in both formats
    expect(exportedReply?.attachments).toEqual([
      expect.objectContaining({ url: expect.stringContaining(fileId) }),
    ]);
    const markdown = await (
      await fetch(`${server.httpUrl}/chat/sessions/${sessionId}/export?format=md`, {
        headers: { authorization: `Bearer ${token}` },
      })
    ).text();
    expect(markdown).toMatch(new RegExp(`Attachment: \\[[^\\]]*\\]\\(<[^>]*${fileId}`));
  });
});
