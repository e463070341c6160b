import { useState } from 'preact/hooks';
import { UNREADABLE_TEXT } from '../../../shared/unreadable';
import { BlockConfirm, BlockError, BlockToggle } from './block-controls';
import { deliveryOf } from './delivery';
import { REACTION_PICKER } from './reaction-picker';
import type { RoomsClient } from './rooms-client';
import type { RoomMessage } from './thread-state';

interface ItemProps {
  rooms: RoomsClient;
  message: RoomMessage;
  seen: boolean;
  // a room of several people (not a direct message): a blocked user's messages are collapsed
  shared: boolean;
  onReply(): void;
  onEdit(): void;
}

// One message: sender, time, edited mark, the message replied to, text (or deleted), reactions,
// delivery state for one's own (and for this user's edit, delete or reaction until acked), and its
// actions (react, reply, edit, delete, report, block). A blocked user's message in a shared room
// is collapsed until the user shows it.
export function RoomMessageItem({ rooms, message, seen, shared, onReply, onEdit }: ItemProps) {
  const [tools, setTools] = useState(false);
  const [reporting, setReporting] = useState(false);
  const [reported, setReported] = useState(false);
  const [confirmingBlock, setConfirmingBlock] = useState(false);
  const [revealed, setRevealed] = useState(false);
  if (message.kind === 'system')
    return (
      <p class="event" data-message-id={message.messageId} data-seq={message.seq}>
        {systemText(message)}
      </p>
    );
  const mine = message.userId === rooms.userId;
  // another person (the AI is not blocked: its replies are the room's)
  const blockable = !mine && !message.ai;
  const hidden = shared && blockable && rooms.store.blocks.has(message.userId);
  if (hidden && !revealed)
    return (
      <article
        class="msg ai blocked"
        data-message-id={message.messageId}
        data-seq={message.seq}
        data-blocked="true"
      >
        <p class="text blocked-text">Message from a user you blocked</p>
        <button type="button" class="link" aria-expanded="false" onClick={() => setRevealed(true)}>
          Show
        </button>
      </article>
    );
  const quoted = message.replyTo ? rooms.store.find(rooms.openId ?? '', message.replyTo) : undefined;
  const quotedHidden =
    !!quoted && shared && quoted.userId !== rooms.userId && rooms.store.blocks.has(quoted.userId);
  const classes = ['msg', mine ? 'user' : 'ai'];
  // a message not acked yet, or one with an edit, delete or reaction of this user not acked yet
  if (message.pending || message.opPending) classes.push('pending');
  if (message.deleted) classes.push('deleted');
  const canAct = !message.deleted && !message.pending && message.messageId !== undefined;
  const reactions = Object.entries(message.reactions);
  const delivery = deliveryOf(message, mine, seen);
  return (
    <article
      class={classes.join(' ')}
      data-message-id={message.messageId}
      data-client-id={message.clientId}
      data-seq={message.seq}
      data-state={message.failed ? 'failed' : message.pending ? 'pending' : 'sent'}
      data-op-state={message.opPending ? 'pending' : undefined}
      data-blocked={hidden ? 'true' : undefined}
    >
      <header>
        <span class="who">{message.ai ? 'AI' : mine ? 'You' : message.userId}</span>
        {message.ai && <span class="meta">{message.ai.model}</span>}
        {message.timestamp && <time>{new Date(message.timestamp).toLocaleTimeString()}</time>}
        {message.editedAt && !message.deleted && <span class="edited">(edited)</span>}
        {hidden && (
          <button type="button" class="link" aria-expanded="true" onClick={() => setRevealed(false)}>
            Hide
          </button>
        )}
      </header>
      {quoted && (
        <blockquote class="reply-quote">
          {quotedHidden ? (
            'Message from a user you blocked'
          ) : (
            <>
              <span class="who">{quoted.userId === rooms.userId ? 'You' : quoted.userId}</span>:{' '}
              {quoted.deleted ? 'deleted message' : quoted.content.slice(0, 80)}
            </>
          )}
        </blockquote>
      )}
      {message.deleted ? (
        <p class="text deleted-text">This message was deleted</p>
      ) : !message.content && message.unreadable ? (
        <p class="text unreadable">{UNREADABLE_TEXT}</p>
      ) : (
        message.content && <p class="text">{message.content}</p>
      )}
      {message.ai && message.ai.outcome !== 'complete' && (
        <p class="note ai-outcome">{aiOutcomeText(message.ai.outcome)}</p>
      )}
      {reactions.length > 0 && (
        <div class="reactions" role="group" aria-label="Reactions">
          {reactions.map(([emoji, users]) => (
            <button
              key={emoji}
              type="button"
              class="reaction"
              aria-pressed={users.includes(rooms.userId)}
              aria-label={`${emoji} ${users.length}`}
              disabled={!canAct}
              onClick={() => message.messageId && rooms.react(message.messageId, emoji)}
            >
              {emoji} {users.length}
            </button>
          ))}
        </div>
      )}
      {delivery && (
        <p class={delivery.retry ? 'note error' : 'note'} data-testid="delivery">
          {delivery.text}
          {delivery.retry && message.clientId && (
            <>
              {' '}
              <button
                type="button"
                class="link"
                onClick={() => message.clientId && rooms.retry(message.clientId)}
              >
                Retry
              </button>
            </>
          )}
        </p>
      )}
      {reported && <p class="note">Reported to the admins</p>}
      {canAct && (
        <button
          type="button"
          class="link tools-toggle"
          aria-expanded={tools}
          onClick={() => setTools(!tools)}
        >
          Actions
        </button>
      )}
      {canAct && tools && message.messageId && (
        <div class="tools" role="toolbar" aria-label="Message actions">
          {REACTION_PICKER.map((emoji) => (
            <button
              key={emoji}
              type="button"
              class="link"
              aria-label={`React ${emoji}`}
              onClick={() => message.messageId && rooms.react(message.messageId, emoji)}
            >
              {emoji}
            </button>
          ))}
          <button type="button" class="link" onClick={onReply}>
            Reply
          </button>
          {mine && (
            <button type="button" class="link" onClick={onEdit}>
              Edit
            </button>
          )}
          {mine && (
            <button
              type="button"
              class="link"
              onClick={() => message.messageId && rooms.remove(message.messageId)}
            >
              Delete
            </button>
          )}
          {!mine && !reported && (
            <button type="button" class="link" onClick={() => setReporting(!reporting)}>
              Report
            </button>
          )}
          {blockable && (
            <BlockToggle
              rooms={rooms}
              userId={message.userId}
              confirming={confirmingBlock}
              onBlock={() => setConfirmingBlock(!confirmingBlock)}
            />
          )}
        </div>
      )}
      {canAct && tools && blockable && <BlockError rooms={rooms} userId={message.userId} />}
      {confirmingBlock && blockable && !rooms.store.blocks.has(message.userId) && (
        <BlockConfirm
          userId={message.userId}
          onConfirm={() => {
            rooms.block(message.userId);
            setConfirmingBlock(false);
            setTools(false);
            setRevealed(false);
          }}
          onCancel={() => setConfirmingBlock(false)}
        />
      )}
      {reporting && message.messageId && (
        <ReportForm
          onSubmit={async (reason) => {
            if (message.messageId && (await rooms.report(message.messageId, reason))) setReported(true);
            setReporting(false);
          }}
        />
      )}
    </article>
  );
}

function ReportForm({ onSubmit }: { onSubmit(reason: string): Promise<void> }) {
  const [reason, setReason] = useState('');
  return (
    <form
      class="report-form"
      onSubmit={(event) => {
        event.preventDefault();
        void onSubmit(reason);
      }}
    >
      <label>
        Reason (optional)
        <input
          value={reason}
          maxLength={500}
          onInput={(event) => setReason((event.currentTarget as HTMLInputElement).value)}
        />
      </label>
      <button type="submit" class="button">
        Send report
      </button>
    </form>
  );
}

// joins, leaves and moderation, as a sentence
function systemText(message: RoomMessage): string {
  const target = message.targetUserId ? ` ${message.targetUserId}` : '';
  switch (message.action ?? message.content) {
    case 'joined':
      return `${message.userId} joined`;
    case 'left':
      return `${message.userId} left`;
    case 'mute':
      return `${message.userId} muted${target}`;
    case 'unmute':
      return `${message.userId} unmuted${target}`;
    case 'kick':
      return `${message.userId} removed${target}`;
    case 'ban':
      return `${message.userId} banned${target}`;
    case 'unban':
      return `${message.userId} unbanned${target}`;
    default:
      return `${message.userId}: ${message.action ?? message.content}`;
  }
}

// How an AI reply that did not complete ended (docs/protocol.md, "@ai in a room").
function aiOutcomeText(outcome: string): string {
  switch (outcome) {
    case 'stopped':
      return 'Stopped';
    case 'interrupted':
      return 'The reply was cut off';
    case 'failed':
      return 'The AI could not answer; please try again';
    default:
      return '';
  }
}
