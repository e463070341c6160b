// shown from this share of the limit on
const COUNTER_FROM = 0.8;

// How long a text is against its limit, in code points as the server counts (client/shared/
// text-length.ts): from 80% of it, and over it, why it is not sent. Used wherever a text goes to the
// server with a limit: the composers, the edit boxes, a room's name.
export function LengthNote({ length, max }: { length: number; max: number }) {
  if (length < max * COUNTER_FROM) return null;
  const over = length > max;
  return (
    <p class={over ? 'counter over' : 'counter'} aria-live="polite">
      {length} / {max}
      {over && ' characters: too long. Please shorten it.'}
    </p>
  );
}
