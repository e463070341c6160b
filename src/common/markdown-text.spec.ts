import fc from 'fast-check';
import { linkWords, withoutEmphasis } from './markdown-text';

describe('linkWords', () => {
  it('should read links and images as their words', () => {
    expect(linkWords('see [the docs](https://x/d) and ![a chart](https://x/c.png).')).toBe(
      'see the docs and a chart.',
    );
    expect(linkWords('[](https://x/empty) [a](b)(c)')).toBe(' a(c)');
  });

  it('should keep the outer brackets of link text that holds brackets', () => {
    expect(linkWords('[a [b](u)')).toBe('[a b');
    expect(linkWords('[a](x(y))')).toBe('[a](x(y))');
  });

  it('should keep a text of unclosed brackets and parentheses as it is', () => {
    // the usual pattern scanned to the end from each of them (quadratic)
    for (const hostile of ['['.repeat(64_000), '[a]('.repeat(16_000), `${'[a'.repeat(30_000)}]`])
      expect(linkWords(hostile)).toBe(hostile);
  });

  it('should only drop characters, and none from a text without a link target, when given any text', () => {
    const unit = fc.constantFrom('[', ']', '(', ')', '!', 'a', ' ', 'é');
    const isSubsequence = (part: string, whole: string): boolean => {
      let at = 0;
      for (const character of whole) if (at < part.length && character === part[at]) at++;
      return at === part.length;
    };
    fc.assert(
      fc.property(fc.string({ unit, maxLength: 80 }), (text) => {
        expect(isSubsequence(linkWords(text), text)).toBe(true);
        const noTarget = text.replace(/\(/g, '');
        expect(linkWords(noTarget)).toBe(noTarget);
      }),
    );
  });
});

describe('withoutEmphasis', () => {
  it('should drop paired marks and keep marks that pair with nothing or sit inside words', () => {
    expect(withoutEmphasis('**bold** __strong__ *it* _em_ `code` ~~gone~~')).toBe(
      'bold strong it em code gone',
    );
    for (const text of ['__xss attempt', 'snake_case and more', '2*3*4'])
      expect(withoutEmphasis(text)).toBe(text);
  });
});
