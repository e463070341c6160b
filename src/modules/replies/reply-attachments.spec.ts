import fc from 'fast-check';
import { speechText } from './reply-attachments';

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
