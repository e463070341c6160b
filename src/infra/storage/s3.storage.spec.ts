import { S3Storage } from './s3.storage';

// Presigning is computed locally: no S3 needed.
describe(S3Storage.name, () => {
  const storage = new S3Storage({
    bucket: 'chatbox',
    endpoint: 'http://127.0.0.1:9',
    region: 'us-east-1',
    accessKeyId: 'id',
    secretAccessKey: 'secret',
    forcePathStyle: true,
  });
  const signed = async (contentType: string) =>
    new URL(
      await storage.signedUrl('files/abc/1', {
        ttlSeconds: 60,
        contentType,
        fileName: 'notes.txt',
        disposition: 'inline',
      }),
    ).searchParams;

  // docs/protocol.md, "Uploads and files": browsers guess a text file's charset otherwise
  it('should name UTF-8 as the charset of text it serves, and leave other types as they are', async () => {
    expect((await signed('text/plain')).get('response-content-type')).toBe('text/plain; charset=utf-8');
    expect((await signed('text/csv')).get('response-content-type')).toBe('text/csv; charset=utf-8');
    expect((await signed('image/png')).get('response-content-type')).toBe('image/png');
    expect((await signed('application/pdf')).get('response-content-type')).toBe('application/pdf');
  });

  it('should sign the disposition and the download name', async () => {
    const query = await signed('text/plain');
    expect(query.get('response-content-disposition')).toBe(
      `inline; filename="notes.txt"; filename*=UTF-8''notes.txt`,
    );
    expect(query.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
  });
});
