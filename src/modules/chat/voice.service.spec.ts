import { DomainException } from '../../common/errors/domain.exception';
import { ErrorCode } from '../../common/errors/error-code';
import type { FileStore, StoredFileInfo } from '../../infra/files/file-store';
import { LlmProviderError } from '../../infra/llm/llm-provider';
import type { LlmEvents } from '../llm/llm-events';
import type { LlmRegistry } from '../llm/llm.registry';
import type { Connection } from '../realtime/connection';
import type { RecordService } from '../replies/record.service';
import type { SessionsService } from '../sessions/sessions.service';
import { TranscriptionPlaces } from './transcription-places';
import { MAX_VOICE_BYTES, VoiceService } from './voice.service';

// A file store whose files are only records: reading the bytes of one is what the checks must avoid.
function fakeStore(files: StoredFileInfo[]) {
  const reads: string[] = [];
  const find = (fileId: string) => {
    const file = files.find((candidate) => candidate.file_id === fileId);
    if (!file) throw new DomainException(ErrorCode.NOT_FOUND, 'File not found.');
    return file;
  };
  const store = {
    info: (fileId: string) => Promise.resolve(find(fileId)),
    read: (fileId: string) => {
      reads.push(fileId);
      return Promise.resolve({ info: find(fileId), data: Buffer.alloc(16) });
    },
    attach: (fileId: string) => Promise.resolve(find(fileId)),
    attachWhile: <T>(
      fileId: string,
      _owner: string,
      _scope: string,
      store: (file: StoredFileInfo) => Promise<T>,
    ) => store(find(fileId)),
  } as unknown as FileStore;
  return { store, reads };
}

function voiceService(
  store: FileStore,
  transcribe = jest.fn().mockResolvedValue('hello'),
  // what the store holds under each client_id (none: no resend)
  stored = new Map<string, unknown>(),
) {
  const sessions = {
    getOwned: () => Promise.resolve({ id: 's-1', model_id: 'm' }),
    sent: (_sessionId: string, key: { client_id: string }) => Promise.resolve(stored.get(key.client_id)),
    shows: () => Promise.resolve(true),
  } as unknown as SessionsService;
  const registry = {
    has: () => true,
    defaultModelId: 'm',
    entry: () => ({ provider: { vendor: 'openai', transcribe }, settings: {} }),
  } as unknown as LlmRegistry;
  const record = jest.fn((options: { message: { client_id?: string } }) => {
    const duplicate = stored.has(options.message.client_id ?? '');
    stored.set(options.message.client_id ?? '', { ...options.message, id: 'e', seq: 1 });
    return Promise.resolve({ message: { seq: 1 }, duplicate });
  });
  const records = { record } as unknown as RecordService;
  const events = { failure: jest.fn() } as unknown as LlmEvents;
  const places = new TranscriptionPlaces({ voiceTranscriptionsMax: 2 });
  return {
    service: new VoiceService(sessions, registry, records, events, places, store),
    transcribe,
    record,
  };
}

// a transcription that answers when the test says, counting those at the vendor at once
function slowVendor() {
  const waiting: Array<() => void> = [];
  const counts = { open: 0, most: 0 };
  const transcribe = jest.fn(async () => {
    counts.open++;
    counts.most = Math.max(counts.most, counts.open);
    await new Promise<void>((resolve) => waiting.push(resolve));
    counts.open--;
    return 'hello';
  });
  // answers every transcription at the vendor now, and lets the ones they let in arrive
  const answerAll = async () => {
    for (let round = 0; round < 20; round++) {
      waiting.splice(0).forEach((answer) => answer());
      await new Promise((resolve) => setImmediate(resolve));
    }
  };
  return { transcribe, counts, answerAll };
}

const flush = async () => {
  for (let round = 0; round < 10; round++) await new Promise((resolve) => setImmediate(resolve));
};

const connection = {
  sessionId: 's-1',
  principal: { userId: 'u-1', isAdmin: false },
} as unknown as Connection;
const voice = (fileId: string, clientId = 'c-1') => ({
  type: 'voice_message' as const,
  client_id: clientId,
  file_id: fileId,
});

describe(VoiceService.name, () => {
  const pdf: StoredFileInfo = {
    file_id: 'pdf',
    name: 'big.pdf',
    size: 20 * 1024 * 1024,
    mime_type: 'application/pdf',
  };
  const long: StoredFileInfo = {
    file_id: 'long',
    name: 'lecture.mp3',
    size: MAX_VOICE_BYTES + 1,
    mime_type: 'audio/mpeg',
  };
  const note: StoredFileInfo = { file_id: 'note', name: 'note.webm', size: 4000, mime_type: 'audio/webm' };

  // docs/protocol.md, "Uploads and files": the checks come from the record, before any byte is read
  it('should refuse a file that is not audio without reading it', async () => {
    const { store, reads } = fakeStore([pdf]);
    const { service, transcribe } = voiceService(store);
    await expect(service.handle(connection, voice('pdf'))).rejects.toMatchObject({
      code: ErrorCode.FILE_REJECTED,
      message: 'A voice message must be an audio file.',
    });
    expect(reads).toEqual([]);
    expect(transcribe).not.toHaveBeenCalled();
  });

  it('should refuse audio longer than a voice message may be without reading it', async () => {
    const { store, reads } = fakeStore([long]);
    const { service } = voiceService(store);
    await expect(service.handle(connection, voice('long'))).rejects.toMatchObject({
      code: ErrorCode.FILE_TOO_LARGE,
    });
    expect(reads).toEqual([]);
  });

  // Found by the speech black-box audit in session 42: the vendor's retry-after was dropped
  it("should refuse a failed transcription LLM_UNAVAILABLE with the vendor's retry-after, storing nothing", async () => {
    const { store } = fakeStore([note]);
    const failing = jest.fn().mockRejectedValue(new LlmProviderError('openai: HTTP 429', true, 120_000));
    const { service, record } = voiceService(store, failing);
    await expect(service.handle(connection, voice('note'))).rejects.toMatchObject({
      code: ErrorCode.LLM_UNAVAILABLE,
      details: { retryAfterMs: 120_000 },
    });
    const broken = jest.fn().mockRejectedValue(new Error('socket hang up'));
    await expect(voiceService(store, broken).service.handle(connection, voice('note'))).rejects.toMatchObject(
      {
        code: ErrorCode.LLM_UNAVAILABLE,
        details: { retryAfterMs: undefined },
      },
    );
    expect(record).not.toHaveBeenCalled();
  });

  // Found by the speech black-box audit in session 42: shown with a lone surrogate, stored with U+FFFD
  it('should record a transcript holding a lone surrogate as the store keeps it, U+FFFD in its place', async () => {
    const { store } = fakeStore([note]);
    const { service, record } = voiceService(store, jest.fn().mockResolvedValue('pay A\uD800B now'));
    await service.handle(connection, voice('note'));
    expect(record).toHaveBeenCalledWith(
      expect.objectContaining({ message: expect.objectContaining({ content: 'pay A\uFFFDB now' }) }),
    );
  });

  it('should read and transcribe a voice note', async () => {
    const { store, reads } = fakeStore([note]);
    const { service, transcribe } = voiceService(store);
    await service.handle(connection, voice('note'));
    expect(reads).toEqual(['note']);
    expect(transcribe).toHaveBeenCalledWith(expect.objectContaining({ mimeType: 'audio/webm' }));
  });

  // docs/protocol.md, "Uploads and files": a user's transcriptions one at a time, the file read only
  // once a place is taken; two more wait, the next is refused RATE_LIMITED and nothing is lost
  it("should read and transcribe one of a user's voice messages at a time, two more waiting and the rest refused", async () => {
    const { store, reads } = fakeStore([note]);
    const vendor = slowVendor();
    const { service, record } = voiceService(store, vendor.transcribe);
    const outcomes = ['a', 'b', 'c', 'd', 'e'].map((clientId) =>
      service.handle(connection, voice('note', clientId)).then(
        () => 'stored',
        (error: DomainException) => error.code,
      ),
    );
    await flush();
    expect(reads).toHaveLength(1);
    expect(vendor.counts.open).toBe(1);
    await vendor.answerAll();
    expect(await Promise.all(outcomes)).toEqual([
      'stored',
      'stored',
      'stored',
      ErrorCode.RATE_LIMITED,
      ErrorCode.RATE_LIMITED,
    ]);
    expect(vendor.counts.most).toBe(1);
    // refused before anything was read or stored: sent again, they are
    const again = ['d', 'e'].map((clientId) => service.handle(connection, voice('note', clientId)));
    await flush();
    await vendor.answerAll();
    await Promise.all(again);
    expect(vendor.counts.most).toBe(1);
    expect(reads).toHaveLength(5);
    expect(record.mock.calls.map(([options]) => options.message.client_id)).toEqual([
      'a',
      'b',
      'c',
      'd',
      'e',
    ]);
  });

  it('should have other users transcribed at once up to the bound of the instance', async () => {
    const { store } = fakeStore([note]);
    const vendor = slowVendor();
    const { service } = voiceService(store, vendor.transcribe);
    const of = (userId: string) => ({ ...connection, principal: { userId, isAdmin: false } }) as Connection;
    const handled = ['u-1', 'u-2', 'u-3'].map((userId) => service.handle(of(userId), voice('note')));
    await flush();
    expect(vendor.counts.open).toBe(2);
    await vendor.answerAll();
    await Promise.all(handled);
    expect(vendor.counts.most).toBe(2);
    expect(vendor.transcribe).toHaveBeenCalledTimes(3);
  });

  // docs/protocol.md, "Resends": a resend while the first copy is at the vendor waits for it
  it('should answer a resend sent while its first copy is transcribed from that copy, transcribing once', async () => {
    const { store } = fakeStore([note]);
    const vendor = slowVendor();
    const { service, record } = voiceService(store, vendor.transcribe);
    const first = service.handle(connection, voice('note', 'same'));
    await flush();
    const resend = service.handle(connection, voice('note', 'same'));
    await flush();
    await vendor.answerAll();
    await Promise.all([first, resend]);
    expect(vendor.transcribe).toHaveBeenCalledTimes(1);
    // the resend is recorded from the stored copy (its duplicate: acked, stored once)
    expect(record).toHaveBeenCalledTimes(2);
    expect(record.mock.calls[1][0].message).toMatchObject({ client_id: 'same', content: 'hello' });
  });
});
