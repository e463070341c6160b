import { deflateSync } from 'node:zlib';
import fc from 'fast-check';
import { pdf } from '../../../test/helpers/pdf';
import { countPdfPages, MAX_INFLATED_BYTES } from './pdf-pages';

describe('countPdfPages', () => {
  it('should count the page objects of a PDF written with plain objects', async () => {
    expect(await countPdfPages(pdf())).toBe(1);
    expect(await countPdfPages(pdf({ pages: 3 }))).toBe(3);
    // the page tree (/Pages) and other names that start like it (/PageLabel) are no page
    const labelled = Buffer.from(
      pdf({ pages: 2 })
        .toString('latin1')
        .replace('/Type /Catalog', '/Type /Catalog /PageLabels << /Type /PageLabel /S /D >>'),
      'latin1',
    );
    expect(await countPdfPages(labelled)).toBe(2);
  });

  it('should count the pages inside compressed object streams', async () => {
    const compressed = pdf({ pages: 7, compressed: true });
    // nothing of the page tree is readable without inflating
    expect(compressed.toString('latin1')).not.toMatch(/\/Type\s*\/Page\b/);
    expect(await countPdfPages(compressed)).toBe(7);
  });

  it('should count every page, whichever way the PDF is written', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 120 }), fc.boolean(), async (pages, compressed) => {
        expect(await countPdfPages(pdf({ pages, compressed }))).toBe(pages);
      }),
      { numRuns: 40 },
    );
  });

  it('should know no count for an encrypted PDF, one without pages, or bytes that are no PDF', async () => {
    expect(await countPdfPages(pdf({ encrypted: true }))).toBeUndefined();
    expect(await countPdfPages(pdf({ encrypted: true, compressed: true }))).toBeUndefined();
    expect(
      await countPdfPages(
        Buffer.from('%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< >>\n%%EOF\n'),
      ),
    ).toBeUndefined();
    expect(await countPdfPages(Buffer.from('<< /Type /Page >>'))).toBeUndefined();
    expect(await countPdfPages(Buffer.alloc(0))).toBeUndefined();
  });

  it('should know no count when an object stream is corrupt or inflates past the bound', async () => {
    const corrupt = Buffer.from(
      pdf({ pages: 2, compressed: true })
        .toString('latin1')
        .replace(/(\/Type \/ObjStm[\s\S]*?stream\n)../, '$1\x00\x00'),
      'latin1',
    );
    expect(await countPdfPages(corrupt)).toBeUndefined();
    // a small stream that inflates to more than the bound (a zip bomb) is not inflated whole
    const bomb = deflateSync(Buffer.alloc(MAX_INFLATED_BYTES + 1));
    const bombed = Buffer.concat([
      pdf({ pages: 1 }),
      Buffer.from(
        `99 0 obj\n<< /Type /ObjStm /N 1 /First 5 /Filter /FlateDecode /Length ${bomb.length} >>\nstream\n`,
      ),
      bomb,
      Buffer.from('\nendstream\nendobj\n'),
    ]);
    expect(bomb.length).toBeLessThan(64 * 1024);
    expect(await countPdfPages(bombed)).toBeUndefined();
  });
});
