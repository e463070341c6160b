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
});
