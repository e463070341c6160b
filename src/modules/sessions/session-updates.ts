import type { BlindIndex } from '../../common/crypto/blind-index';
import type { Session } from './schemas/session.schema';
import type { SessionBatches } from './session-batches';

// The name's search tokens and the key that made them (docs/protocol.md, "Search"): written with
// every name, so key rotation's names pass finds the ones another key made.
export function titleIndex(index: BlindIndex, name: string): { title_tokens: string[]; title_key: string } {
  return { title_tokens: index.tokensOf(name), title_key: index.keyId };
}

// Writes of a session's own fields (its name and title, model, archived and deleted flags), each
// through the coalesced updates (session-batches).
export class SessionUpdates {
  constructor(
    private readonly batches: SessionBatches,
    private readonly index: BlindIndex,
  ) {}

  async update(
    sessionId: string,
    changes: Partial<
      Pick<
        Session,
        'name' | 'named_by_user' | 'model_id' | 'provider_state' | 'archived' | 'deleted' | 'deleted_at'
      >
    >,
  ): Promise<void> {
    const set: Record<string, unknown> = {
      ...changes,
      ...(changes.name !== undefined ? titleIndex(this.index, changes.name) : {}),
    };
    // to the driver directly, as the append: the fields are typed here, and mongoose's casting of the
    // update cost more Node CPU than the command itself (a rename per new session: the model's title)
    await this.batches.updates.load({ filter: { _id: sessionId }, update: { $set: set } });
  }

  // The session's model, written unless its user deleted it (a device still bound to it before it
  // hears of the move writes nothing there: docs/protocol.md, "Session library")
  async setModel(sessionId: string, modelId: string): Promise<void> {
    await this.batches.updates.load({
      filter: { _id: sessionId, deleted: { $ne: true } },
      update: { $set: { model_id: modelId } },
    });
  }

  // A model's title, unless the owner named the session (or it is gone for them): one write whose
  // filter is the check, coalesced as renames are (docs/protocol.md, "Session titles"). true: renamed.
  retitle(sessionId: string, userId: string, name: string): Promise<boolean> {
    return this.batches.titles.load({
      sessionId,
      name,
      filter: { _id: sessionId, user_id: userId, named_by_user: { $ne: true }, deleted: { $ne: true } },
      update: { $set: { name, ...titleIndex(this.index, name) } },
    });
  }
}
