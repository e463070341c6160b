import { Logger } from '@nestjs/common';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { DomainException } from '../../common/errors/domain.exception';
import { ErrorCode } from '../../common/errors/error-code';
import type { FileStore } from '../../infra/files/file-store';
import { LlmEvents } from '../llm/llm-events';
import type { ModelEntry } from '../llm/llm.registry';
import { ReplyAttachments, speechText } from './reply-attachments';

describe('speechText', () => {
  it('should read markdown images and links as their words', () => {
    expect(speechText('**Look**: ![a chart](https://x/c.png) and [the docs](https://x/d)')).toBe(
      'Look: a chart and the docs',
    );
  });

  it('should fit the speech API limit, cutting at a sentence when there is one', () => {
    const text = 'A sentence. '.repeat(500);
    const spoken = speechText(text);
    expect(spoken.length).toBeLessThanOrEqual(4096);
    expect(spoken.endsWith('.')).toBe(true);
  });

  it('should never exceed 4096 characters when given any reply', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 6000 }), (text) => {
        expect(speechText(text).length).toBeLessThanOrEqual(4096);
      }),
    );
  });
});

describe(ReplyAttachments.name, () => {
  let server: Server;
  let host: string;

  beforeAll(async () => {
    server = createServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'image/png' });
      response.end(Buffer.from('not really a png'));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  // a model with speech whose files the store refuses with `error`
  function collect(error: Error) {
    const events = new LlmEvents();
    const failures: string[] = [];
    events.onFailure((event) => failures.push(event.kind));
    const store = {
      saveGenerated: () => Promise.reject(error),
      urlOf: (id: string) => `/chat/files/${id}`,
    } as unknown as FileStore;
    const entry = {
      settings: { id: 'gpt', tts: { voice: 'nova' }, file_hosts: [host] },
      provider: {
        vendor: 'openai',
        synthesize: () => Promise.resolve({ data: Buffer.from('ID3'), mimeType: 'audio/mpeg' }),
      },
    } as unknown as ModelEntry;
    const url = `http://${host}/chart.png`;
    const attachments = new ReplyAttachments(events, store).collect({
      entry,
      sessionId: 's-1',
      userId: 'u-1',
      text: `![chart](${url})`,
      files: [],
    });
    return { attachments, failures, url };
  }

  it.each([
    [ErrorCode.FILE_REJECTED, 'infected'],
    [ErrorCode.UNSUPPORTED_FILE_TYPE, 'type'],
    [ErrorCode.QUOTA_EXCEEDED, 'quota'],
    [ErrorCode.FILE_TOO_LARGE, 'too_large'],
    [ErrorCode.SCANNER_UNAVAILABLE, 'scanner_down'],
  ])(
    'should drop a file and the speech, marked, when the store refuses them with %s',
    async (code, reason) => {
      const { attachments, failures } = collect(new DomainException(code));
      expect(await attachments).toEqual([
        { kind: 'image', source: 'ai', dropped: reason },
        { kind: 'audio', source: 'tts', dropped: reason },
      ]);
      // not the model's failure: no llm_failure alert
      expect(failures).toEqual([]);
    },
  );

  it.each(['store', 'link'] as const)(
    "should keep only the vendor's http(s) files, never a javascript: or data: URL (files: %s)",
    async (files) => {
      const store = {
        saveGenerated: () => Promise.reject(new Error('disk full')),
        urlOf: (id: string) => `/chat/files/${id}`,
      } as unknown as FileStore;
      const entry = {
        settings: { id: 'dify', files, endpoint: 'http://127.0.0.1:1/v1' },
        provider: { vendor: 'dify' },
      } as unknown as ModelEntry;
      const attachments = await new ReplyAttachments(new LlmEvents(), store).collect({
        entry,
        sessionId: 's-1',
        userId: 'u-1',
        text: 'files',
        files: [
          { url: 'javascript:window.top.x=1', kind: 'image' },
          { url: ' JaVaScRiPt:alert(1)', kind: 'image' },
          { url: 'data:text/html,<script>alert(1)</script>', kind: 'image' },
          { url: 'vbscript:msgbox(1)' },
          { url: 'not a url' },
          { url: 'https://127.0.0.1:1/files/a.pdf' },
        ],
      });
      expect(attachments).toEqual([
        { kind: 'file', source: 'ai', file_url: 'https://127.0.0.1:1/files/a.pdf', external: true },
      ]);
    },
  );

  // Found by the speech black-box audit in session 42: a proxy's page labelled audio was kept as the
  // speech (text/plain, in the user's files and quota)
  it('should have the speech kept only as audio, and drop it as `type` when its bytes are not', async () => {
    const asked: Array<RegExp | undefined> = [];
    const store = {
      saveGenerated: (input: { only?: RegExp }) => {
        asked.push(input.only);
        return Promise.reject(new DomainException(ErrorCode.UNSUPPORTED_FILE_TYPE));
      },
      urlOf: (id: string) => `/chat/files/${id}`,
    } as unknown as FileStore;
    const entry = {
      settings: { id: 'gpt', tts: { voice: 'nova' } },
      provider: {
        vendor: 'openai',
        synthesize: () => Promise.resolve({ data: Buffer.from('<html>hi</html>'), mimeType: 'audio/mpeg' }),
      },
    } as unknown as ModelEntry;
    const attachments = await new ReplyAttachments(new LlmEvents(), store).collect({
      entry,
      sessionId: 's-1',
      userId: 'u-1',
      text: 'hello',
      files: [],
    });
    expect(attachments).toEqual([{ kind: 'audio', source: 'tts', dropped: 'type' }]);
    expect(asked).toHaveLength(1);
    for (const type of ['audio/mpeg', 'audio/wav', 'audio/ogg']) expect(asked[0]?.test(type)).toBe(true);
    for (const type of ['text/plain', 'application/json', 'image/png'])
      expect(asked[0]?.test(type)).toBe(false);
  });

  it("should offer the vendor's link, and no speech, when storing fails otherwise", async () => {
    const { attachments, failures, url } = collect(new Error('disk full'));
    expect(await attachments).toEqual([{ kind: 'image', source: 'ai', file_url: url, external: true }]);
    expect(failures).toEqual(['file_failed', 'speech_failed']);
  });

  // a dropped reply's kept files go, shown by no message; its links and dropped files are no files
  it('should release the kept files of a dropped reply under its session, and nothing else', async () => {
    const discard = jest.fn().mockResolvedValue(1);
    const attachments = new ReplyAttachments(new LlmEvents(), { discard } as unknown as FileStore);
    await attachments.release('s-1', [
      { kind: 'audio', source: 'tts', file_id: 'f-1', file_url: '/chat/files/f-1' },
      { kind: 'image', source: 'ai', file_url: 'https://example.com/a.png', external: true },
      { kind: 'file', source: 'ai', dropped: 'quota' },
    ]);
    expect(discard).toHaveBeenCalledTimes(1);
    const [fileIds, scope, shown] = discard.mock.calls[0] as [
      string[],
      string,
      (ids: string[]) => Promise<Set<string>>,
    ];
    expect([fileIds, scope]).toEqual([['f-1'], 's-1']);
    expect(await shown(['f-1'])).toEqual(new Set());
    await attachments.release('s-1', [{ kind: 'file', source: 'ai', dropped: 'quota' }]);
    expect(discard).toHaveBeenCalledTimes(1);
    // a store that fails is logged, never thrown to the reply
    discard.mockRejectedValueOnce(new Error('store away'));
    const warned = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    await expect(
      attachments.release('s-1', [{ kind: 'audio', source: 'tts', file_id: 'f-2', file_url: '/x' }]),
    ).resolves.toBeUndefined();
    expect(warned).toHaveBeenCalled();
    warned.mockRestore();
  });
});
