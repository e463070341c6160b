import fc from 'fast-check';
import { isJwtShaped, tokenFromLocation, tokenFromMessage } from './token-bridge';

const JWT = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0.c2lnbmF0dXJl';

describe('token messages from the parent app', () => {
  it('should accept the documented message as an object or as a JSON string', () => {
    expect(tokenFromMessage({ type: 'chatbox:token', token: JWT })).toBe(JWT);
    expect(tokenFromMessage(JSON.stringify({ type: 'chatbox:token', token: JWT }))).toBe(JWT);
  });

  it('should ignore other apps\u2019 messages and anything not shaped like a JWT', () => {
    expect(tokenFromMessage({ type: 'other', token: JWT })).toBeNull();
    expect(tokenFromMessage({ type: 'chatbox:token', token: '<script>' })).toBeNull();
    expect(tokenFromMessage({ type: 'chatbox:token', token: `${JWT}\n` })).toBeNull();
    expect(tokenFromMessage('not json')).toBeNull();
    expect(tokenFromMessage(null)).toBeNull();
  });

  it('should never throw and only ever return a JWT-shaped string, for any input', () => {
    fc.assert(
      fc.property(fc.oneof(fc.anything(), fc.json(), fc.string()), (input) => {
        const token = tokenFromMessage(input);
        expect(token === null || isJwtShaped(token)).toBe(true);
      }),
    );
  });

  it('should find the token in #token= first, then ?token=', () => {
    expect(tokenFromLocation({ hash: `#token=${JWT}`, search: '' })).toBe(JWT);
    expect(tokenFromLocation({ hash: '', search: `?parent_origin=x&token=${JWT}` })).toBe(JWT);
    expect(tokenFromLocation({ hash: '#token=bad', search: '' })).toBeNull();
  });
});
