import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { bytes, clockTime } from '../../../shared/format';
import { errorText } from '../../../shared/errors';
import type { Attachment, ChatMessage, Sender } from '../chat-store';
import { renderMarkdown } from '../markdown';
import { fileObjectUrl } from '../uploads';

interface Props {
  messages: ChatMessage[];
  loading: boolean;
  adminTyping: boolean;
  assistingAdmin?: string;
  token: string | null;
  // the admin dashboard reuses the thread with its own point of view
  labels?: Labels;
  typingLabel?: string;
  onRetry(message: ChatMessage): void;
}

type Labels = Record<Sender, string>;

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
  const onScroll = () => {
    const element = scroller.current;
    if (element) pinned.current = element.scrollHeight - element.scrollTop - element.clientHeight < 48;
  };
  const working = loading && !last?.streaming;
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
          token={token}
          labels={labels}
          assistingAdmin={assistingAdmin}
          onRetry={onRetry}
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
}: {
  message: ChatMessage;
  token: string | null;
  labels: Labels;
  assistingAdmin?: string;
  onRetry(message: ChatMessage): void;
}) {
  if (message.sender === 'system')
    return (
      <p class="event" data-seq={message.seq}>
        {message.content} <time>{clockTime(message.timestamp)}</time>
      </p>
    );
  const rich = message.sender !== 'user';
  const label = message.sender === 'admin' ? (assistingAdmin ?? labels.admin) : labels[message.sender];
  const classes = ['msg', message.sender];
  if (message.pending) classes.push('pending');
  if (message.streaming) classes.push('streaming');
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
      {message.content &&
        (rich ? (
          <div class="md" dangerouslySetInnerHTML={{ __html: renderMarkdown(message.content) }} />
        ) : (
          <p class="text">{message.content}</p>
        ))}
      {message.audioUrl && <AudioFile url={message.audioUrl} token={token} label="Spoken reply" />}
      {message.attachments?.map((url) => (
        <AttachmentView key={url} attachment={{ url }} token={token} />
      ))}
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
  const kind = kindOf(attachment);
  const name = attachment.name ?? 'attachment';
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

function useObjectUrl(url: string, token: string | null): string | null {
  const [objectUrl, setObjectUrl] = useState<string | null>(null);
  useEffect(() => {
    if (!token) return;
    let live = true;
    fileObjectUrl(url, token).then(
      (value) => live && setObjectUrl(value),
      () => live && setObjectUrl(null),
    );
    return () => {
      live = false;
    };
  }, [url, token]);
  return objectUrl;
}

function Thumbnail({ url, token, name }: { url: string; token: string | null; name: string }) {
  const source = useObjectUrl(url, token);
  return source ? (
    <img class="thumb" src={source} alt={name} />
  ) : (
    <span class="thumb placeholder" aria-hidden="true" />
  );
}

function AudioFile({ url, token, label }: { url: string; token: string | null; label: string }) {
  const source = useObjectUrl(url, token);
  return source ? (
    <audio class="player" controls preload="metadata" src={source} aria-label={label} />
  ) : (
    <span class="note">Loading audio…</span>
  );
}

function FileLink({ url, token, name }: { url: string; token: string | null; name: string }) {
  const source = useObjectUrl(url, token);
  return source ? (
    <a href={source} download={name}>
      {name}
    </a>
  ) : (
    <span>{name}</span>
  );
}
