import fc from 'fast-check';
import { upgradePath } from './upgrade-routes';

describe('upgradePath', () => {
  it('should read the path of an origin-form or absolute-form target, without its query', () => {
    expect(upgradePath('/chat/ws?token=x')).toBe('/chat/ws');
    expect(upgradePath('/ws/chat')).toBe('/ws/chat');
    expect(upgradePath('http://evil.example/chat/ws?x=1')).toBe('/chat/ws');
    expect(upgradePath('/chat/./ws')).toBe('/chat/ws');
    expect(upgradePath('/chat/ws/')).toBe('/chat/ws/');
  });

  it('should answer null for a missing target', () => {
    expect(upgradePath(undefined)).toBeNull();
    expect(upgradePath('')).toBeNull();
  });

  it('should never throw, and answer null or a path starting with a slash, for any target', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (target) => {
        const path = upgradePath(target);
        expect(path === null || path.startsWith('/')).toBe(true);
      }),
      { numRuns: 2_000 },
    );
  });
});
