import { assistingAdmin, needsHelp } from './session-flags';

describe('session flags', () => {
  it('should name no assisting admin once the takeover ended', () => {
    expect(
      assistingAdmin({ assisting_admin_name: 'Ann', takeover_in_progress: false, help_requested: false }),
    ).toBe(null);
    expect(
      assistingAdmin({ assisting_admin_name: 'Ann', takeover_in_progress: true, help_requested: false }),
    ).toBe('Ann');
  });

  it('should name the assisting admin as before when the server does not say whether a takeover is on', () => {
    expect(assistingAdmin({ assisting_admin_name: 'Ann', help_requested: false })).toBe('Ann');
    expect(assistingAdmin({ assisting_admin_name: null, help_requested: false })).toBe(null);
  });

  it('should count a help request as needing help only until an admin answered it', () => {
    expect(needsHelp({ help_requested: true, help_pending: false })).toBe(false);
    expect(needsHelp({ help_requested: true, help_pending: true })).toBe(true);
    // an older server: help_requested as before
    expect(needsHelp({ help_requested: true })).toBe(true);
    expect(needsHelp({ help_requested: false })).toBe(false);
  });
});
