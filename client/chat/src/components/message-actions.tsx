import type { ChatMessage } from '../chat-store';

export interface TurnActions {
  regenerate(): void;
  selectReply(replyId: string): void;
  edit(message: ChatMessage, text: string): void;
  // the longest message, in code points: the edit box counts against it as the composer does
  maxLength: number;
  feedback?(message: ChatMessage, rating: 'up' | 'down'): void;
}

export function MessageActions({
  message,
  actions,
  canRegenerate,
  canEdit,
  version,
  onVersion,
  onEdit,
}: {
  message: ChatMessage;
  actions: TurnActions;
  canRegenerate?: boolean;
  canEdit?: boolean;
  version: number | null;
  onVersion(version: number | null): void;
  onEdit(): void;
}) {
  const alternatives = message.alternatives;
  const versions = message.versions;
  const shownVersion = version ?? (versions ? versions.length - 1 : 0);
  return (
    <div class="actions">
      {alternatives && (
        <span class="pager" data-testid="alternatives">
          <button
            type="button"
            class="link"
            aria-label="Previous answer"
            disabled={alternatives.index === 0}
            onClick={() => actions.selectReply(alternatives.ids[alternatives.index - 1])}
          >
            ‹
          </button>
          <span>
            {alternatives.index + 1}/{alternatives.ids.length}
          </span>
          <button
            type="button"
            class="link"
            aria-label="Next answer"
            disabled={alternatives.index === alternatives.ids.length - 1}
            onClick={() => actions.selectReply(alternatives.ids[alternatives.index + 1])}
          >
            ›
          </button>
        </span>
      )}
      {versions && (
        <span class="pager" data-testid="versions">
          <button
            type="button"
            class="link"
            aria-label="Earlier version"
            disabled={shownVersion === 0}
            onClick={() => onVersion(shownVersion - 1)}
          >
            ‹
          </button>
          <span>
            edited {shownVersion + 1}/{versions.length}
          </span>
          <button
            type="button"
            class="link"
            aria-label="Later version"
            disabled={shownVersion === versions.length - 1}
            onClick={() => onVersion(shownVersion + 1 === versions.length - 1 ? null : shownVersion + 1)}
          >
            ›
          </button>
        </span>
      )}
      {message.content && (
        <button
          type="button"
          class="link"
          onClick={() => void navigator.clipboard?.writeText(message.content)}
          title="Copy"
        >
          Copy
        </button>
      )}
      {canEdit && (
        <button type="button" class="link" onClick={onEdit}>
          Edit
        </button>
      )}
      {canRegenerate && (
        <button type="button" class="link" onClick={() => actions.regenerate()}>
          Regenerate
        </button>
      )}
      {message.type === 'ai_response' && actions.feedback && message.id && (
        <>
          <button
            type="button"
            class={`link${message.metadata?.feedback === 'up' ? ' chosen' : ''}`}
            aria-label="Good answer"
            aria-pressed={message.metadata?.feedback === 'up'}
            onClick={() => actions.feedback?.(message, 'up')}
          >
            👍
          </button>
          <button
            type="button"
            class={`link${message.metadata?.feedback === 'down' ? ' chosen' : ''}`}
            aria-label="Bad answer"
            aria-pressed={message.metadata?.feedback === 'down'}
            onClick={() => actions.feedback?.(message, 'down')}
          >
            👎
          </button>
        </>
      )}
    </div>
  );
}
