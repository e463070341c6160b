import { useEffect, useRef, useState } from 'preact/hooks';
import { clockTime } from '../../../shared/format';
import { errorText } from '../../../shared/errors';
import { codePoints } from '../../../shared/text-length';
import { isUnreadable, UNREADABLE_TEXT } from '../../../shared/unreadable';
import type { ChatMessage } from '../chat-store';
import { renderMarkdown } from '../markdown';
import { AttachmentView } from './attachment-view';
import { authorLabel, type Labels } from './author-label';
import { LengthNote } from './length-note';
import { MessageActions, type TurnActions } from './message-actions';

export function MessageItem({
  message,
  token,
  labels,
  assistingAdmin,
  onRetry,
  actions,
  canRegenerate,
  canEdit,
  focus,
}: {
  focus?: boolean;
  message: ChatMessage;
  token: string | null;
  labels: Labels;
  assistingAdmin?: string;
  onRetry(message: ChatMessage): void;
  actions?: TurnActions;
  canRegenerate?: boolean;
  canEdit?: boolean;
}) {
  const [editing, setEditing] = useState<string | null>(null);
  // an edited message: which version is shown (null = the current one)
  const [version, setVersion] = useState<number | null>(null);
  if (message.sender === 'system')
    return (
      <p class="event" data-seq={message.seq}>
        {message.content} <time>{clockTime(message.timestamp)}</time>
      </p>
    );
  // the edit sent is trimmed (ChatClient.edit), and refused over the limit as a new message is
  const editLength = editing === null ? 0 : codePoints(editing.trim());
  const editOver = actions !== undefined && editLength > actions.maxLength;
  const rich = message.sender !== 'user';
  const label = authorLabel(message, labels, assistingAdmin);
  const classes = ['msg', message.sender];
  if (message.pending) classes.push('pending');
  if (message.streaming) classes.push('streaming');
  if (focus) classes.push('focus');
  return (
    <article
      class={classes.join(' ')}
      data-key={message.key}
      data-model={message.modelId}
      data-seq={message.seq}
      aria-label={`${label} message`}
    >
      <header>
        <span class="who">{label}</span>
        <time dateTime={message.timestamp}>{clockTime(message.timestamp)}</time>
      </header>
      {message.attachment && <AttachmentView attachment={message.attachment} token={token} />}
      {message.transcript && <p class="transcript">“{message.transcript}”</p>}
      {editing !== null && actions ? (
        <form
          class="edit"
          onSubmit={(event) => {
            event.preventDefault();
            if (editOver) return;
            actions.edit(message, editing);
            setEditing(null);
          }}
        >
          <textarea
            aria-label="Edit message"
            value={editing}
            aria-invalid={editOver}
            onInput={(event) => setEditing((event.currentTarget as HTMLTextAreaElement).value)}
          />
          <button type="submit" disabled={editOver}>
            Send
          </button>
          <button type="button" class="link" onClick={() => setEditing(null)}>
            Cancel
          </button>
          <LengthNote length={editLength} max={actions.maxLength} />
        </form>
      ) : !message.content && isUnreadable(message.metadata) ? (
        <p class="text unreadable">{UNREADABLE_TEXT}</p>
      ) : (
        message.content &&
        (rich ? (
          <RichText content={message.content} final={!message.streaming} />
        ) : (
          <p class="text">
            {version !== null && message.versions ? message.versions[version] : message.content}
          </p>
        ))
      )}
      {message.attachments?.map((attachment, index) => (
        <AttachmentView key={attachment.url ?? `dropped-${index}`} attachment={attachment} token={token} />
      ))}
      {actions && !message.pending && !message.streaming && editing === null && (
        <MessageActions
          message={message}
          actions={actions}
          canRegenerate={canRegenerate}
          canEdit={canEdit}
          version={version}
          onVersion={setVersion}
          onEdit={() => setEditing(message.content)}
        />
      )}
      {message.sender === 'admin' && typeof message.metadata?.seen_at === 'string' && (
        <p class="note seen">Seen</p>
      )}
      {message.stopped && <p class="note">Stopped</p>}
      {message.interrupted && <p class="note">Interrupted</p>}
      {message.pending && !message.failed && <p class="note">Sending…</p>}
      {message.failed && (
        <p class="note error">
          {errorText(message.failed)}{' '}
          {/* a dashboard message whose takeover ended cannot go again: taking over again is the way */}
          {message.failed !== 'TAKEOVER_ENDED' && (
            <button type="button" class="link" onClick={() => onRetry(message)}>
              Retry
            </button>
          )}
        </p>
      )}
    </article>
  );
}

// A reply's Markdown; once complete, its code blocks get a Copy button and, from a chunk loaded on
// first need, syntax highlighting.
function RichText({ content, final }: { content: string; final: boolean }) {
  const element = useRef<HTMLDivElement>(null);
  const html = renderMarkdown(content);
  useEffect(() => {
    const root = element.current;
    if (!final || !root || !root.querySelector('pre code')) return;
    for (const block of root.querySelectorAll('pre')) {
      if (block.querySelector('.copy-code')) continue;
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'copy-code link';
      button.textContent = 'Copy';
      button.addEventListener('click', () => {
        void navigator.clipboard?.writeText(block.querySelector('code')?.textContent ?? '');
        button.textContent = 'Copied';
      });
      block.prepend(button);
    }
    void import('../highlight').then((module) => module.highlightWithin(root));
  }, [html, final]);
  return <div class="md" ref={element} dangerouslySetInnerHTML={{ __html: html }} />;
}
