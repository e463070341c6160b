import type { ChatMessage } from '../chat-store';
import { authorLabel } from './author-label';

const LABELS = { user: 'You', ai: 'Assistant', admin: 'Admin', system: '' };
const message = (overrides: Partial<ChatMessage>): ChatMessage => ({
  key: 'k',
  type: 'user_message',
  sender: 'admin',
  content: 'hi',
  ...overrides,
});

describe('authorLabel', () => {
  it("should name an admin's message by the admin who wrote it, not the one assisting now", () => {
    expect(authorLabel(message({ metadata: { admin_name: 'Alice Admin' } }), LABELS, 'Bob Admin')).toBe(
      'Alice Admin',
    );
    expect(authorLabel(message({ metadata: { admin_name: 'Alice Admin' } }), LABELS)).toBe('Alice Admin');
  });

  it('should name the assisting admin, else say Admin, when the message names nobody', () => {
    expect(authorLabel(message({ pending: true }), LABELS, 'Bob Admin')).toBe('Bob Admin');
    expect(authorLabel(message({ metadata: { admin_name: 7 } }), LABELS, 'Bob Admin')).toBe('Bob Admin');
    expect(authorLabel(message({ metadata: { admin_name: '' } }), LABELS)).toBe('Admin');
  });

  it("should label the others' messages as the view says", () => {
    expect(authorLabel(message({ sender: 'user', metadata: { admin_name: 'x' } }), LABELS, 'Bob')).toBe(
      'You',
    );
    expect(authorLabel(message({ sender: 'ai' }), LABELS, 'Bob')).toBe('Assistant');
  });
});
