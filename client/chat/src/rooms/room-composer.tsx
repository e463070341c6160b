import { useEffect, useRef, useState } from 'preact/hooks';
import { codePoints } from '../../../shared/text-length';
import { Icon } from '../components/icons';
import { LengthNote } from '../components/length-note';
import type { RoomsClient } from './rooms-client';
import type { RoomMessage } from './thread-state';

// Owners and moderators invite to a private room; any member to a public one.
export function InviteForm({ rooms, roomId }: { rooms: RoomsClient; roomId: string }) {
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

// Writes a message, a reply or an edit; Enter sends, Shift+Enter is a new line, Escape cancels.
export function RoomComposer({ rooms, replyTo, editing, onDone }: ComposerProps) {
  const [text, setText] = useState(editing?.content ?? '');
  const input = useRef<HTMLTextAreaElement>(null);
  // Reply and Edit move the focus to where the words go
  useEffect(() => {
    if (replyTo || editing) input.current?.focus();
  }, [replyTo, editing]);
  // a message or an edit is sent trimmed, and not at all over the limit (RoomsClient.tooLong)
  const length = codePoints(text.trim());
  const over = length > rooms.maxLength();
  const submit = () => {
    if (!text.trim() || over) return;
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
          aria-invalid={over}
          onBlur={() => rooms.typing(false)}
          onKeyDown={(event) => {
            if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
              event.preventDefault();
              submit();
            }
            if (event.key === 'Escape' && (replyTo || editing)) onDone();
          }}
        />
        <button
          type="submit"
          class="icon-button primary"
          title={editing ? 'Save edit' : 'Send'}
          disabled={over}
        >
          <Icon name="send" />
          <span class="sr">{editing ? 'Save edit' : 'Send'}</span>
        </button>
      </div>
      <LengthNote length={length} max={rooms.maxLength()} />
    </form>
  );
}
