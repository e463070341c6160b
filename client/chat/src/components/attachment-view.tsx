import { bytes } from '../../../shared/format';
import type { Attachment } from '../chat-store';
import { signedFileUrl } from '../uploads';
import { droppedText } from './dropped-file';
import { openSigned } from './open-file';
import { useSignedMedia, useSignedUrl } from './signed-links';

function kindOf(attachment: Attachment): 'image' | 'audio' | 'video' | 'pdf' | 'file' {
  const type = attachment.mimeType ?? '';
  if (type.startsWith('image/')) return 'image';
  if (type.startsWith('audio/')) return 'audio';
  if (type.startsWith('video/')) return 'video';
  if (type === 'application/pdf') return 'pdf';
  return 'file';
}

const TYPE_ICONS = { image: '🖼️', audio: '🎵', video: '🎞️', pdf: '📕', file: '📄' };

export function AttachmentView({ attachment, token }: { attachment: Attachment; token: string | null }) {
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

function Thumbnail({ url, token, name }: { url: string; token: string | null; name: string }) {
  const source = useSignedUrl(url, token);
  return source ? (
    <img class="thumb" src={source} alt={name} />
  ) : (
    <span class="thumb placeholder" aria-hidden="true" />
  );
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
