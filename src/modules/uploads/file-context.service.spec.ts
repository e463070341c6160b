import { DomainException } from '../../common/errors/domain.exception';
import { ErrorCode } from '../../common/errors/error-code';
import type { MessageRecord } from '../sessions/session.types';
import { pdf } from '../../../test/helpers/pdf';
import {
  FileContextService,
  MAX_DOCUMENT_BYTES,
  MAX_DOCUMENT_PAGES,
  MAX_DOCUMENTS,
  MAX_IMAGE_BYTES,
  MAX_IMAGES,
  MAX_TEXT_CHARS,
  withAttachments,
} from './file-context.service';
import type { FilesService } from './files.service';

function fileMessage(
  id: string,
  name: string,
  mimeType: string,
  content?: string,
  size = 2048,
): MessageRecord {
  return {
    id,
    seq: 1,
    type: 'file_upload',
    sender: 'user',
    content,
    timestamp: new Date(),
    file_id: `file-${id}`,
    metadata: { file: { name, size, mime_type: mimeType } },
  };
}

// stored files whose read is refused so (their late scan, their storage)
const REFUSED: Record<string, ErrorCode> = {
  infected: ErrorCode.FILE_REJECTED,
  'scanner-down': ErrorCode.SCANNER_UNAVAILABLE,
  'storage-down': ErrorCode.STORAGE_UNAVAILABLE,
};

describe(FileContextService.name, () => {
  const texts: Record<string, string> = {};
  // stored images and PDFs by file id: bytes, the record's type and its owner
  const stored: Record<string, { data: Buffer; mimeType: string; owner: string }> = {};
  const reads: string[] = [];
  const readLimits: number[] = [];
  // an assisting admin's text files by file id, and the session each was sent in
  const sent: Record<string, { sessionId: string; text: string }> = {};
  const files = {
    readSentPrefix: async (
      fileId: string,
      reader: { userId: string; sessionId: string },
      maxBytes: number,
    ) => {
      reads.push(`${reader.sessionId}/${fileId}`);
      const file = sent[fileId];
      if (!file || file.sessionId !== reader.sessionId || reader.userId !== 'u')
        throw new DomainException(ErrorCode.NOT_FOUND);
      return { info: {}, data: Buffer.from(file.text).subarray(0, maxBytes) };
    },
    readPrefix: async (fileId: string, ownerId: string, maxBytes: number) => {
      reads.push(fileId);
      readLimits.push(maxBytes);
      const image = stored[fileId];
      if (image) {
        if (image.owner !== ownerId) throw new DomainException(ErrorCode.NOT_FOUND);
        if (image.mimeType === 'broken') throw new Error('storage down');
        if (image.mimeType in REFUSED) throw new DomainException(REFUSED[image.mimeType]);
        return { info: { mime_type: image.mimeType }, data: image.data.subarray(0, maxBytes) };
      }
      if (!(fileId in texts)) throw new DomainException(ErrorCode.NOT_FOUND);
      return { info: {}, data: Buffer.from(texts[fileId]).subarray(0, maxBytes) };
    },
  } as unknown as FilesService;
  const service = new FileContextService(files);

  beforeEach(() => {
    reads.length = 0;
    readLimits.length = 0;
  });

  it('should name a file refused by its late scan as gone, and one that cannot be scanned or read now as such', async () => {
    for (const kind of Object.keys(REFUSED))
      stored[`file-${kind}`] = { data: Buffer.from('text'), mimeType: kind, owner: 'u' };
    const turns = await service.withFileContext(
      Object.keys(REFUSED).map((kind) => fileMessage(kind, `${kind}.txt`, 'text/plain')),
      'u',
    );
    expect(turns.map((turn) => turn.content)).toEqual([
      '[The user attached the document "infected.txt" (text/plain, 2 KiB); it is no longer available.]',
      '[The user attached the document "scanner-down.txt" (text/plain, 2 KiB); it cannot be read right now.]',
      '[The user attached the document "storage-down.txt" (text/plain, 2 KiB); it cannot be read right now.]',
    ]);
    // nothing of them is kept: the next reply reads them again
    expect(turns.map((turn) => turn.id)).toEqual([
      'infected:gone',
      'scanner-down:unavailable',
      'storage-down:unavailable',
    ]);
  });

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

  it('should attach the image bytes for a vision model, read through FilesService as the owner', async () => {
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 7, 7]);
    stored['file-v1'] = { data: png, mimeType: 'image/png', owner: 'u' };
    const history = [fileMessage('v1', 'cat.png', 'image/png', 'what is this?')];
    const [turn] = await service.withFileContext(history, 'u', { vision: true });
    expect(turn).toMatchObject({
      type: 'user_message',
      content: '[The user attached the image "cat.png" (image/png, 2 KiB).]\nwhat is this?',
      images: [{ mimeType: 'image/png', data: png }],
    });
    expect(readLimits).toEqual([MAX_IMAGE_BYTES + 1]);
    // a model without vision gets today's note and no bytes, and nothing is read
    reads.length = 0;
    const [note] = await service.withFileContext(history, 'u');
    expect(note.images).toBeUndefined();
    expect(note.content).toContain('you cannot see images here');
    expect(reads).toEqual([]);
    // the two forms are counted apart by the context window
    expect(note.id).not.toBe(turn.id);
  });

  it('should send only the newest images, and name the older ones', async () => {
    const history = Array.from({ length: MAX_IMAGES + 2 }, (_, index) => {
      stored[`file-n${index}`] = { data: Buffer.from([index]), mimeType: 'image/jpeg', owner: 'u' };
      return fileMessage(`n${index}`, `p${index}.jpg`, 'image/jpeg');
    });
    const turns = await service.withFileContext(history, 'u', { vision: true });
    expect(turns.map((turn) => turn.images?.length ?? 0)).toEqual([0, 0, 1, 1, 1, 1]);
    expect(turns[0].content).toContain(`only the ${MAX_IMAGES} newest images are shown to you`);
    expect(reads.sort()).toEqual(['file-n2', 'file-n3', 'file-n4', 'file-n5']);
  });

  it('should name an image that is too large, gone, foreign or unreadable instead of sending it', async () => {
    stored['file-big'] = { data: Buffer.alloc(MAX_IMAGE_BYTES + 1), mimeType: 'image/png', owner: 'u' };
    stored['file-lying'] = { data: Buffer.alloc(MAX_IMAGE_BYTES + 5), mimeType: 'image/png', owner: 'u' };
    stored['file-other'] = { data: Buffer.from([1]), mimeType: 'image/png', owner: 'someone else' };
    stored['file-broken'] = { data: Buffer.from([1]), mimeType: 'broken', owner: 'u' };
    const turns = await service.withFileContext(
      [
        fileMessage('big', 'big.png', 'image/png', undefined, MAX_IMAGE_BYTES + 1),
        // the message says small; the bytes read say otherwise
        fileMessage('lying', 'lying.png', 'image/png'),
        fileMessage('other', 'other.png', 'image/png'),
        fileMessage('broken', 'broken.png', 'image/png'),
      ],
      'u',
      { vision: true },
    );
    expect(turns.every((turn) => turn.images === undefined)).toBe(true);
    expect(turns[0].content).toContain('it is too large to show you');
    expect(turns[1].content).toContain('it is too large to show you');
    expect(turns[2].content).toContain('it is no longer available');
    // a read that failed otherwise (storage down) is not a file gone
    expect(turns[3].content).toContain('it cannot be read right now');
    // the size on the message alone decides: a too-large image is not even read
    expect(reads).not.toContain('file-big');
  });

  it('should leave files other than jpeg, png, gif and webp as notes for a vision model', async () => {
    const [svg, pdf] = await service.withFileContext(
      [fileMessage('s', 'a.svg', 'image/svg+xml'), fileMessage('p', 'a.pdf', 'application/pdf')],
      'u',
      { vision: true },
    );
    expect(svg.images).toBeUndefined();
    expect(svg.content).toContain('you cannot see images here');
    expect(pdf.content).toBe('[The user attached the file "a.pdf" (application/pdf, 2 KiB).]');
    expect(reads).toEqual([]);
  });

  it('should attach a PDF for a model that reads documents, read through FilesService as the owner', async () => {
    const invoice = pdf({ pages: 2 });
    stored['file-d1'] = { data: invoice, mimeType: 'application/pdf', owner: 'u' };
    const history = [fileMessage('d1', 'invoice.pdf', 'application/pdf', 'What is the total?')];
    const [turn] = await service.withFileContext(history, 'u', { documents: true });
    expect(turn).toMatchObject({
      type: 'user_message',
      content: '[The user attached the document "invoice.pdf" (application/pdf, 2 KiB).]\nWhat is the total?',
      documents: [{ mimeType: 'application/pdf', name: 'invoice.pdf', data: invoice, pages: 2 }],
    });
    expect(turn.images).toBeUndefined();
    expect(readLimits).toEqual([MAX_DOCUMENT_BYTES + 1]);
    // a model without `documents` gets today's note and nothing is read, vision or not
    for (const options of [{}, { vision: true }]) {
      reads.length = 0;
      const [note] = await service.withFileContext(history, 'u', options);
      expect(note.documents).toBeUndefined();
      expect(note.content).toBe(
        '[The user attached the file "invoice.pdf" (application/pdf, 2 KiB).]\nWhat is the total?',
      );
      expect(reads).toEqual([]);
      // the two forms are counted apart by the context window
      expect(note.id).not.toBe(turn.id);
    }
  });

  it('should send only the newest PDFs, and name the older ones', async () => {
    const history = Array.from({ length: MAX_DOCUMENTS + 1 }, (_, index) => {
      stored[`file-o${index}`] = { data: pdf({ pages: 1 }), mimeType: 'application/pdf', owner: 'u' };
      return fileMessage(`o${index}`, `r${index}.pdf`, 'application/pdf');
    });
    const turns = await service.withFileContext(history, 'u', { documents: true, vision: true });
    expect(turns.map((turn) => turn.documents?.length ?? 0)).toEqual([0, ...Array(MAX_DOCUMENTS).fill(1)]);
    expect(turns[0].content).toContain(`only the ${MAX_DOCUMENTS} newest PDFs are shown to you`);
    expect(reads).not.toContain('file-o0');
  });

  it('should name a PDF that is too large, too long, encrypted, gone, foreign or not a PDF instead of sending it', async () => {
    stored['file-pbig'] = { data: pdf(), mimeType: 'application/pdf', owner: 'u' };
    stored['file-plying'] = {
      data: pdf({ padding: MAX_DOCUMENT_BYTES }),
      mimeType: 'application/pdf',
      owner: 'u',
    };
    stored['file-plong'] = {
      data: pdf({ pages: MAX_DOCUMENT_PAGES + 1, compressed: true }),
      mimeType: 'application/pdf',
      owner: 'u',
    };
    stored['file-plocked'] = { data: pdf({ encrypted: true }), mimeType: 'application/pdf', owner: 'u' };
    stored['file-pother'] = { data: pdf(), mimeType: 'application/pdf', owner: 'someone else' };
    stored['file-ptype'] = { data: pdf(), mimeType: 'text/plain', owner: 'u' };
    const names = ['pbig', 'plying', 'plong', 'plocked', 'pother', 'ptype', 'pgone'];
    const turns: Awaited<ReturnType<FileContextService['withFileContext']>> = [];
    // one at a time: each is the newest, so none is left out for being older
    for (const name of names) {
      const size = name === 'pbig' ? MAX_DOCUMENT_BYTES + 1 : 2048;
      const history = [fileMessage(name, `${name}.pdf`, 'application/pdf', 'read it', size)];
      turns.push(...(await service.withFileContext(history, 'u', { documents: true })));
    }
    expect(turns.every((turn) => turn.documents === undefined)).toBe(true);
    expect(turns.map((turn) => turn.content)).toEqual([
      `[The user attached the document "pbig.pdf" (application/pdf, 3 MiB); it is too large to show you (over 3 MiB).]\nread it`,
      `[The user attached the document "plying.pdf" (application/pdf, 2 KiB); it is too large to show you (over 3 MiB).]\nread it`,
      `[The user attached the document "plong.pdf" (application/pdf, 2 KiB); it is too long to show you (over ${MAX_DOCUMENT_PAGES} pages).]\nread it`,
      '[The user attached the document "plocked.pdf" (application/pdf, 2 KiB); it cannot be shown to you (encrypted or unreadable).]\nread it',
      '[The user attached the document "pother.pdf" (application/pdf, 2 KiB); it is no longer available.]\nread it',
      '[The user attached the document "ptype.pdf" (application/pdf, 2 KiB); it is no longer available.]\nread it',
      '[The user attached the document "pgone.pdf" (application/pdf, 2 KiB); it is no longer available.]\nread it',
    ]);
    // the size on the message alone decides: a too-large PDF is not even read
    expect(reads).not.toContain('file-pbig');
  });

  it('should put the images and PDFs on the context messages of their turns', () => {
    const image = { mimeType: 'image/gif' as const, data: Buffer.from('GIF89a') };
    const document = { mimeType: 'application/pdf' as const, name: 'a.pdf', data: pdf(), pages: 1 };
    const prompt = [
      { role: 'user' as const, content: 'a', key: 'm1' },
      { role: 'user' as const, content: 'b', key: 'm2:image' },
      { role: 'user' as const, content: 'c' },
      { role: 'user' as const, content: 'd', key: 'm3:document' },
    ];
    const records: MessageRecord[] = [];
    expect(withAttachments(prompt, records)).toBe(prompt);
    const at = { seq: 2, type: 'user_message' as const, sender: 'user' as const, timestamp: new Date() };
    const history = [
      { ...at, id: 'm1' },
      { ...at, id: 'm2:image', images: [image] },
      { ...at, id: 'm3:document', documents: [document] },
    ];
    expect(withAttachments(prompt, history)).toEqual([
      prompt[0],
      { ...prompt[1], images: [image] },
      prompt[2],
      { ...prompt[3], documents: [document] },
    ]);
  });

  // the takeover audit of session 44: the admin's file, read as the user's, was "[The user attached the
  // document …; it is no longer available.]" while the user read it (3 of 3 runs)
  it("should give the model an assisting admin's text document as the admin's, read only in the session it was sent to", async () => {
    sent['file-a1'] = { sessionId: 's1', text: 'Your code is 42.' };
    const message: MessageRecord = {
      ...fileMessage('a1', 'reset.txt', 'text/plain', 'see this', 16),
      sender: 'admin',
      metadata: {
        file: { name: 'reset.txt', size: 16, mime_type: 'text/plain' },
        admin_name: ' Ada \n Lovelace ',
        admin_key: 'k',
      },
    };
    const [turn] = await service.withFileContext([message], 'u', { sessionId: 's1' });
    // the admin's message, as the admin's text is put to the model (an assistant turn: reply-context.ts)
    expect(turn).toMatchObject({ id: 'a1:text', type: 'user_message', sender: 'admin' });
    expect(turn.content).toBe(
      '[The admin Ada Lovelace, a human colleague assisting this chat, sent the user the document ' +
        '"reset.txt" (text/plain, 16 bytes). Its text:]\nYour code is 42.\nsee this',
    );
    expect(reads).toEqual(['s1/file-a1']);
    // cached for that session only: another session (refused there) reads again
    reads.length = 0;
    await service.withFileContext([message], 'u', { sessionId: 's1' });
    const [elsewhere] = await service.withFileContext([message], 'u', { sessionId: 's2' });
    expect(reads).toEqual(['s2/file-a1']);
    expect(elsewhere.content).toBe(
      '[The admin Ada Lovelace, a human colleague assisting this chat, sent the user the document ' +
        '"reset.txt" (text/plain, 16 bytes); it is no longer available.]\nsee this',
    );
    // never as the user's own file, and without the session it is named, not read
    reads.length = 0;
    const [named] = await service.withFileContext(
      [{ ...message, metadata: { file: message.metadata?.file } }],
      'u',
    );
    expect(named.content).toBe(
      '[An admin assisting this chat sent the user the file "reset.txt" (text/plain, 16 bytes).]\nsee this',
    );
    expect(reads).toEqual([]);
  });

  it("should never read an admin's image or PDF (an assistant turn takes none), leaving the user's theirs", async () => {
    stored['file-ui'] = { data: Buffer.from([1]), mimeType: 'image/png', owner: 'u' };
    const admin = (id: string, name: string, type: string): MessageRecord => ({
      ...fileMessage(id, name, type),
      sender: 'admin',
      metadata: { file: { name, size: 2048, mime_type: type }, admin_name: 'Ada' },
    });
    const history = [
      fileMessage('ui', 'mine.png', 'image/png'),
      ...Array.from({ length: MAX_IMAGES }, (_, index) => admin(`ai${index}`, `a${index}.png`, 'image/png')),
      admin('ap', 'a.pdf', 'application/pdf'),
    ];
    const turns = await service.withFileContext(history, 'u', {
      vision: true,
      documents: true,
      sessionId: 's1',
    });
    expect(reads).toEqual(['file-ui']);
    expect(turns[0].images).toHaveLength(1);
    expect(turns[1].content).toBe(
      '[The admin Ada, a human colleague assisting this chat, sent the user the image "a0.png" ' +
        '(image/png, 2 KiB); you cannot see it here.]',
    );
    expect(turns.at(-1)?.content).toBe(
      '[The admin Ada, a human colleague assisting this chat, sent the user the file "a.pdf" ' +
        '(application/pdf, 2 KiB).]',
    );
    expect(turns.slice(1).every((turn) => turn.images === undefined && turn.documents === undefined)).toBe(
      true,
    );
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
