import { useEffect, useRef, useState } from 'preact/hooks';
import { errorText } from '../../../shared/errors';
import type { RoomsClient } from './rooms-client';

// The Block and Unblock of another user (a message's actions, a direct message's head): Block asks
// first (BlockConfirm), Unblock does not. `onBlock`: the confirmation is to open (or close).
export function BlockToggle({
  rooms,
  userId,
  confirming,
  onBlock,
  className = 'link',
}: {
  rooms: RoomsClient;
  userId: string;
  confirming: boolean;
  onBlock(): void;
  className?: string;
}) {
  const blocks = rooms.store.blocks;
  if (blocks.has(userId))
    return (
      <button
        type="button"
        class={className}
        aria-busy={blocks.pending(userId)}
        onClick={() => rooms.unblock(userId)}
      >
        Unblock
      </button>
    );
  return (
    <button
      type="button"
      class={className}
      aria-expanded={confirming}
      aria-busy={blocks.pending(userId)}
      onClick={onBlock}
    >
      Block
    </button>
  );
}

// "Block this user?": what it does, then Block or Cancel (the focus starts on Cancel).
export function BlockConfirm({
  userId,
  onConfirm,
  onCancel,
}: {
  userId: string;
  onConfirm(): void;
  onCancel(): void;
}) {
  const cancel = useRef<HTMLButtonElement>(null);
  useEffect(() => cancel.current?.focus(), []);
  return (
    <div
      class="block-confirm"
      role="group"
      aria-label={`Block ${userId}?`}
      onKeyDown={(event) => event.key === 'Escape' && onCancel()}
    >
      <p>
        Block <strong>{userId}</strong>? Their messages in rooms will be hidden from you, and they will not be
        able to send you direct messages. You can unblock them at any time.
      </p>
      <button type="button" class="button danger" onClick={onConfirm}>
        Block
      </button>
      <button type="button" class="button" ref={cancel} onClick={onCancel}>
        Cancel
      </button>
    </div>
  );
}

// Why the user's newest Block or Unblock of `userId` was refused, until the next one.
export function BlockError({ rooms, userId }: { rooms: RoomsClient; userId: string }) {
  const refused = rooms.store.blocks.errorOf(userId);
  if (!refused) return null;
  return (
    <p class="note error" role="alert" data-code={refused.code}>
      {refused.blocked ? 'Block' : 'Unblock'} failed: {errorText(refused.code)}
    </p>
  );
}

// A direct message with a user this user blocked: said in the composer's place, with Unblock (the
// server refuses the other side's messages meanwhile).
export function BlockedComposer({ rooms, userId }: { rooms: RoomsClient; userId: string }) {
  return (
    <div class="composer blocked-bar" role="status">
      <p>
        You blocked <strong>{userId}</strong>. They cannot send you messages.
      </p>
      <button type="button" class="button" onClick={() => rooms.unblock(userId)}>
        Unblock
      </button>
      <BlockError rooms={rooms} userId={userId} />
    </div>
  );
}

// The room list's "Blocked users": each with Unblock; loading, and a read that failed with Retry.
export function BlockedUsers({ rooms }: { rooms: RoomsClient }) {
  const [open, setOpen] = useState(false);
  const blocks = rooms.store.blocks;
  const blocked = blocks.list();
  return (
    <section class="blocked-users">
      <button
        type="button"
        class="link"
        aria-expanded={open}
        aria-controls="blocked-users"
        onClick={() => setOpen(!open)}
      >
        Blocked users{blocks.loaded ? ` (${blocked.length})` : ''}
      </button>
      {open && (
        <div id="blocked-users">
          {blocks.loadError && (
            <p class="note error" role="alert">
              Could not load your blocked users. {errorText(blocks.loadError)}{' '}
              <button type="button" class="link" onClick={() => void rooms.loadBlocks()}>
                Retry
              </button>
            </p>
          )}
          {!blocks.loaded && !blocks.loadError && <p class="empty">Loading…</p>}
          {blocks.loaded && blocked.length === 0 && <p class="empty">You have not blocked anyone.</p>}
          <ul aria-label="Blocked users">
            {blocked.map((userId) => (
              <li key={userId} data-user-id={userId}>
                <span class="name">{userId}</span>
                <button
                  type="button"
                  class="button"
                  aria-label={`Unblock ${userId}`}
                  aria-busy={blocks.pending(userId)}
                  onClick={() => rooms.unblock(userId)}
                >
                  Unblock
                </button>
                <BlockError rooms={rooms} userId={userId} />
              </li>
            ))}
          </ul>
        </div>
      )}
    </section>
  );
}
