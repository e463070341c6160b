import { DomainException } from '../../common/errors/domain.exception';
import { ErrorCode } from '../../common/errors/error-code';
import type { MessageRecord } from '../sessions/session.types';
import { FileContextService, MAX_TEXT_CHARS } from './file-context.service';
import type { FilesService } from './files.service';

function fileMessage(id: string, name: string, mimeType: string, content?: string): MessageRecord {
  return {
    id,
    seq: 1,
    type: 'file_upload',
    sender: 'user',
    content,
    timestamp: new Date(),
    file_id: `file-${id}`,
    metadata: { file: { name, size: 2048, mime_type: mimeType } },
  };
}

describe(FileContextService.name, () => {
  const texts: Record<string, string> = {};
  const reads: string[] = [];
  const files = {
    readPrefix: async (fileId: string, _ownerId: string, maxBytes: number) => {
      reads.push(fileId);
      if (!(fileId in texts)) throw new DomainException(ErrorCode.NOT_FOUND);
      return { info: {}, data: Buffer.from(texts[fileId]).subarray(0, maxBytes) };
    },
  } as unknown as FilesService;
  const service = new FileContextService(files);

  beforeEach(() => (reads.length = 0));

  it('should give the model a text document by its text, with the caption', async () => {
    texts['file-1'] = 'line one\nline two';
    const [turn] = await service.withFileContext(
      [fileMessage('1', 'notes.txt', 'text/plain', 'summarise')],
      'u',
    );
    expect(turn.type).toBe('user_message');
    expect(turn.content).toBe(
      '[The user attached the document "notes.txt" (text/plain, 2 KiB). Its text:]\nline one\nline two\nsummarise',
    );
  });

  it('should cut a long document and say so', async () => {
    texts['file-2'] = 'x'.repeat(MAX_TEXT_CHARS * 2);
    const [turn] = await service.withFileContext([fileMessage('2', 'big.txt', 'text/plain')], 'u');
    expect(turn.content).toContain('Its text (beginning):');
    expect((turn.content as string).length).toBeLessThan(MAX_TEXT_CHARS + 200);
  });

  it('should name images and other files it cannot pass as text', async () => {
    const [image, pdf] = await service.withFileContext(
      [
        fileMessage('3', 'cat.png', 'image/png', 'what is this?'),
        fileMessage('4', 'a.pdf', 'application/pdf'),
      ],
      'u',
    );
    expect(image.content).toBe(
      '[The user attached the image "cat.png" (image/png, 2 KiB); you cannot see images here.]\nwhat is this?',
    );
    expect(pdf.content).toBe('[The user attached the file "a.pdf" (application/pdf, 2 KiB).]');
  });

  it('should say a document is gone when it was deleted', async () => {
    const [turn] = await service.withFileContext([fileMessage('5', 'gone.txt', 'text/plain')], 'u');
    expect(turn.content).toContain('it is no longer available');
  });

  it('should read only the newest text documents and cache what it read', async () => {
    const history = Array.from({ length: 8 }, (_, index) => {
      texts[`file-c${index}`] = `doc ${index}`;
      return fileMessage(`c${index}`, `d${index}.txt`, 'text/plain');
    });
    const first = await service.withFileContext(history, 'u');
    expect(reads).toEqual(['file-c3', 'file-c4', 'file-c5', 'file-c6', 'file-c7']);
    expect(first[0].content).toBe('[The user attached the file "d0.txt" (text/plain, 2 KiB).]');
    reads.length = 0;
    await service.withFileContext(history, 'u');
    expect(reads).toEqual([]);
  });

  it('should leave other messages untouched', async () => {
    const typed: MessageRecord = {
      id: 'm',
      seq: 1,
      type: 'user_message',
      sender: 'user',
      content: 'hi',
      timestamp: new Date(),
    };
    expect(await service.withFileContext([typed], 'u')).toEqual([typed]);
  });
});
