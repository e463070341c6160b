import { useEffect, useRef, useState } from 'preact/hooks';
import { Icon } from '../components/icons';
import { InviteForm, RoomComposer } from './room-composer';
import { roomName } from './room-list';
import { RoomMessageItem } from './room-message';
import type { RoomMessage } from './room-store';
import type { RoomsClient, RoomSummary } from './rooms-client';

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
        {!thread.joined && !thread.out && messages.length === 0 && <p class="empty">Joining…</p>}
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
      {thread.out && (
        <p class="empty out" role="status">
          You are not in this room.{' '}
          {room?.kind === 'public' && room.membership !== 'banned' && (
            <button type="button" class="link" onClick={() => rooms.joinRoom(roomId)}>
              Join again
            </button>
          )}
        </p>
      )}
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
