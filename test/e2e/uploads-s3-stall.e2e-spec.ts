import { randomBytes } from 'node:crypto';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { getModelToken } from '@nestjs/mongoose';
import type { Model } from 'mongoose';
import { StoredFile } from '../../src/modules/uploads/schemas/stored-file.schema';
import { UploadsCleanup } from '../../src/modules/uploads/uploads-cleanup';
import { startApp, type RunningApp } from '../helpers/app';
import { uniqueUser, userToken } from '../helpers/tokens';
import { PNG } from './uploads.fixtures';
import { upload } from './uploads.helpers';

const endpoint = process.env.TEST_S3_ENDPOINT;
const accessKeyId = process.env.TEST_S3_ACCESS_KEY_ID;
const secretAccessKey = process.env.TEST_S3_SECRET_ACCESS_KEY;

// A TCP relay to MinIO that can go silent: connections are still accepted, bytes are still read,
// nothing goes through either way (as a MinIO under SIGSTOP, or a stuck proxy, behaves).
class StallingRelay {
  private stalled = false;
  private readonly sockets = new Set<Socket>();
  private readonly server: Server;

  constructor(private readonly target: URL) {
    this.server = createServer((client) => this.relay(client));
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  stall(): void {
    this.stalled = true;
  }

  // the connections that lost bytes are cut; new ones go through again
  resume(): void {
    this.stalled = false;
    for (const socket of this.sockets) socket.destroy();
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private track(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => this.sockets.delete(socket));
  }

  private relay(client: Socket): void {
    this.track(client);
    if (this.stalled) {
      client.resume();
      return;
    }
    const upstream = connect(Number(this.target.port), this.target.hostname);
    this.track(upstream);
    client.on('data', (data: Buffer) => void (this.stalled || upstream.write(data)));
    upstream.on('data', (data: Buffer) => void (this.stalled || client.write(data)));
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  }
}

// docs/protocol.md, "Uploads and files": an S3 that accepts connections and answers nothing held an
// upload with no answer for minutes (the SDK has no timeout by default), with its quota reservation
// and its connection. It is answered 503 STORAGE_UNAVAILABLE within S3_TIMEOUT's attempts now, its
// reservation given back, and its record and object go once S3 answers again.
describe('uploads while S3 does not answer (e2e)', () => {
  let server: RunningApp;
  let relay: StallingRelay;
  let s3: S3Client;
  const bucket = `chatbox-stall-${randomBytes(4).toString('hex')}`;
  const QUOTA = 64 * 1024;

  beforeAll(async () => {
    if (!endpoint || !accessKeyId || !secretAccessKey)
      throw new Error('TEST_S3_* unset: start MinIO with scripts/services/minio.sh up DIR');
    relay = new StallingRelay(new URL(endpoint));
    server = await startApp({
      S3_BUCKET: bucket,
      S3_ENDPOINT: await relay.listen(),
      S3_ACCESS_KEY_ID: accessKeyId,
      S3_SECRET_ACCESS_KEY: secretAccessKey,
      S3_FORCE_PATH_STYLE: 'true',
      S3_TIMEOUT: '1s',
      // one upload's reservation takes the whole quota: a reservation kept is the next upload's 413
      UPLOAD_MAX_BYTES: String(QUOTA),
      UPLOAD_QUOTA_BYTES: String(QUOTA),
    });
    s3 = new S3Client({
      endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId, secretAccessKey },
    });
  });
  afterAll(async () => {
    relay?.resume();
    s3?.destroy();
    await server?.close();
    await relay?.close();
  });

  const objects = async () =>
    (await s3.send(new ListObjectsV2Command({ Bucket: bucket }))).Contents?.map((item) => item.Key) ?? [];

  it('should answer 503 STORAGE_UNAVAILABLE in bounded time, give the quota back and leave nothing', async () => {
    const owner = uniqueUser();
    const token = userToken(owner);
    expect((await upload(server.httpUrl, token, PNG, 'before.png', 'image/png')).status).toBe(201);
    const stored = await objects();
    expect(stored).toHaveLength(1);

    relay.stall();
    const started = performance.now();
    const refused = await upload(server.httpUrl, token, Buffer.from('hello world'), 'a.txt', 'text/plain');
    const tookMs = performance.now() - started;
    expect([refused.status, refused.body.error?.code]).toEqual([503, 'STORAGE_UNAVAILABLE']);
    // three attempts of S3_TIMEOUT (1 s) and the SDK's backoff, not the minutes it hung before
    expect(tookMs).toBeLessThan(10_000);

    relay.resume();
    // the refused upload's reservation is back: the quota holds another file
    const after = await upload(server.httpUrl, token, PNG, 'after.png', 'image/png');
    expect(after.status).toBe(201);

    // the refused upload's record waits for the cleanup, reserving nothing; the cleanup deletes it
    const records = server.app.get<Model<StoredFile>>(getModelToken(StoredFile.name));
    const left = await records.find({ owner_id: owner, status: 'pending' }).lean();
    expect(left.every((record) => record.size === 0)).toBe(true);
    await server.app.get(UploadsCleanup).run(new Date(Date.now() + 2 * 3_600_000));
    expect(await records.countDocuments({ owner_id: owner, status: 'pending' })).toBe(0);
    expect(await records.countDocuments({ owner_id: owner, status: 'ready' })).toBe(2);
    const now = await objects();
    expect(now).toHaveLength(2);
    expect(now).toEqual(expect.arrayContaining([...stored, expect.stringContaining(after.body.file_id)]));
  }, 60_000);
});
