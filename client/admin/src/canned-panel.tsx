import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, apiJson } from '../../shared/api';
import { errorText } from '../../shared/errors';
import type { CannedResponse } from './admin-api';

// What the panel says of a refusal: the shared texts speak of messages and conversations. Until the
// admin-dashboard audit of session 43 every refusal here read "That message could not be sent.",
// a taken shortcut too (1 of 1).
const TEXTS: Record<string, string> = {
  ALREADY_EXISTS: 'That shortcut is already in use.',
  INVALID_MESSAGE:
    'That canned response could not be saved: it needs a title, a text and a shortcut of a-z, 0-9, _ or -.',
  MESSAGE_TOO_LONG: 'That text is too long for a message.',
  NOT_FOUND: 'That canned response no longer exists.',
};

export function cannedErrorText(code: string): string {
  return TEXTS[code] ?? errorText(code);
}

// Canned responses: list, add, delete (the reply box inserts them with "/shortcut").
export function CannedPanel({ token }: { token: string }) {
  const [items, setItems] = useState<CannedResponse[]>([]);
  const [draft, setDraft] = useState({ title: '', shortcut: '', text: '' });
  const [error, setError] = useState<string | null>(null);
  const [version, setVersion] = useState(0);
  // an add on its way: Add waits for its answer. Until the admin-dashboard audit of session 43 a
  // double click sent two, and the second's refusal (the shortcut now taken) showed an error over
  // the response just added (1 of 1). A ref too: the second click may come before the render.
  const adding = useRef(false);
  const [pending, setPending] = useState(false);
  const fail = (failure: unknown) => setError(failure instanceof ApiError ? failure.code : 'INTERNAL');
  useEffect(() => {
    apiJson<CannedResponse[]>('admin/canned-responses', token).then(setItems, fail);
  }, [token, version]);
  const add = () => {
    if (adding.current) return;
    adding.current = true;
    setPending(true);
    void apiJson('admin/canned-responses', token, { method: 'POST', body: draft })
      .then(() => {
        setDraft({ title: '', shortcut: '', text: '' });
        setError(null);
        setVersion((value) => value + 1);
      }, fail)
      .finally(() => {
        adding.current = false;
        setPending(false);
      });
  };
  const remove = (item: CannedResponse) =>
    apiJson(`admin/canned-responses/${encodeURIComponent(item.id)}`, token, { method: 'DELETE' }).then(
      () => setVersion((value) => value + 1),
      fail,
    );
  const field = (name: 'title' | 'shortcut' | 'text') => ({
    value: draft[name],
    onInput: (event: Event) =>
      setDraft({ ...draft, [name]: (event.currentTarget as HTMLInputElement | HTMLTextAreaElement).value }),
  });
  return (
    <section class="panel canned-panel" aria-labelledby="canned-title">
      <div class="panel-head">
        <h2 id="canned-title">Canned responses</h2>
      </div>
      {error && <p class="note error">{cannedErrorText(error)}</p>}
      <ul>
        {items.map((item) => (
          <li key={item.id}>
            <strong>/{item.shortcut}</strong> {item.title}
            <button
              type="button"
              class="link"
              onClick={() => void remove(item)}
              aria-label={`Delete /${item.shortcut}`}
            >
              Delete
            </button>
          </li>
        ))}
      </ul>
      <form
        class="filters"
        onSubmit={(event) => {
          event.preventDefault();
          add();
        }}
      >
        <input aria-label="Title" placeholder="Title" {...field('title')} />
        <input aria-label="Shortcut" placeholder="shortcut" {...field('shortcut')} />
        <textarea aria-label="Text" placeholder="Text inserted with /shortcut" {...field('text')} />
        <button type="submit" class="button" disabled={pending}>
          Add
        </button>
      </form>
    </section>
  );
}
