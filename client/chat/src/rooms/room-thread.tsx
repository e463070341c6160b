import { useEffect, useRef, useState } from 'preact/hooks';
import { Icon } from '../components/icons';
import { roomName } from './room-list';
import type { RoomMessage } from './room-store';
import type { RoomsClient, RoomSummary } from './rooms-client';

const EMOJIS = ['👍', '❤️', '😂'];

interface Props {
  rooms: RoomsClient;
  roomId: string;
  room: RoomSummary | null;
}

// One room: its history (older pages on demand), live messages, and the composer.
export function RoomThreadView({ rooms, roomId, room }: Props) {
  const messages = rooms.store.messages(roomId);
  const thread = rooms.store.thread(roomId);
  const [replyTo, setReplyTo] = useState<RoomMessage | null>(null);
  const [editing, setEditing] = useState<RoomMessage | null>(null);
  const list = useRef<HTMLDivElement>(null);
  const [inviting, setInviting] = useState(false);
  const canInvite = !!room && room.kind !== 'dm' && (room.kind === 'public' || room.role !== 'member');
  const last = messages[messages.length - 1]?.key;
  useEffect(() => {
    const element = list.current;
    if (element) element.scrollTop = element.scrollHeight;
  }, [last, roomId]);
  const typing = rooms.store.typingUsers(roomId, Date.now());
  const name = roomName(room, rooms.userId);
  const others = [...thread.readBy.entries()].filter(([id]) => id !== rooms.userId);
  const seenUpTo = room?.kind === 'dm' ? Math.max(0, ...others.map(([, seq]) => seq)) : 0;
  return (
    <section class="room-thread" aria-label={`Room ${name}`}>
      <div class="sessions-head">
        <button type="button" class="icon-button" onClick={() => rooms.open(null)} title="Back to rooms">
          <Icon name="back" />
          <span class="sr">Back to rooms</span>
        </button>
        <h2>{name}</h2>
        <span class="meta" data-testid="online-count">
          {thread.online.size} online
        </span>
        {canInvite && (
          <button
            type="button"
            class="button"
            aria-expanded={inviting}
            onClick={() => setInviting(!inviting)}
          >
            Invite
          </button>
        )}
        {room && room.kind !== 'dm' && (
          <button type="button" class="button" onClick={() => void rooms.leave(roomId)}>
            Leave
          </button>
        )}
      </div>
      {inviting && canInvite && <InviteForm rooms={rooms} roomId={roomId} />}
      <div class="thread" ref={list} role="log" aria-live="polite" aria-label={`Messages in ${name}`}>
        {thread.nextBefore !== null && thread.joined && (
          <div class="older">
            <button type="button" class="link" onClick={() => void rooms.loadOlder()}>
              Load older messages
            </button>
          </div>
        )}
        {!thread.joined && messages.length === 0 && <p class="empty">Joining…</p>}
        {messages.map((message) => (
          <RoomMessageItem
            key={message.key}
            rooms={rooms}
            message={message}
            seen={message.userId === rooms.userId && (message.seq ?? Infinity) <= seenUpTo}
            onReply={() => {
              setEditing(null);
              setReplyTo(message);
            }}
            onEdit={() => {
              setReplyTo(null);
              setEditing(message);
            }}
          />
        ))}
      </div>
      <p class="typing-line" aria-live="polite">
        {typing.length > 0 && `${typing.join(', ')} ${typing.length === 1 ? 'is' : 'are'} typing…`}
      </p>
      <RoomComposer
        key={`${roomId}:${editing?.key ?? ''}`}
        rooms={rooms}
        replyTo={replyTo}
        editing={editing}
        onDone={() => {
          setReplyTo(null);
          setEditing(null);
        }}
      />
    </section>
  );
}

interface ItemProps {
  rooms: RoomsClient;
  message: RoomMessage;
  seen: boolean;
  onReply(): void;
  onEdit(): void;
}

function RoomMessageItem({ rooms, message, seen, onReply, onEdit }: ItemProps) {
  const [tools, setTools] = useState(false);
  const [reporting, setReporting] = useState(false);
  const [reported, setReported] = useState(false);
  if (message.kind === 'system')
    return (
      <p class="event" data-message-id={message.messageId} data-seq={message.seq}>
        {systemText(message)}
      </p>
    );
  const mine = message.userId === rooms.userId;
  const quoted = message.replyTo ? rooms.store.find(rooms.openId ?? '', message.replyTo) : undefined;
  const classes = ['msg', mine ? 'user' : 'ai'];
  if (message.pending) classes.push('pending');
  if (message.deleted) classes.push('deleted');
  const canAct = !message.deleted && !message.pending && message.messageId !== undefined;
  const reactions = Object.entries(message.reactions);
  return (
    <article
      class={classes.join(' ')}
      data-message-id={message.messageId}
      data-client-id={message.clientId}
      data-seq={message.seq}
      data-state={message.failed ? 'failed' : message.pending ? 'pending' : 'sent'}
    >
      <header>
        <span class="who">{mine ? 'You' : message.userId}</span>
        {message.timestamp && <time>{new Date(message.timestamp).toLocaleTimeString()}</time>}
        {message.editedAt && !message.deleted && <span class="edited">(edited)</span>}
      </header>
      {quoted && (
        <blockquote class="reply-quote">
          <span class="who">{quoted.userId === rooms.userId ? 'You' : quoted.userId}</span>:{' '}
          {quoted.deleted ? 'deleted message' : quoted.content.slice(0, 80)}
        </blockquote>
      )}
      {message.deleted ? (
        <p class="text deleted-text">This message was deleted</p>
      ) : (
        <p class="text">{message.content}</p>
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
      {mine && (
        <p class="note" data-testid="delivery">
          {message.failed ? 'Not sent' : message.pending ? 'Sending…' : seen ? 'Seen' : 'Sent'}
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
          {EMOJIS.map((emoji) => (
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
        </div>
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

// Owners and moderators invite to a private room; any member to a public one.
function InviteForm({ rooms, roomId }: { rooms: RoomsClient; roomId: string }) {
  const [userId, setUserId] = useState('');
  const [done, setDone] = useState<string | null>(null);
  return (
    <form
      class="room-form invite"
      onSubmit={(event) => {
        event.preventDefault();
        const invited = userId.trim();
        if (!invited) return;
        void rooms.invite(roomId, invited).then((ok) => ok && setDone(invited));
        setUserId('');
      }}
    >
      <label for="invite-user">Invite (user id)</label>
      <div class="row">
        <input
          id="invite-user"
          value={userId}
          autocomplete="off"
          onInput={(event) => setUserId((event.currentTarget as HTMLInputElement).value)}
        />
        <button type="submit" class="button">
          Send invitation
        </button>
      </div>
      {done && (
        <p class="note" role="status">
          Invited {done}
        </p>
      )}
    </form>
  );
}

interface ComposerProps {
  rooms: RoomsClient;
  replyTo: RoomMessage | null;
  editing: RoomMessage | null;
  onDone(): void;
}

function RoomComposer({ rooms, replyTo, editing, onDone }: ComposerProps) {
  const [text, setText] = useState(editing?.content ?? '');
  const input = useRef<HTMLTextAreaElement>(null);
  // Reply and Edit move the focus to where the words go
  useEffect(() => {
    if (replyTo || editing) input.current?.focus();
  }, [replyTo, editing]);
  const submit = () => {
    if (!text.trim()) return;
    if (editing?.messageId) rooms.edit(editing.messageId, text);
    else rooms.sendText(text, replyTo?.messageId);
    rooms.typing(false);
    setText('');
    onDone();
  };
  return (
    <form
      class="composer"
      onSubmit={(event) => {
        event.preventDefault();
        submit();
      }}
    >
      {(replyTo || editing) && (
        <div class="upload" role="status">
          <span>
            {editing
              ? 'Editing your message'
              : `Replying to ${replyTo?.userId}: ${replyTo?.content.slice(0, 60)}`}
          </span>
          <button type="button" class="icon-button" onClick={onDone} title="Cancel">
            <Icon name="close" />
            <span class="sr">Cancel</span>
          </button>
        </div>
      )}
      <div class="row">
        <textarea
          ref={input}
          rows={1}
          aria-label="Room message"
          placeholder="Write to the room…"
          value={text}
          onInput={(event) => {
            const value = (event.currentTarget as HTMLTextAreaElement).value;
            setText(value);
            rooms.typing(value.length > 0);
          }}
          onBlur={() => rooms.typing(false)}
          onKeyDown={(event) => {
            if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
              event.preventDefault();
              submit();
            }
            if (event.key === 'Escape' && (replyTo || editing)) onDone();
          }}
        />
        <button type="submit" class="icon-button primary" title={editing ? 'Save edit' : 'Send'}>
          <Icon name="send" />
          <span class="sr">{editing ? 'Save edit' : 'Send'}</span>
        </button>
      </div>
    </form>
  );
}

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
