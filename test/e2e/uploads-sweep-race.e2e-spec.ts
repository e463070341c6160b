import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SETTINGS, type Settings } from '../../src/config/settings';
import { STORAGE_DRIVER, type StorageDriver } from '../../src/infra/storage/storage-driver';
import { FilesRepository } from '../../src/modules/uploads/files.repository';
import { UploadsCleanup } from '../../src/modules/uploads/uploads-cleanup';
import { getJson, startApp, type RunningApp, type SessionBody } from '../helpers/app';
import { uniqueUser, userToken } from '../helpers/tokens';
import { TestClient, type Frame } from '../helpers/ws-client';
import { PNG } from './uploads.fixtures';
import { fileLink, upload } from './uploads.helpers';

// The cleanup sweep and a `file_upload` of the same file at once (docs/protocol.md, "Uploads and
// files"): the file is either refused at attach (nothing acked) or kept and served. The sweep used
// to delete a file acked in a message meanwhile: GET /chat/files/:id 404 for good (3 of 3 runs
// with the storage's delete held 6 s).
describe('the upload sweep beside a file_upload of the file it sweeps (e2e)', () => {
  let server: RunningApp;
  let dir: string;
  const open: TestClient[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'uploads-sweep-race-'));
    server = await startApp({ UPLOAD_DIR: dir });
  });
  afterAll(async () => {
    await Promise.all(open.map((client) => client.close()));
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });
  afterEach(() => jest.restoreAllMocks());

  // a sweep run as if the file's unattached life were over
  const sweepPastTtl = () => {
    const ttl = server.app.get<Settings>(SETTINGS).uploads.unattachedTtlMs;
    return server.app.get(UploadsCleanup).run(new Date(Date.now() + ttl + 60_000));
  };

  const uploaded = async () => {
    const token = userToken(uniqueUser());
    const client = await TestClient.connect(`${server.wsUrl}?token=${token}`);
    open.push(client);
    const sessionId = (await client.nextOfType('connection_status')).session_id as string;
    const { body } = await upload(server.httpUrl, token, PNG, 'photo.png', 'image/png');
    return { token, client, sessionId, fileId: body.file_id };
  };

  const sendFile = async (client: TestClient, fileId: string, clientId: string): Promise<Frame> => {
    client.send({ type: 'file_upload', client_id: clientId, file_id: fileId });
    return client.next(
      (frame) => frame.client_id === clientId && (frame.type === 'ack' || frame.type === 'error'),
      15_000,
    );
  };

  // acked: in the session and served for good; refused: nothing stored, a code the client can act on
  const expectAckedAndKept = async (answer: Frame, file: Awaited<ReturnType<typeof uploaded>>) => {
    const history = await getJson<SessionBody>(
      `${server.httpUrl}/chat/sessions/${file.sessionId}`,
      file.token,
    );
    const shown = history.messages.filter((message) => message.type === 'file_upload');
    if (answer.type === 'ack') {
      expect(shown).toHaveLength(1);
      const link = await fileLink(server.httpUrl, file.token, file.fileId);
      expect(link.status).toBe(302);
      const bytes = await fetch(new URL(link.headers.get('location')!, server.httpUrl));
      expect(bytes.status).toBe(200);
      expect(Buffer.from(await bytes.arrayBuffer()).equals(PNG)).toBe(true);
    } else {
      expect(answer.error?.code).toBe('NOT_FOUND');
      expect(shown).toHaveLength(0);
    }
  };

  it('should refuse a file whose object the sweep is deleting, or keep it, never ack it and lose it', async () => {
    const file = await uploaded();
    const storage = server.app.get<StorageDriver>(STORAGE_DRIVER);
    const remove = storage.delete.bind(storage);
    let deleting!: () => void;
    const started = new Promise<void>((resolve) => (deleting = resolve));
    // a slow storage: the delete is under way for 1.5 s
    jest.spyOn(storage, 'delete').mockImplementation(async (key) => {
      deleting();
      await new Promise((resolve) => setTimeout(resolve, 1500));
      return remove(key);
    });
    const sweep = sweepPastTtl();
    await started;
    const answer = await sendFile(file.client, file.fileId, 'during-delete');
    const swept = await sweep;
    await expectAckedAndKept(answer, file);
    expect(swept).toBe(answer.type === 'ack' ? 0 : 1);
  }, 30_000);

  it('should keep a file attached after the sweep picked it and before it deleted it', async () => {
    const file = await uploaded();
    const files = server.app.get(FilesRepository);
    const findExpired = files.findExpired.bind(files);
    let answer!: Frame;
    // the sweep has its batch; the user sends the file before the sweep gets to it
    jest.spyOn(files, 'findExpired').mockImplementationOnce(async (...args) => {
      const found = await findExpired(...args);
      expect(found.map((expired) => expired.id)).toContain(file.fileId);
      answer = await sendFile(file.client, file.fileId, 'after-pick');
      return found;
    });
    await sweepPastTtl();
    expect(answer.type).toBe('ack');
    await expectAckedAndKept(answer, file);
  }, 30_000);
});
