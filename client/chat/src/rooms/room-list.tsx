import { useState } from 'preact/hooks';
import type { PresenceStatus } from '../../../shared/protocol';
import { codePoints, unitCap } from '../../../shared/text-length';
import { LengthNote } from '../components/length-note';
import { BlockedUsers } from './block-controls';
import { PublicRoomFinder } from './public-room-finder';
import type { RoomsClient, RoomSummary } from './rooms-client';

// The user's rooms and direct messages (unread counts, presence dots), the public rooms to join (the
// most active ones, and every other one through the finder, given the token to read them with), the
// forms that create a room or open a direct message, and the users this user blocked.
export function RoomList({ rooms, token }: { rooms: RoomsClient; token?: () => string | null }) {
  const mine = rooms.rooms.filter((room) => room.kind !== 'dm' && room.membership === 'member');
  const dms = rooms.rooms.filter((room) => room.kind === 'dm');
  const invited = rooms.rooms.filter((room) => room.membership === 'invited');
  const joinable = rooms.rooms.filter(
    (room) => room.kind === 'public' && room.membership !== 'member' && room.membership !== 'banned',
  );
  return (
    <nav class="room-list" aria-label="Rooms and direct messages">
      <h2 id="rooms-mine">Your rooms</h2>
      {rooms.listLoaded && mine.length === 0 && <p class="empty">No rooms yet.</p>}
      {!rooms.listLoaded && <p class="empty">Loading…</p>}
      <ul aria-labelledby="rooms-mine">
        {mine.map((room) => (
          <RoomEntry key={room.id} rooms={rooms} room={room} />
        ))}
      </ul>
      <h2 id="rooms-dms">Direct messages</h2>
      <ul aria-labelledby="rooms-dms">
        {dms.map((room) => (
          <RoomEntry key={room.id} rooms={rooms} room={room} />
        ))}
      </ul>
      <DmForm rooms={rooms} />
      {invited.length + joinable.length > 0 && (
        <>
          <h2 id="rooms-public">Rooms to join</h2>
          <ul aria-labelledby="rooms-public">
            {[...invited, ...joinable].map((room) => (
              <li key={room.id} class="room-join" data-room-id={room.id}>
                <span class="name">{room.name}</span>
                {room.membership === 'invited' && <span class="badge">Invited</span>}
                <button
                  type="button"
                  class="button"
                  onClick={() => rooms.joinRoom(room.id)}
                  aria-label={`Join ${room.name}`}
                >
                  Join
                </button>
              </li>
            ))}
          </ul>
        </>
      )}
      {token && <PublicRoomFinder rooms={rooms} token={token} />}
      <CreateForm rooms={rooms} />
      <BlockedUsers rooms={rooms} />
    </nav>
  );
}

function RoomEntry({ rooms, room }: { rooms: RoomsClient; room: RoomSummary }) {
  const thread = rooms.store.thread(room.id);
  const name = roomName(room, rooms.userId);
  const status = presenceOf(rooms, room);
  const current = rooms.openId === room.id;
  return (
    <li>
      <button
        type="button"
        class={current ? 'session room current' : 'session room'}
        onClick={() => rooms.open(room.id)}
        aria-current={current ? 'true' : undefined}
        data-room-id={room.id}
      >
        <span class="name">
          <span class={`presence ${status}`} role="img" aria-label={status} />
          {name}
        </span>
        <span class="meta">
          {room.kind === 'dm' ? 'Direct message' : room.kind === 'private' ? 'Private' : 'Public'}
        </span>
        {blockedDm(rooms, room) && <span class="badge">Blocked</span>}
        {thread.unread.count > 0 && (
          <span class="badge unread" data-testid="unread">
            {thread.unread.count}
            {thread.unread.more && '+'}
            <span class="sr"> unread</span>
          </span>
        )}
      </button>
    </li>
  );
}

function DmForm({ rooms }: { rooms: RoomsClient }) {
  const [userId, setUserId] = useState('');
  return (
    <form
      class="room-form"
      onSubmit={(event) => {
        event.preventDefault();
        if (!userId.trim()) return;
        void rooms.openDm(userId.trim());
        setUserId('');
      }}
    >
      <label for="dm-user">Message a user (user id)</label>
      <div class="row">
        <input
          id="dm-user"
          value={userId}
          autocomplete="off"
          onInput={(event) => setUserId((event.currentTarget as HTMLInputElement).value)}
        />
        <button type="submit" class="button">
          Open
        </button>
      </div>
    </form>
  );
}

// a room's name: 1–100 characters (code points, as the server counts: CreateRoomDto)
const ROOM_NAME_MAX = 100;

function CreateForm({ rooms }: { rooms: RoomsClient }) {
  const [name, setName] = useState('');
  const [kind, setKind] = useState<'public' | 'private'>('public');
  const length = codePoints(name.trim());
  return (
    <form
      class="room-form"
      onSubmit={(event) => {
        event.preventDefault();
        if (!name.trim() || length > ROOM_NAME_MAX) return;
        void rooms.create(name.trim(), kind);
        setName('');
      }}
    >
      <label for="room-name">New room</label>
      <div class="row">
        <input
          id="room-name"
          value={name}
          maxLength={unitCap(ROOM_NAME_MAX)}
          aria-invalid={length > ROOM_NAME_MAX}
          autocomplete="off"
          onInput={(event) => setName((event.currentTarget as HTMLInputElement).value)}
        />
        <select
          aria-label="Visibility"
          value={kind}
          onChange={(event) =>
            setKind((event.currentTarget as HTMLSelectElement).value as 'public' | 'private')
          }
        >
          <option value="public">Public</option>
          <option value="private">Private</option>
        </select>
        <button type="submit" class="button primary">
          Create
        </button>
      </div>
      <LengthNote length={length} max={ROOM_NAME_MAX} />
    </form>
  );
}

export function roomName(room: RoomSummary | null, me: string): string {
  if (!room) return 'Room';
  if (room.kind === 'dm') return room.dm_users?.find((id) => id !== me) ?? room.name;
  return room.name;
}

// a direct message with a user this user blocked
function blockedDm(rooms: RoomsClient, room: RoomSummary): boolean {
  const other = room.kind === 'dm' ? room.dm_users?.find((id) => id !== rooms.userId) : undefined;
  return !!other && rooms.store.blocks.has(other);
}

// A direct message shows the other person's presence; a room is online when anyone else in it is.
function presenceOf(rooms: RoomsClient, room: RoomSummary): PresenceStatus {
  if (room.kind === 'dm') {
    const other = room.dm_users?.find((id) => id !== rooms.userId);
    return (other && rooms.presence.get(other)) || 'offline';
  }
  const online = [...rooms.store.thread(room.id).online].filter((id) => id !== rooms.userId);
  return online.some((id) => rooms.presence.get(id) !== 'offline') ? 'online' : 'offline';
}
