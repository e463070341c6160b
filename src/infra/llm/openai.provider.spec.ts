import { toOpenAiMessages } from './openai.provider';

const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0xff]);
const webp = Buffer.from('RIFF....WEBPVP8 ', 'latin1');

describe('toOpenAiMessages', () => {
  it('should send a user turn with images as a text part then image_url data URLs', () => {
    const messages = toOpenAiMessages(
      [
        { role: 'user', content: 'hello' },
        { role: 'assistant', content: 'hi' },
        {
          role: 'user',
          content: '[The user attached the image "a.png".]\nwhat is it?',
          images: [
            { mimeType: 'image/png', data: png },
            { mimeType: 'image/webp', data: webp },
          ],
        },
      ],
      'Be brief.',
    );
    expect(messages).toEqual([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'hello' },
      { role: 'assistant', content: 'hi' },
      {
        role: 'user',
        content: [
          { type: 'text', text: '[The user attached the image "a.png".]\nwhat is it?' },
          { type: 'image_url', image_url: { url: `data:image/png;base64,${png.toString('base64')}` } },
          { type: 'image_url', image_url: { url: `data:image/webp;base64,${webp.toString('base64')}` } },
        ],
      },
    ]);
    const url = (messages[3].content as Array<{ image_url?: { url: string } }>)[1].image_url?.url as string;
    expect(Buffer.from(url.slice(url.indexOf(',') + 1), 'base64').equals(png)).toBe(true);
  });

  it('should send only role and content, never the raw image buffers, when a turn has no images', () => {
    const messages = toOpenAiMessages([
      { role: 'user', content: 'x', images: [] },
      { role: 'assistant', content: 'y', images: [{ mimeType: 'image/png', data: png }] },
    ]);
    expect(messages).toEqual([
      { role: 'user', content: 'x' },
      { role: 'assistant', content: 'y' },
    ]);
    expect(JSON.stringify(messages)).not.toContain('"images"');
  });
});
