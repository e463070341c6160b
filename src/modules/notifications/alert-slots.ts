// At most `size` events of a group within any span of `windowMs`, exact across instances with unique
// inserts alone (docs/protocol.md, "Alert limits and digests"). The group has `size` numbered slots;
// an event takes a slot that is free (its last claim's `until` passed) by inserting the slot's next
// claim, `{ slot, until: at + windowMs }`, whose key names the claim it follows
// (`<group>:<slot>:<that claim's until>`, 0 for a slot with none). Each claim has one successor (the
// unique key), and it comes a window after it, so a slot holds at most one event in any span of the
// window and the group at most `size`. Two instances racing for a slot both insert the same key: one
// wins, the other tries the next free slot. No update is involved: FerretDB applies updates (a
// conditional replace too) as unlocked read-modify-writes, where two can both "succeed". Between
// instances the windows are each claimer's clock: a clock d ahead shortens the span by d.

export interface SlotClaim {
  slot: number;
  // ms since the epoch
  until: number;
}

// a claim to insert: its key (`<group>:<slot>:<the until it follows>`), and when it is purged
export interface NewSlotClaim {
  key: string;
  group: string;
  slot: number;
  until: Date;
  expires: Date;
}

export interface SlotStore {
  // the group's claims still kept (all of them, or at least each slot's last)
  slotClaims(group: string): Promise<SlotClaim[]>;
  // true when this insert made the claim; false when the key is taken (another claim came first)
  claimSlot(claim: NewSlotClaim): Promise<boolean>;
}

// The slots of a group of `size` free at `at`, lowest first, each with the `until` of the claim its
// next one follows (0: none kept). Nothing when `size` slots are taken.
export function* openSlots(
  claims: SlotClaim[],
  size: number,
  at: number,
): Generator<{ slot: number; after: number }> {
  const last = new Map<number, number>();
  for (const { slot, until } of claims)
    if (slot >= 1 && slot <= size) last.set(slot, Math.max(last.get(slot) ?? 0, until));
  let taken = 0;
  for (const until of last.values()) if (until > at) taken++;
  if (taken >= size) return;
  for (let slot = 1; slot <= size; slot++) {
    const after = last.get(slot) ?? 0;
    if (after <= at) yield { slot, after };
  }
}

// One event of the group at `at`: true when it took a slot. A claim is kept a window past its
// `until` (purged after that), so each slot's last claim is read as long as it matters and longer.
export async function takeSlot(
  store: SlotStore,
  group: string,
  size: number,
  windowMs: number,
  at: number,
): Promise<boolean> {
  const claims = await store.slotClaims(group);
  for (const { slot, after } of openSlots(claims, size, at)) {
    const claim = {
      key: `${group}:${slot}:${after}`,
      group,
      slot,
      until: new Date(at + windowMs),
      expires: new Date(at + 2 * windowMs),
    };
    if (await store.claimSlot(claim)) return true;
  }
  return false;
}

// The same slots in this instance's memory (while MongoDB is away; and the unit tests').
export class MemorySlots implements SlotStore {
  private readonly groups = new Map<string, Map<string, SlotClaim & { expires: number }>>();

  slotClaims(group: string): Promise<SlotClaim[]> {
    return Promise.resolve([...(this.groups.get(group)?.values() ?? [])]);
  }

  claimSlot(claim: NewSlotClaim): Promise<boolean> {
    let claims = this.groups.get(claim.group);
    if (!claims) {
      if (this.groups.size >= 10_000) this.groups.clear();
      claims = new Map();
      this.groups.set(claim.group, claims);
    }
    if (claims.has(claim.key)) return Promise.resolve(false);
    // purged as the store's are: a window past their `until`, on the claimer's clock
    const at = 2 * claim.until.getTime() - claim.expires.getTime();
    for (const [key, kept] of claims) if (kept.expires < at) claims.delete(key);
    claims.set(claim.key, {
      slot: claim.slot,
      until: claim.until.getTime(),
      expires: claim.expires.getTime(),
    });
    return Promise.resolve(true);
  }
}
