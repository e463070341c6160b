import type { MessageRecord } from '../sessions/session.types';

// A regenerate is stored as the reply it asks for: an `ai_response` with its client_id and
// `metadata.alternative_of` (docs/protocol.md, "Versions"). A resend of it (same client_id) is that
// reply, not another one.
export function storedRegeneration(log: MessageRecord[], clientId: string | undefined) {
  if (clientId === undefined) return undefined;
  return log.find(
    (event) =>
      event.type === 'ai_response' &&
      event.client_id === clientId &&
      event.metadata?.alternative_of !== undefined,
  );
}

// The regenerations asked for on this instance and not yet over (queued, streaming or being
// stored), per session: a resend of one while it runs is acked as that one (TurnVersionsService).
export class RegenerationsInFlight {
  private readonly bySession = new Map<string, Map<string, number>>();

  add(sessionId: string, clientId: string): void {
    const ids = this.bySession.get(sessionId) ?? new Map<string, number>();
    ids.set(clientId, (ids.get(clientId) ?? 0) + 1);
    this.bySession.set(sessionId, ids);
  }

  delete(sessionId: string, clientId: string): void {
    const ids = this.bySession.get(sessionId);
    const left = (ids?.get(clientId) ?? 1) - 1;
    if (left > 0) ids!.set(clientId, left);
    else ids?.delete(clientId);
    if (ids?.size === 0) this.bySession.delete(sessionId);
  }

  has(sessionId: string, clientId: string): boolean {
    return this.bySession.get(sessionId)?.has(clientId) ?? false;
  }
}
