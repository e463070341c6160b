import fc from 'fast-check';
import { commandFromMessage, isJwtShaped, tokenFromLocation, tokenFromMessage } from './token-bridge';

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

describe('commands from the parent app', () => {
  it('should read open, close and set_session, as objects or JSON strings', () => {
    expect(commandFromMessage({ type: 'chatbox:open' })).toEqual({ type: 'chatbox:open' });
    expect(commandFromMessage('{"type":"chatbox:close"}')).toEqual({ type: 'chatbox:close' });
    expect(commandFromMessage({ type: 'chatbox:set_session', session_id: 'a1-b2' })).toEqual({
      type: 'chatbox:set_session',
      session_id: 'a1-b2',
    });
  });

  it('should ignore anything else, and session ids that are not ids', () => {
    for (const data of [
      null,
      'not json',
      { type: 'chatbox:token', token: 'x' },
      { type: 'chatbox:set_session', session_id: '../../x' },
      { type: 'chatbox:set_session' },
      'x'.repeat(2000),
    ])
      expect(commandFromMessage(data)).toBeNull();
  });
});
