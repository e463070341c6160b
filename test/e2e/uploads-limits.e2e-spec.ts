import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Logger } from '@nestjs/common';
import { storageKeyFor } from '../../src/modules/uploads/file-intake.service';
import { FilesRepository } from '../../src/modules/uploads/files.repository';
import { startApp, type RunningApp } from '../helpers/app';
import { uniqueUser, userToken } from '../helpers/tokens';
import { JPEG, PNG } from './uploads.fixtures';
import { filesUnder, upload } from './uploads.helpers';

describe('upload quotas (e2e)', () => {
  let server: RunningApp;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'uploads-quota-'));
    server = await startApp({ UPLOAD_DIR: dir, UPLOAD_RATE_PER_MINUTE: '4', UPLOAD_QUOTA_BYTES: '1200' });
  });
  afterAll(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('should refuse an upload past the user total with QUOTA_EXCEEDED and keep earlier files', async () => {
    const token = userToken(uniqueUser());
    expect((await upload(server.httpUrl, token, JPEG, 'one.jpg', 'image/jpeg')).status).toBe(201);
    expect((await upload(server.httpUrl, token, JPEG, 'two.jpg', 'image/jpeg')).status).toBe(201);
    // 1024 of 1200 bytes used: a third 512-byte file crosses the quota while it streams
    const third = await upload(server.httpUrl, token, JPEG, 'three.jpg', 'image/jpeg');
    expect(third.status).toBe(413);
    expect(third.body.error?.code).toBe('QUOTA_EXCEEDED');
    expect(third.body.error?.message).toBe('Your upload storage is full: 176 bytes left of 1.2 KiB.');
    // a small file still fits; another user has their own quota
    expect((await upload(server.httpUrl, token, PNG, 'small.png', 'image/png')).status).toBe(201);
    expect((await upload(server.httpUrl, userToken(uniqueUser()), JPEG, 'x.jpg', 'image/jpeg')).status).toBe(
      201,
    );
    expect(filesUnder(dir)).toHaveLength(4);
  });

  // each upload's room in the quota is taken before its bytes come: uploads at once used to see the
  // same room left, and together overshot the quota by as many files as ran at once
  it('should keep uploads sent at once within the quota', async () => {
    const token = userToken(uniqueUser());
    const results = await Promise.all(
      Array.from({ length: 4 }, (_, index) =>
        upload(server.httpUrl, token, JPEG, `${index}.jpg`, 'image/jpeg'),
      ),
    );
    const stored = results.filter((result) => result.status === 201);
    // 2 × 512 bytes fit in 1200; a third would not
    expect(stored.length).toBeLessThanOrEqual(2);
    expect(stored.length).toBeGreaterThanOrEqual(1);
    for (const refused of results.filter((result) => result.status !== 201))
      expect(refused).toMatchObject({ status: 413, body: { error: { code: 'QUOTA_EXCEEDED' } } });
  });

  // Found by the files black-box audit in session 44 (3 of 3 runs): an instance SIGKILLed while one
  // of a user's uploads streamed to it left that upload's `pending` record, which reserved all the
  // quota left, and the other instance refused every upload of the user "Your upload storage is
  // full: 0 bytes left" until the cleanup took the record, up to an hour on. The record is written
  // here as the crashed instance left it, last touched 20 s ago; one touched now still holds its room.
  it("should not hold the user's quota for an upload its crashed instance stopped touching", async () => {
    const owner = uniqueUser();
    const token = userToken(owner);
    const files = server.app.get(FilesRepository);
    const pending = async (touchedAgoMs: number) => {
      const id = randomUUID();
      await files.createPending({
        id,
        ownerId: owner,
        sessionId: null,
        name: 'big.txt',
        mimeType: 'text/plain',
        storageKey: storageKeyFor(owner, id),
        source: 'upload',
        reserved: 1200,
        now: new Date(Date.now() - touchedAgoMs),
      });
      return id;
    };
    await pending(20_000);
    const photo = await upload(server.httpUrl, token, PNG, 'photo.png', 'image/png');
    expect([photo.status, photo.body.error?.message]).toEqual([201, undefined]);
    // an upload still streaming (touched now) keeps its room: nothing fits beside it
    const live = await pending(0);
    const refused = await upload(server.httpUrl, token, PNG, 'other.png', 'image/png');
    expect(refused.body.error?.code).toBe('QUOTA_EXCEEDED');
    await files.remove(live);
  });

  it('should refuse the uploads past the per-minute rate with RATE_LIMITED and Retry-After', async () => {
    const token = userToken(uniqueUser());
    for (let index = 0; index < 4; index++)
      expect((await upload(server.httpUrl, token, PNG, `${index}.png`, 'image/png')).status).toBe(201);
    const fifth = await upload(server.httpUrl, token, PNG, 'five.png', 'image/png');
    expect(fifth.status).toBe(429);
    expect(fifth.body.error?.code).toBe('RATE_LIMITED');
    expect(Number(fifth.headers.get('retry-after'))).toBeGreaterThan(0);
  });
});

describe('uploads when clamd is down (e2e)', () => {
  let server: RunningApp;
  let dir: string;
  let silent: Server;
  const sockets: Socket[] = [];
  const warnings: unknown[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'uploads-noclam-'));
    // a port that accepts connections and never answers, like a hung clamd
    silent = createServer((socket) => {
      sockets.push(socket);
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    server = await startApp({
      UPLOAD_DIR: dir,
      CLAMAV_HOST: '127.0.0.1',
      CLAMAV_PORT: String((silent.address() as AddressInfo).port),
      CLAMAV_TIMEOUT: '1s',
    });
  });
  afterAll(async () => {
    await server?.close();
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => silent.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  it('should refuse every upload with 503 SCANNER_UNAVAILABLE and store nothing', async () => {
    const token = userToken(uniqueUser());
    const refused = await upload(server.httpUrl, token, PNG, 'a.png', 'image/png');
    expect(refused.status).toBe(503);
    expect(refused.body.error).toEqual({
      code: 'SCANNER_UNAVAILABLE',
      message: 'Uploads are unavailable right now; please try again later.',
    });
    expect(filesUnder(dir)).toEqual([]);
  });

  it('should report clamd down on readiness', async () => {
    const ready = await fetch(`${server.httpUrl}/chat/readyz`);
    // the same app without CLAMAV_HOST is ready (next test): the 503 is clamd's
    expect(ready.status).toBe(503);
  });

  it('should warn at boot when scanning is off', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation((message: unknown) => {
      warnings.push(message);
    });
    const plain = await startApp({ UPLOAD_DIR: dir });
    warn.mockRestore();
    expect((await fetch(`${plain.httpUrl}/chat/readyz`)).status).toBe(200);
    await plain.close();
    expect(JSON.stringify(warnings)).toContain('scanner_off');
  });
});
