import type { LinkState } from '../chat-socket';
import { useNow } from '../use-client';

// Connected / reconnecting (with a countdown) / offline, announced to screen readers.
export function StatusBar({ link, pending, onRetry }: { link: LinkState; pending: number; onRetry(): void }) {
  const now = useNow(500, link.kind === 'reconnecting');
  let text: string;
  switch (link.kind) {
    case 'connected':
      text = 'Connected';
      break;
    case 'connecting':
      text = 'Connecting…';
      break;
    case 'reconnecting':
      text = `Reconnecting in ${Math.max(0, Math.ceil((link.retryAt - now) / 1000))} s`;
      break;
    case 'offline':
      text = 'Offline';
      break;
    case 'signed_out':
      text = 'Signed out';
      break;
  }
  return (
    <div class={`status ${link.kind}`} role="status" data-testid="status" data-state={link.kind}>
      <span class="dot" aria-hidden="true" />
      <span>{text}</span>
      {pending > 0 && link.kind !== 'connected' && <span class="queued">· {pending} to send</span>}
      {link.kind === 'reconnecting' && (
        <button type="button" class="link" onClick={onRetry}>
          Retry now
        </button>
      )}
    </div>
  );
}
