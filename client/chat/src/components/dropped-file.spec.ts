import fc from 'fast-check';
import { droppedText } from './dropped-file';

describe('droppedText', () => {
  it('should say what was removed and why', () => {
    expect(droppedText('infected', 'ai')).toBe('A file of this reply was removed: it contained malware.');
    expect(droppedText('quota', 'tts')).toBe('The spoken reply was removed: your file storage is full.');
    expect(droppedText('scanner_down', undefined)).toBe(
      'A file of this reply was removed: it could not be checked for malware.',
    );
  });

  it('should say only that it was removed for a reason it does not know, prototype keys included', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string(), fc.constantFrom('__proto__', 'constructor', 'toString', 'hasOwnProperty')),
        (reason) => {
          fc.pre(!['infected', 'type', 'quota', 'too_large', 'scanner_down'].includes(reason));
          expect(droppedText(reason, 'ai')).toBe('A file of this reply was removed.');
        },
      ),
    );
  });
});
