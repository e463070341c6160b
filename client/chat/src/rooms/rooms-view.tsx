import { useEffect, useState } from 'preact/hooks';
import { tokenClaims } from '../../../shared/api';
import type { ChatClient } from '../chat-client';
import { Icon } from '../components/icons';
import { RoomList } from './room-list';
import { RoomThreadView } from './room-thread';
import { RoomsClient } from './rooms-client';
import './rooms.css';

// One rooms client per chat client: it keeps its joins (and threads) when the user switches back to
// the AI chat and returns.
const clients = new WeakMap<ChatClient, RoomsClient>();

export function roomsClientFor(chat: ChatClient): RoomsClient {
  let rooms = clients.get(chat);
  if (!rooms) {
    const userId = tokenClaims(chat.currentToken ?? '').sub ?? '';
    rooms = new RoomsClient(
      chat.socket,
      () => chat.currentToken,
      userId,
      () => chat.snapshot.models,
      () => chat.snapshot.maxLength,
    );
    clients.set(chat, rooms);
  }
  return rooms;
}

// Re-renders on every change of the rooms client, batched per animation frame, and once a second
// while someone is typing (the indicator fades on its own).
function useRooms(rooms: RoomsClient): number {
  const [version, setVersion] = useState(0);
  useEffect(() => {
    let scheduled = 0;
    const unsubscribe = rooms.subscribe(() => {
      if (scheduled) return;
      scheduled = requestAnimationFrame(() => {
        scheduled = 0;
        setVersion((value) => value + 1);
      });
    });
    // what changed between the first render and this subscription (use-client.ts: useChatView)
    setVersion((value) => value + 1);
    const timer = setInterval(() => setVersion((value) => value + 1), 1000);
    return () => {
      cancelAnimationFrame(scheduled);
      clearInterval(timer);
      unsubscribe();
    };
  }, [rooms]);
  return version;
}

export function RoomsView({ chat }: { chat: ChatClient }) {
  const rooms = roomsClientFor(chat);
  useRooms(rooms);
  useEffect(() => {
    rooms.setVisible(true);
    return () => rooms.setVisible(false);
  }, [rooms]);
  const open = rooms.rooms.find((room) => room.id === rooms.openId) ?? null;
  return (
    <div
      class={rooms.openId ? 'rooms has-open' : 'rooms'}
      role="tabpanel"
      id="panel-rooms"
      aria-labelledby="tab-rooms"
    >
      {rooms.notice && (
        <div class="notice" role="alert" data-code={rooms.notice.code}>
          <span>{rooms.notice.text}</span>
          <button type="button" class="icon-button" onClick={() => rooms.dismissNotice()} title="Dismiss">
            <Icon name="close" />
            <span class="sr">Dismiss</span>
          </button>
        </div>
      )}
      <RoomList rooms={rooms} token={() => chat.currentToken} />
      {rooms.openId && <RoomThreadView rooms={rooms} roomId={rooms.openId} room={open} />}
    </div>
  );
}
