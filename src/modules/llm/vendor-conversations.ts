import { Injectable, Logger } from '@nestjs/common';
import { LlmProviderError } from '../../infra/llm/llm-provider';
import { LlmRegistry } from './llm.registry';

// What the purge of a deleted session knows of it here (SessionRemoval hands it over).
export interface SessionAtVendors {
  id: string;
  // its owner: the end user every request to a vendor named
  userId: string;
  // the vendor-side state kept per model id (Dify's conversation_id)
  providerStates: ReadonlyMap<string, Record<string, unknown>>;
}

// The LLM side of the purge of deleted sessions (SessionPurgeService; docs/protocol.md, "Session
// library"): the conversations vendors keep of a session (Dify's, one per Dify model it used) are
// deleted there before the session is, so its user's words do not stay at the vendor for good.
@Injectable()
export class VendorConversations {
  private readonly logger = new Logger('llm');

  constructor(private readonly registry: LlmRegistry) {}

  // Throws when a vendor could not be asked or erred (5xx, 429, no answer): the session stays deleted
  // and due, and the next sweep asks again (a delete Dify has done answers 404 then: done). A model
  // configured no more, or now of a vendor that keeps nothing, has no way to its conversation left,
  // and a vendor refusing for good (a bad key, 401/403, does not heal by retrying) would hold the
  // purge forever: both are logged, and the purge goes on.
  async removeOf(session: SessionAtVendors): Promise<void> {
    for (const [modelId, state] of session.providerStates) {
      const provider = this.registry.has(modelId) ? this.registry.get(modelId) : undefined;
      const fields = { session_id: session.id, model_id: modelId };
      if (!provider?.forget) {
        this.logger.warn(
          { event: 'vendor_conversation_unreachable', ...fields },
          "a purged session's conversation at a model configured no more (or of another vendor now) is left there",
        );
        continue;
      }
      try {
        await provider.forget(state, session.userId);
      } catch (error) {
        // the error names the status only, never the key nor the vendor's words
        const err = String(error);
        if (error instanceof LlmProviderError && !error.retryable) {
          this.logger.error(
            { event: 'vendor_conversation_refused', ...fields, err },
            "the vendor refused to delete a purged session's conversation, which is left there",
          );
          continue;
        }
        this.logger.warn(
          { event: 'vendor_conversation_delete_failed', ...fields, err },
          "a purged session's conversation could not be deleted at the vendor; the next sweep tries again",
        );
        throw error;
      }
    }
  }
}
