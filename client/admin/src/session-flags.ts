import type { AdminSession } from './admin-api';

type Flags = Pick<
  AdminSession,
  'assisting_admin_name' | 'takeover_in_progress' | 'help_pending' | 'help_requested'
>;

// The admin assisting now, or null. The name stays on a session after its takeover ended: only
// takeover_in_progress says whether one is on (servers without it: the name alone, as before).
export function assistingAdmin(session: Flags): string | null {
  if (session.takeover_in_progress === false) return null;
  return session.assisting_admin_name ?? null;
}

// Help asked for and not answered by an admin yet (help_requested stays true once asked).
export function needsHelp(session: Flags): boolean {
  return typeof session.help_pending === 'boolean' ? session.help_pending : session.help_requested;
}
