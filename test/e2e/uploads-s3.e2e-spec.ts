import { createHash, randomBytes } from 'node:crypto';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { startApp, type RunningApp } from '../helpers/app';
import { uniqueUser, userToken } from '../helpers/tokens';
import { TestClient } from '../helpers/ws-client';
import { EICAR, PNG, WEBM } from './uploads.fixtures';
import { fileLink, upload } from './uploads.helpers';

const endpoint = process.env.TEST_S3_ENDPOINT;
const accessKeyId = process.env.TEST_S3_ACCESS_KEY_ID;
const secretAccessKey = process.env.TEST_S3_SECRET_ACCESS_KEY;

// The same flow with the S3 driver: MinIO checks every signature, so a tampered or expired
// presigned URL is refused by the storage itself.
describe('uploads to S3 (MinIO) with clamd (e2e)', () => {
  let server: RunningApp;
  let s3: S3Client;
  const bucket = `chatbox-e2e-${randomBytes(4).toString('hex')}`;

  const objects = async () =>
    (await s3.send(new ListObjectsV2Command({ Bucket: bucket }))).Contents?.map((item) => item.Key) ?? [];

  beforeAll(async () => {
    if (!endpoint || !accessKeyId || !secretAccessKey)
      throw new Error('TEST_S3_* unset: start MinIO with scripts/services/minio.sh up DIR');
    const clamavHost = process.env.TEST_CLAMAV_HOST;
    const clamavPort = process.env.TEST_CLAMAV_PORT;
    if (!clamavHost || !clamavPort)
      throw new Error('TEST_CLAMAV_* unset: start clamd (scripts/services/clamav.sh)');
    server = await startApp({
      S3_BUCKET: bucket,
      S3_ENDPOINT: endpoint,
      S3_ACCESS_KEY_ID: accessKeyId,
      S3_SECRET_ACCESS_KEY: secretAccessKey,
      S3_FORCE_PATH_STYLE: 'true',
      CLAMAV_HOST: clamavHost,
      CLAMAV_PORT: clamavPort,
      UPLOAD_MAX_BYTES: String(40 * 1024 * 1024),
      // X-Amz-Date has whole seconds: a 3 s URL is good for 2 to 3 of them
      SIGNED_URL_TTL: '3s',
    });
    s3 = new S3Client({
      endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId, secretAccessKey },
    });
  });
  afterAll(async () => {
    s3?.destroy();
    await server?.close();
  });

  it('should upload, attach, echo to the other device and download through a presigned URL', async () => {
    const token = userToken(uniqueUser());
    const { status, body } = await upload(server.httpUrl, token, WEBM, 'voice note.webm', 'audio/webm');
    expect(status).toBe(201);
    expect(body).toMatchObject({ mime_type: 'audio/webm', name: 'voice note.webm', size: WEBM.length });

    const phone = await TestClient.connect(`${server.wsUrl}?token=${token}`);
    await phone.nextOfType('connection_status');
    const tablet = await TestClient.connect(`${server.wsUrl}?token=${token}`);
    await tablet.nextOfType('connection_status');
    phone.send({ type: 'file_upload', client_id: 'v1', file_id: body.file_id });
    await phone.nextOfType('ack');
    expect(await tablet.nextOfType('file_upload')).toMatchObject({ file_id: body.file_id });

    const link = await fileLink(server.httpUrl, token, body.file_id);
    expect(link.status).toBe(302);
    const location = new URL(link.headers.get('location') as string);
    expect(location.origin).toBe(new URL(endpoint as string).origin);
    expect(location.searchParams.get('X-Amz-Expires')).toBe('3');
    const download = await fetch(location);
    expect(download.status).toBe(200);
    expect(download.headers.get('content-type')).toBe('audio/webm');
    expect(Buffer.from(await download.arrayBuffer()).equals(WEBM)).toBe(true);
    // a redirect followed by fetch itself works too (the bearer token is not sent to S3)
    const followed = await fetch(`${server.httpUrl}/chat/files/${body.file_id}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(followed.status).toBe(200);

    const signature = location.searchParams.get('X-Amz-Signature') as string;
    const tampered = new URL(location);
    tampered.searchParams.set(
      'X-Amz-Signature',
      `${signature.slice(0, -1)}${signature.endsWith('0') ? '1' : '0'}`,
    );
    expect((await fetch(tampered)).status).toBe(403);
    await new Promise((resolve) => setTimeout(resolve, 3100));
    expect((await fetch(location)).status).toBe(403);
    // a fresh read signs a fresh URL
    const again = await fileLink(server.httpUrl, token, body.file_id);
    expect((await fetch(again.headers.get('location') as string)).status).toBe(200);
    await Promise.all([phone.close(), tablet.close()]);
  });

  it('should stream a file of several parts to S3 and back unchanged', async () => {
    const token = userToken(uniqueUser());
    const data = Buffer.alloc(18 * 1024 * 1024, 'All work and no play makes Jack a dull boy.\n');
    const { status, body } = await upload(server.httpUrl, token, data, 'jack.txt', 'text/plain');
    expect([status, body.size, body.mime_type]).toEqual([201, data.length, 'text/plain']);
    const download = await fetch(
      (await fileLink(server.httpUrl, token, body.file_id)).headers.get('location') as string,
    );
    const read = Buffer.from(await download.arrayBuffer());
    expect(createHash('sha256').update(read).digest('hex')).toBe(
      createHash('sha256').update(data).digest('hex'),
    );
  });

  it('should refuse EICAR with 422 and leave no object in the bucket', async () => {
    const token = userToken(uniqueUser());
    const before = await objects();
    const refused = await upload(server.httpUrl, token, EICAR, 'eicar.com.txt', 'text/plain');
    expect([refused.status, refused.body.error?.code]).toEqual([422, 'FILE_REJECTED']);
    expect(await objects()).toEqual(before);
    const png = await upload(server.httpUrl, token, PNG, 'ok.png', 'image/png');
    expect(png.status).toBe(201);
    expect((await objects()).length).toBe(before.length + 1);
  });
});
