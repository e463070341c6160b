import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from '../../../shared/api';
import { errorText } from '../../../shared/errors';
import { codePoints, unitCap } from '../../../shared/text-length';
import { LengthNote } from '../components/length-note';
import { roomsApi, type PublicRoom } from './rooms-api';
import type { RoomsClient } from './rooms-client';

// a search is read this long after the last key typed
const SEARCH_DELAY_MS = 250;
// the longest `q`, in code points as the server counts (PUBLIC_QUERY_MAX)
const QUERY_MAX = 100;

// Every public room, found by name (GET /rooms/public; docs/protocol.md, "Finding public rooms"): the
// room list shows the 100 most active ones only. Closed until asked for, so nothing is read before
// and the list's own Join buttons stay the only ones on the page.
export function PublicRoomFinder({ rooms, token }: { rooms: RoomsClient; token: () => string | null }) {
  const [open, setOpen] = useState(false);
  if (!open)
    return (
      <div class="room-form">
        <button type="button" class="button" onClick={() => setOpen(true)}>
          Browse public rooms
        </button>
      </div>
    );
  return <Finder rooms={rooms} token={token} close={() => setOpen(false)} />;
}

function Finder({
  rooms,
  token,
  close,
}: {
  rooms: RoomsClient;
  token: () => string | null;
  close: () => void;
}) {
  const [query, setQuery] = useState('');
  const [found, setFound] = useState<PublicRoom[]>([]);
  const [next, setNext] = useState<string | null>(null);
  // 'loading', 'done', or the error code of the last read
  const [status, setStatus] = useState('loading');
  const reading = useRef<AbortController | null>(null);

  // one read at a time: a newer search or page replaces the one on its way
  const read = async (search: string, cursor: string | null): Promise<void> => {
    const bearer = token();
    if (!bearer) return;
    reading.current?.abort();
    const controller = new AbortController();
    reading.current = controller;
    setStatus('loading');
    try {
      const page = await roomsApi.publicRooms(bearer, search, cursor, controller.signal);
      setFound((before) => {
        const kept = cursor ? before : [];
        const ids = new Set(kept.map((room) => room.id));
        return [...kept, ...page.items.filter((room) => !ids.has(room.id))];
      });
      setNext(page.next_cursor);
      setStatus('done');
    } catch (error) {
      if (error instanceof ApiError && error.code === 'ABORTED') return;
      setStatus(error instanceof ApiError ? error.code : 'INTERNAL');
    }
  };

  // sent trimmed (roomsApi.publicRooms); a longer one is not sent (the server would refuse it 400)
  const length = codePoints(query.trim());
  // the first page at once, and a search a moment after the last key typed
  useEffect(() => {
    if (length > QUERY_MAX) return;
    const timer = setTimeout(() => void read(query, null), query.trim() ? SEARCH_DELAY_MS : 0);
    return () => clearTimeout(timer);
  }, [query]);
  useEffect(() => () => reading.current?.abort(), []);

  return (
    <section class="room-finder" aria-labelledby="rooms-find">
      <h2 id="rooms-find">Public rooms</h2>
      <form class="room-form" role="search" onSubmit={(event) => event.preventDefault()}>
        <label for="rooms-find-query">Find a public room by name</label>
        <div class="row">
          <input
            id="rooms-find-query"
            type="search"
            value={query}
            maxLength={unitCap(QUERY_MAX)}
            aria-invalid={length > QUERY_MAX}
            autocomplete="off"
            onInput={(event) => setQuery((event.currentTarget as HTMLInputElement).value)}
          />
          <button type="button" class="button" onClick={close}>
            Close
          </button>
        </div>
        <LengthNote length={length} max={QUERY_MAX} />
      </form>
      {status === 'done' && found.length === 0 && (
        <p class="empty">{query.trim() ? 'No public room has that in its name.' : 'No public rooms yet.'}</p>
      )}
      {status !== 'done' && status !== 'loading' && (
        <p class="empty" role="alert">
          {errorText(status)}
        </p>
      )}
      <ul aria-labelledby="rooms-find" data-testid="public-rooms">
        {found.map((room) => (
          <FoundRoom key={room.id} rooms={rooms} room={room} />
        ))}
      </ul>
      {status === 'loading' && <p class="empty">Loading…</p>}
      {status === 'done' && next !== null && (
        <div class="room-form">
          <button type="button" class="button" onClick={() => void read(query, next)}>
            More rooms
          </button>
        </div>
      )}
    </section>
  );
}

// A found room: joined from here, or opened when the user is in it already (the room list knows the
// newest membership: a room joined since the page was read shows as joined).
function FoundRoom({ rooms, room }: { rooms: RoomsClient; room: PublicRoom }) {
  const membership = rooms.rooms.find((listed) => listed.id === room.id)?.membership ?? room.membership;
  return (
    <li class="room-join" data-room-id={room.id}>
      <span class="name" title={room.topic ?? undefined}>
        {room.name}
      </span>
      {membership === 'banned' ? (
        <span class="badge">Banned</span>
      ) : membership === 'member' ? (
        <button
          type="button"
          class="button"
          onClick={() => rooms.open(room.id)}
          aria-label={`Open found room ${room.name}`}
        >
          Open
        </button>
      ) : (
        <button
          type="button"
          class="button"
          onClick={() => rooms.joinRoom(room.id)}
          aria-label={`Join found room ${room.name}`}
        >
          Join
        </button>
      )}
    </li>
  );
}
