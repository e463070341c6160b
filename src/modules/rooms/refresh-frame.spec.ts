import fc from 'fast-check';
import { wholeTextProblem } from '../../common/display-text';
import { refreshProblem } from './rooms.gateway';

// The auth_refresh frame on /ws/chat gets the checks every frame gets, and has three fields only.
describe('refreshProblem', () => {
  it('should take a refresh with type, content and an optional client_id', () => {
    fc.assert(
      fc.property(fc.string(), fc.option(fc.string(), { nil: undefined }), (content, clientId) => {
        const frame =
          clientId === undefined
            ? { type: 'auth_refresh', content }
            : { type: 'auth_refresh', content, client_id: clientId };
        // lone surrogates are refused like in any frame
        const wellFormed = [content, clientId ?? ''].every((text) => wholeTextProblem(text) === undefined);
        expect(refreshProblem(frame) === undefined).toBe(wellFormed);
      }),
    );
  });

  it('should refuse any other field, and a prototype key at any depth', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1 }).filter((key) => !['type', 'content', 'client_id'].includes(key)),
        fc.jsonValue(),
        (key, value) => {
          const frame: Record<string, unknown> = { type: 'auth_refresh', content: 't' };
          Object.defineProperty(frame, key, { value, enumerable: true });
          expect(refreshProblem(frame)).toBeDefined();
        },
      ),
    );
    const nested = JSON.parse(
      '{"type":"auth_refresh","content":"t","client_id":"c","x":{"__proto__":1}}',
    ) as object;
    expect(refreshProblem(nested)).toContain('__proto__');
  });

  it('should refuse nesting past 32 levels', () => {
    const deep = JSON.parse(`{"type":"auth_refresh","content":${'['.repeat(40)}${']'.repeat(40)}}`) as object;
    expect(refreshProblem(deep)).toMatch(/nested/);
  });
});
