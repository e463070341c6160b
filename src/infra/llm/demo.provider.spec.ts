import { demoReply } from './demo.provider';

describe('demoReply', () => {
  it('should count the images of the newest user turn when it was given some', () => {
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47]);
    expect(
      demoReply({
        messages: [
          {
            role: 'user',
            content: 'see',
            images: [
              { mimeType: 'image/png', data: png },
              { mimeType: 'image/png', data: png },
            ],
          },
        ],
      }),
    ).toContain('You said: "see" with 2 images.');
    expect(demoReply({ messages: [{ role: 'user', content: 'see' }] })).toContain('You said: "see". ');
  });

  it('should count the PDFs of the newest user turn, beside its images', () => {
    const document = {
      mimeType: 'application/pdf' as const,
      name: 'a.pdf',
      data: Buffer.from('%PDF-'),
      pages: 1,
    };
    const png = { mimeType: 'image/png' as const, data: Buffer.from([0x89, 0x50]) };
    expect(demoReply({ messages: [{ role: 'user', content: 'read', documents: [document] }] })).toContain(
      'You said: "read" with 1 document.',
    );
    expect(
      demoReply({
        messages: [{ role: 'user', content: 'read', images: [png], documents: [document, document] }],
      }),
    ).toContain('You said: "read" with 1 image and 2 documents.');
  });
});
