import { useEffect, useRef, useState } from 'preact/hooks';
import { Icon } from '../components/icons';
import { BlockConfirm, BlockedComposer, BlockError, BlockToggle } from './block-controls';
import { InviteForm, RoomComposer } from './room-composer';
import { roomName } from './room-list';
import { RoomMessageItem } from './room-message';
import type { RoomsClient, RoomSummary } from './rooms-client';
import type { RoomMessage } from './thread-state';

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
  const [confirmingBlock, setConfirmingBlock] = useState(false);
  const canInvite = !!room && room.kind !== 'dm' && (room.kind === 'public' || room.role !== 'member');
  const last = messages[messages.length - 1]?.key;
  const streams = rooms.store.aiStreams(roomId);
  const streamed = streams.reduce((length, stream) => length + stream.text.length, 0);
  useEffect(() => {
    const element = list.current;
    if (element) element.scrollTop = element.scrollHeight;
  }, [last, roomId, streamed]);
  const moderates = !!room && room.kind !== 'dm' && (room.role === 'owner' || room.role === 'moderator');
  const typing = rooms.store.typingUsers(roomId, Date.now());
  const name = roomName(room, rooms.userId);
  const others = [...thread.readBy.entries()].filter(([id]) => id !== rooms.userId);
  const seenUpTo = room?.kind === 'dm' ? Math.max(0, ...others.map(([, seq]) => seq)) : 0;
  // a direct message (known by its id until the list says): the other person, whom the head blocks
  const dm = room ? room.kind === 'dm' : roomId.startsWith('dm_');
  const other = dm ? room?.dm_users?.find((id) => id !== rooms.userId) : undefined;
  const otherBlocked = !!other && rooms.store.blocks.has(other);
  return (
    <section class="room-thread" aria-label={`Room ${name}`}>
      <div class="sessions-head">
        <button type="button" class="icon-button" onClick={() => rooms.open(null)} title="Back to rooms">
          <Icon name="back" />
          <span class="sr">Back to rooms</span>
        </button>
        <h2 title={name}>{name}</h2>
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
        {other && (
          <BlockToggle
            rooms={rooms}
            userId={other}
            className="button"
            confirming={confirmingBlock}
            onBlock={() => setConfirmingBlock(!confirmingBlock)}
          />
        )}
      </div>
      {other && confirmingBlock && !otherBlocked && (
        <BlockConfirm
          userId={other}
          onConfirm={() => {
            rooms.block(other);
            setConfirmingBlock(false);
          }}
          onCancel={() => setConfirmingBlock(false)}
        />
      )}
      {other && !otherBlocked && <BlockError rooms={rooms} userId={other} />}
      {inviting && canInvite && <InviteForm rooms={rooms} roomId={roomId} />}
      {moderates && room && <AiModelSetting rooms={rooms} room={room} />}
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
            shared={!dm}
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
        {streams.map((stream) => (
          <article
            key={stream.replyId}
            class="msg ai streaming"
            data-testid="ai-stream"
            data-reply-id={stream.replyId}
            aria-busy={stream.outcome === undefined}
          >
            <header>
              <span class="who">AI</span>
              <span class="meta">{stream.model}</span>
            </header>
            <p class="text">
              {stream.partial && '… '}
              {stream.text}
              {stream.outcome === undefined && <span class="cursor" aria-hidden="true" />}
            </p>
            {stream.outcome === undefined && rooms.canStopAi(roomId, stream.askerId) && (
              <button type="button" class="button" onClick={() => rooms.stopAi(stream.replyId)}>
                Stop
              </button>
            )}
          </article>
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
      {other && otherBlocked ? (
        <BlockedComposer rooms={rooms} userId={other} />
      ) : (
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
      )}
    </section>
  );
}

// Room setting for its owner and moderators: the model `@ai` asks, off, or the default model.
function AiModelSetting({ rooms, room }: { rooms: RoomsClient; room: RoomSummary }) {
  const models = rooms.models();
  const value = room.ai_model ?? '';
  return (
    <label class="room-setting">
      AI model for @ai{' '}
      <select
        value={value}
        onChange={(event) => {
          const chosen = (event.target as HTMLSelectElement).value;
          void rooms.setAiModel(room.id, chosen === '' ? null : chosen);
        }}
      >
        <option value="">Default model</option>
        {models.map((model) => (
          <option key={model.id} value={model.id}>
            {model.name}
          </option>
        ))}
        {value && value !== 'off' && !models.some((model) => model.id === value) && (
          <option value={value}>{value}</option>
        )}
        <option value="off">Off</option>
      </select>
    </label>
  );
}
