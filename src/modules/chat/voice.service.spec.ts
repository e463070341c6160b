import { DomainException } from '../../common/errors/domain.exception';
import { ErrorCode } from '../../common/errors/error-code';
import type { FileStore, StoredFileInfo } from '../../infra/files/file-store';
import type { LlmEvents } from '../llm/llm-events';
import type { LlmRegistry } from '../llm/llm.registry';
import type { Connection } from '../realtime/connection';
import type { RecordService } from '../replies/record.service';
import type { SessionsService } from '../sessions/sessions.service';
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
  } as unknown as FileStore;
  return { store, reads };
}

function voiceService(store: FileStore, transcribe = jest.fn().mockResolvedValue('hello')) {
  const sessions = {
    getOwned: () => Promise.resolve({ id: 's-1', model_id: 'm' }),
    // no resend: nothing stored under the frame's client_id
    sent: () => Promise.resolve(undefined),
  } as unknown as SessionsService;
  const registry = {
    has: () => true,
    defaultModelId: 'm',
    entry: () => ({ provider: { vendor: 'openai', transcribe }, settings: {} }),
  } as unknown as LlmRegistry;
  const records = {
    record: jest.fn().mockResolvedValue({ message: { seq: 1 }, duplicate: false }),
  } as unknown as RecordService;
  const events = { failure: jest.fn() } as unknown as LlmEvents;
  return { service: new VoiceService(sessions, registry, records, events, store), transcribe };
}

const connection = {
  sessionId: 's-1',
  principal: { userId: 'u-1', isAdmin: false },
} as unknown as Connection;
const voice = (fileId: string) => ({ type: 'voice_message' as const, client_id: 'c-1', file_id: fileId });

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

  it('should read and transcribe a voice note', async () => {
    const { store, reads } = fakeStore([note]);
    const { service, transcribe } = voiceService(store);
    await service.handle(connection, voice('note'));
    expect(reads).toEqual(['note']);
    expect(transcribe).toHaveBeenCalledWith(expect.objectContaining({ mimeType: 'audio/webm' }));
  });
});
