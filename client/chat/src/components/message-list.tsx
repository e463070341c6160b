import { useLayoutEffect, useRef } from 'preact/hooks';
import type { ChatMessage } from '../chat-store';
import type { Labels } from './author-label';
import type { TurnActions } from './message-actions';
import { MessageItem } from './message-item';

export type { TurnActions };

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
