import { useEffect, useRef, useState } from 'preact/hooks';
import { codePoints } from '../../../shared/text-length';
import { Icon } from './icons';
import { LengthNote } from './length-note';
import { VoiceRecorder } from './voice-recorder';

interface Props {
  maxLength: number;
  generating: boolean;
  disabled: boolean;
  upload: { name: string; progress: number } | null;
  onSend(text: string): void;
  onStop(): void;
  // a file attached, sent with the typed text as its caption
  onFile(file: File, caption: string): void;
  onVoice(file: File): void;
  onTyping(typing: boolean): void;
}

// Send, Stop and Record share one place: Send stays there, disabled (named Sent), this long after a
// send, so the second click of a double click lands on it and not on the button that takes its place. Until a
// client audit in session 40 a double click on Send turned the microphone on, or stopped the reply
// just asked for (6 of 6 each way).
const SEND_GUARD_MS = 400;
const coarsePointer = typeof matchMedia === 'function' && matchMedia('(pointer: coarse)').matches;

export function Composer(props: Props) {
  const [text, setText] = useState('');
  const [recording, setRecording] = useState(false);
  const [attached, setAttached] = useState<File | null>(null);
  const input = useRef<HTMLTextAreaElement>(null);
  const typingTimer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const [justSent, setJustSent] = useState(false);
  useEffect(() => {
    if (!justSent) return;
    const timer = setTimeout(() => setJustSent(false), SEND_GUARD_MS);
    return () => clearTimeout(timer);
  }, [justSent]);
  // what is sent: the text trimmed (ChatClient.sendText)
  const length = codePoints(text.trim());
  const over = length > props.maxLength;

  const send = () => {
    if ((!text.trim() && !attached) || over || props.disabled) return;
    if (attached) props.onFile(attached, text.trim());
    else props.onSend(text);
    setJustSent(true);
    setText('');
    setAttached(null);
    props.onTyping(false);
    // back to one line: the height grown for a long message is not kept for the next one
    if (input.current) input.current.style.height = '';
    input.current?.focus();
  };
  const onKeyDown = (event: KeyboardEvent) => {
    // Enter sends, Shift+Enter is a new line; never while an IME is composing
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      send();
    }
  };
  const onInput = (event: Event) => {
    const target = event.currentTarget as HTMLTextAreaElement;
    setText(target.value);
    target.style.height = 'auto';
    target.style.height = `${Math.min(target.scrollHeight, 160)}px`;
    props.onTyping(true);
    clearTimeout(typingTimer.current);
    typingTimer.current = setTimeout(() => props.onTyping(false), 2500);
  };
  // a picked file waits beside the text until Send, so the text goes with it as its caption
  const pick = (event: Event) => {
    const target = event.currentTarget as HTMLInputElement;
    const file = target.files?.[0];
    target.value = '';
    if (file) setAttached(file);
    input.current?.focus();
  };

  if (recording)
    return (
      <VoiceRecorder
        onDone={(file) => {
          setRecording(false);
          if (file) props.onVoice(file);
        }}
      />
    );

  return (
    <form
      class="composer"
      onSubmit={(event) => {
        event.preventDefault();
        send();
      }}
    >
      {attached && (
        <div class="attached" data-testid="attached">
          <span>{attached.name}</span>
          <button type="button" class="link" onClick={() => setAttached(null)} title="Remove the file">
            Remove
          </button>
        </div>
      )}
      {props.upload && (
        <div class="upload" role="status">
          <span>Uploading {props.upload.name}</span>
          <progress max={1} value={props.upload.progress} aria-label="Upload progress" />
        </div>
      )}
      <div class="row">
        <label class="icon-button" title="Attach a file">
          <Icon name="attach" />
          <span class="sr">Attach a file</span>
          <input type="file" class="sr" data-testid="file-input" onChange={pick} />
        </label>
        {coarsePointer && (
          <label class="icon-button" title="Take a photo">
            <Icon name="camera" />
            <span class="sr">Take a photo</span>
            <input type="file" accept="image/*" capture="environment" class="sr" onChange={pick} />
          </label>
        )}
        <textarea
          ref={input}
          rows={1}
          value={text}
          placeholder="Message"
          aria-label="Message"
          onInput={onInput}
          onKeyDown={onKeyDown}
          aria-invalid={over}
        />
        {justSent ? (
          <button type="button" class="icon-button primary" disabled title="Sent">
            <Icon name="send" />
            <span class="sr">Sent</span>
          </button>
        ) : props.generating ? (
          <button type="button" class="icon-button stop" onClick={props.onStop} title="Stop generating">
            <Icon name="stop" />
            <span class="sr">Stop generating</span>
          </button>
        ) : text.trim() || attached ? (
          <button type="submit" class="icon-button primary" disabled={over || props.disabled} title="Send">
            <Icon name="send" />
            <span class="sr">Send</span>
          </button>
        ) : (
          <button
            type="button"
            class="icon-button"
            title="Record a voice message"
            disabled={props.disabled || typeof MediaRecorder === 'undefined'}
            onClick={() => setRecording(true)}
          >
            <Icon name="mic" />
            <span class="sr">Record a voice message</span>
          </button>
        )}
      </div>
      <LengthNote length={length} max={props.maxLength} />
    </form>
  );
}
