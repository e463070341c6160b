// The lease of a room's `@ai` run (chat_ai_runs; docs/protocol.md, "@ai in a room"), from the length
// ROOM_AI_LEASE sets: the run is renewed every quarter of it, and one not renewed for the whole of it
// is a dead instance's, ended by the sweep (every half of it) or by the next `@ai` in the room.
export interface AiLeaseTimes {
  leaseMs: number;
  renewMs: number;
  sweepMs: number;
}

export function aiLeaseTimes(leaseMs: number): AiLeaseTimes {
  const renewMs = Math.floor(leaseMs / 4);
  return { leaseMs, renewMs, sweepMs: Math.floor(leaseMs / 2) };
}
