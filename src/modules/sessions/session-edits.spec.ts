import fc from 'fast-check';
import { modelOfStateKey, stateKey } from './session-edits';

describe('provider_state keys', () => {
  it('should give back the model id a key was made of, when the id holds dots, dollars and percents', () => {
    expect(stateKey('gpt-4.1$x%')).toBe('gpt-4%2E1%24x%25');
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom('a', '.', '$', '%', '2', 'E', '-') }), (modelId) => {
        const key = stateKey(modelId);
        expect(key).not.toMatch(/[.$]/);
        expect(modelOfStateKey(key)).toBe(modelId);
      }),
    );
  });
});
