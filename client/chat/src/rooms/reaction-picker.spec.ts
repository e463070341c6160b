import { isReactionEmoji } from '../../../../src/protocol/reaction-emoji';
import { REACTION_PICKER } from './reaction-picker';

describe('REACTION_PICKER', () => {
  it('should offer only reactions the server accepts (one emoji each)', () => {
    expect(REACTION_PICKER.length).toBeGreaterThan(0);
    for (const emoji of REACTION_PICKER)
      expect({ emoji, accepted: isReactionEmoji(emoji) }).toEqual({ emoji, accepted: true });
  });
});
