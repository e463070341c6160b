import fc from 'fast-check';
import { sessionFromAddress } from './address-session';

// An alert's link opens the dashboard at its session: /admin/?session=<id> (notifications'
// alert-format.ts). Only an id of the shape sessions have is taken; anything else opens the list.
describe(sessionFromAddress.name, () => {
  it('should read the session an alert link names', () => {
    expect(sessionFromAddress('?session=1b911683-5542-4dcd-9fcd-442519187e8d')).toBe(
      '1b911683-5542-4dcd-9fcd-442519187e8d',
    );
    expect(sessionFromAddress('?x=1&session=abc-123')).toBe('abc-123');
  });

  it('should take nothing from an address without a session, or with one no session could have', () => {
    expect(sessionFromAddress('')).toBeNull();
    expect(sessionFromAddress('?session=')).toBeNull();
    expect(sessionFromAddress('?session=../chat/sessions')).toBeNull();
    expect(sessionFromAddress(`?session=${'a'.repeat(200)}`)).toBeNull();
  });

  it('should return only ids of letters, digits, - and _ up to 128 characters, whatever the address', () => {
    fc.assert(
      fc.property(fc.string(), (search) => {
        const id = sessionFromAddress(search);
        return id === null || /^[A-Za-z0-9_-]{1,128}$/.test(id);
      }),
    );
  });
});
