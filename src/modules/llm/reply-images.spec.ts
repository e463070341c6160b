import fc from 'fast-check';
import { imageUrlsIn } from './reply-images';

describe('imageUrlsIn', () => {
  it('should find markdown images with http(s) URLs, each once, in order', () => {
    const text =
      'Here: ![cat](https://img.example/cat.png) and ![dog](<http://img.example/dog.jpg> "Dog")\n' +
      'again ![cat](https://img.example/cat.png), a [link](https://example.com) and ![x](javascript:alert(1))';
    expect(imageUrlsIn(text)).toEqual(['https://img.example/cat.png', 'http://img.example/dog.jpg']);
  });

  it('should list at most eight images', () => {
    const text = Array.from({ length: 12 }, (_, index) => `![i](https://img.example/${index}.png)`).join(' ');
    expect(imageUrlsIn(text)).toHaveLength(8);
  });

  it('should only ever return distinct absolute http(s) URLs that appear in the text, when given any text', () => {
    const withImages = fc
      .array(
        fc.oneof(
          fc.string(),
          fc.webUrl().map((url) => `![a](${url})`),
        ),
        { maxLength: 12 },
      )
      .map((parts) => parts.join(' '));
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 500 }), withImages), (text) => {
        const urls = imageUrlsIn(text);
        expect(urls.length).toBeLessThanOrEqual(8);
        expect(new Set(urls).size).toBe(urls.length);
        for (const url of urls) expect(new URL(url).protocol).toMatch(/^https?:$/);
      }),
    );
  });
});
