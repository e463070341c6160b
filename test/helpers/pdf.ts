import { deflateSync } from 'node:zlib';

export interface PdfOptions {
  // pages, each showing `text` (default "Page N")
  pages?: number;
  text?: string;
  // the catalog, page tree and pages inside a FlateDecode object stream with a cross-reference
  // stream (PDF 1.5), as most producers write them now; otherwise plain objects and an xref table
  compressed?: boolean;
  // bytes of an unused stream, to make a large file of few pages
  padding?: number;
  // an /Encrypt entry in the trailer (its dictionary only: nothing is really encrypted)
  encrypted?: boolean;
}

// A real PDF (objects, cross-references, trailer, every offset right) with as many pages as asked:
// what a scanned invoice looks like to the upload type sniffing and to the vendors, only smaller.
export function pdf(options: PdfOptions = {}): Buffer {
  const pages = options.pages ?? 1;
  const font = 3;
  const pageIds = Array.from({ length: pages }, (_, index) => 4 + index * 2);
  // plain objects (no streams): these may go inside an object stream
  const dictionaries = new Map<number, string>([
    [1, '<< /Type /Catalog /Pages 2 0 R >>'],
    [2, `<< /Type /Pages /Kids [${pageIds.map((id) => `${id} 0 R`).join(' ')}] /Count ${pages} >>`],
    [font, '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>'],
  ]);
  const streams = new Map<number, { dictionary: string; data: Buffer }>();
  pageIds.forEach((id, index) => {
    dictionaries.set(
      id,
      `<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Resources << /Font << /F1 ${font} 0 R >> >> /Contents ${id + 1} 0 R >>`,
    );
    const text = (options.text ?? `Page ${index + 1}`).replace(/[\\()]/g, (character) => `\\${character}`);
    streams.set(id + 1, { dictionary: '<<', data: Buffer.from(`BT /F1 12 Tf 20 100 Td (${text}) Tj ET`) });
  });
  let next = 4 + pages * 2;
  if (options.padding)
    streams.set(next++, { dictionary: '<<', data: Buffer.alloc(options.padding, ' '.charCodeAt(0)) });
  const encryptId = options.encrypted ? next++ : undefined;
  if (encryptId !== undefined)
    dictionaries.set(encryptId, '<< /Filter /Standard /V 1 /R 2 /O (owner) /U (user) /P -4 >>');

  const parts: Buffer[] = [Buffer.from('%PDF-1.5\n%\xe2\xe3\xcf\xd3\n', 'latin1')];
  let length = parts[0].length;
  const write = (part: string | Buffer) => {
    const buffer = typeof part === 'string' ? Buffer.from(part, 'latin1') : part;
    parts.push(buffer);
    length += buffer.length;
  };
  // where each object is: at an offset in the file, or the index-th object of an object stream
  const offsets = new Map<number, number>();
  const packed = new Map<number, { stream: number; index: number }>();
  const writeStream = (id: number, dictionary: string, data: Buffer) => {
    offsets.set(id, length);
    write(`${id} 0 obj\n${dictionary} /Length ${data.length} >>\nstream\n`);
    write(data);
    write('\nendstream\nendobj\n');
  };

  for (const [id, { dictionary, data }] of streams) writeStream(id, dictionary, data);
  const trailerKeys = `/Root 1 0 R${encryptId === undefined ? '' : ` /Encrypt ${encryptId} 0 R`}`;
  if (!options.compressed) {
    for (const [id, dictionary] of dictionaries) {
      offsets.set(id, length);
      write(`${id} 0 obj\n${dictionary}\nendobj\n`);
    }
    const size = next;
    const xref = length;
    const rows = Array.from({ length: size }, (_, id) => {
      const offset = offsets.get(id);
      return offset === undefined
        ? '0000000000 65535 f \n'
        : `${String(offset).padStart(10, '0')} 00000 n \n`;
    });
    write(
      `xref\n0 ${size}\n${rows.join('')}trailer\n<< /Size ${size} ${trailerKeys} >>\nstartxref\n${xref}\n%%EOF\n`,
    );
    return Buffer.concat(parts);
  }

  // object stream: "id offset" pairs, then the objects, deflated
  const objectStream = next++;
  let header = '';
  let body = '';
  [...dictionaries].forEach(([id, dictionary], index) => {
    header += `${id} ${body.length} `;
    body += `${dictionary}\n`;
    packed.set(id, { stream: objectStream, index });
  });
  const content = Buffer.from(header + body, 'latin1');
  writeStream(
    objectStream,
    `<< /Type /ObjStm /N ${dictionaries.size} /First ${header.length} /Filter /FlateDecode`,
    deflateSync(content),
  );
  // cross-reference stream: one row per object, fields of 1, 4 and 2 bytes
  const xrefId = next++;
  const size = next;
  offsets.set(xrefId, length);
  const rows = Buffer.alloc(size * 7);
  for (let id = 0; id < size; id++) {
    const row = id * 7;
    const inStream = packed.get(id);
    const offset = offsets.get(id);
    if (inStream) {
      rows.writeUInt8(2, row);
      rows.writeUInt32BE(inStream.stream, row + 1);
      rows.writeUInt16BE(inStream.index, row + 5);
    } else if (offset !== undefined) {
      rows.writeUInt8(1, row);
      rows.writeUInt32BE(offset, row + 1);
    } else rows.writeUInt16BE(0xffff, row + 5);
  }
  const xref = length;
  writeStream(xrefId, `<< /Type /XRef /Size ${size} /W [1 4 2] ${trailerKeys}`, rows);
  write(`startxref\n${xref}\n%%EOF\n`);
  return Buffer.concat(parts);
}
