import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { bytes, clockTime } from '../../../shared/format';
import { errorText } from '../../../shared/errors';
import type { Attachment, ChatMessage } from '../chat-store';
import { renderMarkdown } from '../markdown';
import { SignedMediaSource, signedFileUrl } from '../uploads';
import { authorLabel, type Labels } from './author-label';
import { droppedText } from './dropped-file';
import { openSigned } from './open-file';

interface Props {
  messages: ChatMessage[];
  loading: boolean;
  adminTyping: boolean;
  assistingAdmin?: string;
  token: string | null;
  // the admin dashboard reuses the thread with its own point of view
  labels?: Labels;
  typingLabel?: string;
  // scroll to this message once it is shown (a search hit)
  focusSeq?: number;
  onRetry(message: ChatMessage): void;
  // the chat client's turn actions (the dashboard shows none of them)
  actions?: TurnActions;
}

export interface TurnActions {
  regenerate(): void;
  selectReply(replyId: string): void;
  edit(message: ChatMessage, text: string): void;
  feedback?(message: ChatMessage, rating: 'up' | 'down'): void;
}

export function MessageList(props: Props) {
  const { messages, loading, adminTyping, assistingAdmin, token, onRetry } = props;
  const labels = props.labels ?? LABELS;
  const scroller = useRef<HTMLDivElement>(null);
  const pinned = useRef(true);
  const last = messages.at(-1);
  // follow the conversation unless the reader scrolled up to read older messages
  useLayoutEffect(() => {
    const element = scroller.current;
    if (element && pinned.current) element.scrollTop = element.scrollHeight;
  }, [messages.length, last?.content, loading, adminTyping]);
  const focused = props.focusSeq !== undefined && messages.some((message) => message.seq === props.focusSeq);
  useLayoutEffect(() => {
    if (!focused) return;
    const element = scroller.current?.querySelector(`[data-seq="${props.focusSeq}"]`);
    if (!element) return;
    pinned.current = false;
    element.scrollIntoView({ block: 'center' });
  }, [focused, props.focusSeq]);
  const onScroll = () => {
    const element = scroller.current;
    if (element) pinned.current = element.scrollHeight - element.scrollTop - element.clientHeight < 48;
  };
  const working = loading && !last?.streaming;
  // only the newest turn can be answered again or edited
  const lastReply = messages.findLast((message) => message.type === 'ai_response');
  const lastTyped = messages.findLast(
    (message) => message.type === 'user_message' && message.sender === 'user',
  );
  const idle = !loading && !messages.some((message) => message.streaming || message.pending);
  return (
    <div
      class="thread"
      ref={scroller}
      onScroll={onScroll}
      role="log"
      aria-label="Conversation"
      aria-live="polite"
    >
      {messages.length === 0 && !working && <p class="empty">Ask anything to start the conversation.</p>}
      {messages.map((message) => (
        <MessageItem
          key={message.key}
          message={message}
          focus={message.seq !== undefined && message.seq === props.focusSeq}
          token={token}
          labels={labels}
          assistingAdmin={assistingAdmin}
          onRetry={onRetry}
          actions={props.actions}
          canRegenerate={idle && message === lastReply && message === last}
          canEdit={idle && message === lastTyped}
        />
      ))}
      {working && (
        <div class="working" aria-label="The assistant is working" data-testid="loading">
          <span class="dots" aria-hidden="true">
            <i />
            <i />
            <i />
          </span>
        </div>
      )}
      {adminTyping && <p class="typing">{props.typingLabel ?? assistingAdmin ?? 'The admin'} is typing…</p>}
    </div>
  );
}

const LABELS: Labels = { user: 'You', ai: 'Assistant', admin: 'Admin', system: '' };

function MessageItem({
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
            actions.edit(message, editing);
            setEditing(null);
          }}
        >
          <textarea
            aria-label="Edit message"
            value={editing}
            onInput={(event) => setEditing((event.currentTarget as HTMLTextAreaElement).value)}
          />
          <button type="submit">Send</button>
          <button type="button" class="link" onClick={() => setEditing(null)}>
            Cancel
          </button>
        </form>
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
          <button type="button" class="link" onClick={() => onRetry(message)}>
            Retry
          </button>
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

function MessageActions({
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

function kindOf(attachment: Attachment): 'image' | 'audio' | 'video' | 'pdf' | 'file' {
  const type = attachment.mimeType ?? '';
  if (type.startsWith('image/')) return 'image';
  if (type.startsWith('audio/')) return 'audio';
  if (type.startsWith('video/')) return 'video';
  if (type === 'application/pdf') return 'pdf';
  return 'file';
}

const TYPE_ICONS = { image: '🖼️', audio: '🎵', video: '🎞️', pdf: '📕', file: '📄' };

function AttachmentView({ attachment, token }: { attachment: Attachment; token: string | null }) {
  if (attachment.dropped) return <p class="note">{droppedText(attachment.dropped, attachment.source)}</p>;
  const kind = kindOf(attachment);
  const name = attachment.source === 'tts' ? 'Spoken reply' : (attachment.name ?? 'attachment');
  // a vendor's link is opened in a new tab, never fetched or embedded here
  if (attachment.external && attachment.url)
    return (
      <div class={`file ${kind}`}>
        <span class="type-icon" aria-hidden="true">
          {TYPE_ICONS[kind]}
        </span>
        <a href={attachment.url} target="_blank" rel="noopener noreferrer nofollow">
          {attachment.name ?? new URL(attachment.url, location.href).hostname}
        </a>
      </div>
    );
  if (kind === 'audio' && attachment.url)
    return <AudioFile url={attachment.url} token={token} label={name} />;
  return (
    <div class={`file ${kind}`}>
      {kind === 'image' && attachment.url ? (
        <Thumbnail url={attachment.url} token={token} name={name} />
      ) : (
        <span class="type-icon" aria-hidden="true">
          {TYPE_ICONS[kind]}
        </span>
      )}
      <span class="file-name">
        {attachment.url ? <FileLink url={attachment.url} token={token} name={name} /> : name}
        {attachment.size !== undefined && <small> · {bytes(attachment.size)}</small>}
      </span>
    </div>
  );
}

function useSignedUrl(url: string, token: string | null): string | null {
  const [signed, setSigned] = useState<string | null>(null);
  useEffect(() => {
    if (!token) return;
    let live = true;
    signedFileUrl(url, token).then(
      (value) => live && setSigned(value),
      () => live && setSigned(null),
    );
    return () => {
      live = false;
    };
  }, [url, token]);
  return signed;
}

function Thumbnail({ url, token, name }: { url: string; token: string | null; name: string }) {
  const source = useSignedUrl(url, token);
  return source ? (
    <img class="thumb" src={source} alt={name} />
  ) : (
    <span class="thumb placeholder" aria-hidden="true" />
  );
}

// A player's link expires (SIGNED_URL_TTL) while the page stays open: a play or a seek then fails
// (403) and the element errors. It gets a fresh link, once per failure, and goes on where it was.
function useSignedMedia(url: string, token: string | null) {
  const [signed, setSigned] = useState<string | null>(null);
  const media = useRef<SignedMediaSource | null>(null);
  // where the player was when its link failed, to go on from there with the fresh one
  const resume = useRef<{ at: number; playing: boolean } | null>(null);
  useEffect(() => {
    if (!token) return;
    let live = true;
    const source = new SignedMediaSource(url, token, (value) => live && setSigned(value));
    media.current = source;
    source.start().catch(() => live && setSigned(null));
    return () => {
      live = false;
      media.current = null;
    };
  }, [url, token]);
  const onError = (event: Event) => {
    const element = event.currentTarget as HTMLMediaElement;
    resume.current = { at: element.currentTime, playing: !element.paused };
    media.current?.failed().catch(() => undefined);
  };
  const onLoadedMetadata = (event: Event) => {
    const element = event.currentTarget as HTMLMediaElement;
    media.current?.played();
    const where = resume.current;
    resume.current = null;
    if (!where) return;
    element.currentTime = where.at;
    if (where.playing) element.play().catch(() => undefined);
  };
  return { signed, onError, onLoadedMetadata };
}

function AudioFile({ url, token, label }: { url: string; token: string | null; label: string }) {
  const { signed: source, onError, onLoadedMetadata } = useSignedMedia(url, token);
  return (
    <div class="audio">
      <span class="audio-label">{label}</span>
      {source ? (
        <audio
          class="player"
          controls
          preload="metadata"
          src={source}
          aria-label={label}
          onError={onError}
          onLoadedMetadata={onLoadedMetadata}
        />
      ) : (
        <span class="note">Loading audio…</span>
      )}
    </div>
  );
}

// signed on click, so a link shown an hour ago still opens
function FileLink({ url, token, name }: { url: string; token: string | null; name: string }) {
  const open = (event: Event) => {
    event.preventDefault();
    if (!token) return;
    openSigned(window, () => signedFileUrl(url, token));
  };
  return (
    <a href={url} onClick={open}>
      {name}
    </a>
  );
}
