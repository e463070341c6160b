import { useEffect, useState } from 'preact/hooks';
import { ApiError, apiJson } from '../../shared/api';
import { errorText } from '../../shared/errors';
import type { CannedResponse } from './admin-api';

// Canned responses: list, add, delete (the reply box inserts them with "/shortcut").
export function CannedPanel({ token }: { token: string }) {
  const [items, setItems] = useState<CannedResponse[]>([]);
  const [draft, setDraft] = useState({ title: '', shortcut: '', text: '' });
  const [error, setError] = useState<string | null>(null);
  const [version, setVersion] = useState(0);
  const fail = (failure: unknown) => setError(failure instanceof ApiError ? failure.code : 'INTERNAL');
  useEffect(() => {
    apiJson<CannedResponse[]>('admin/canned-responses', token).then(setItems, fail);
  }, [token, version]);
  const add = () =>
    apiJson('admin/canned-responses', token, { method: 'POST', body: draft }).then(() => {
      setDraft({ title: '', shortcut: '', text: '' });
      setError(null);
      setVersion((value) => value + 1);
    }, fail);
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
      {error && <p class="note error">{errorText(error)}</p>}
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
          void add();
        }}
      >
        <input aria-label="Title" placeholder="Title" {...field('title')} />
        <input aria-label="Shortcut" placeholder="shortcut" {...field('shortcut')} />
        <textarea aria-label="Text" placeholder="Text inserted with /shortcut" {...field('text')} />
        <button type="submit" class="button">
          Add
        </button>
      </form>
    </section>
  );
}
