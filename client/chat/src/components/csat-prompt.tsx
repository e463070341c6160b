import { useState } from 'preact/hooks';

// After a takeover ends: "How did <admin> do?" 1-5 and an optional comment (issue 15, CSAT).
export function CsatPrompt(props: {
  adminName: string;
  onRate(rating: number, comment: string): void;
  onDismiss(): void;
}) {
  const [rating, setRating] = useState(0);
  const [comment, setComment] = useState('');
  return (
    <form
      class="csat"
      aria-label="Rate the help you got"
      onSubmit={(event) => {
        event.preventDefault();
        if (rating > 0) props.onRate(rating, comment);
      }}
    >
      <p>How did {props.adminName} help you?</p>
      <div class="stars" role="radiogroup" aria-label="Rating">
        {[1, 2, 3, 4, 5].map((value) => (
          <button
            key={value}
            type="button"
            role="radio"
            aria-checked={rating === value}
            aria-label={`${value} of 5`}
            class={value <= rating ? 'star on' : 'star'}
            onClick={() => setRating(value)}
          >
            ★
          </button>
        ))}
      </div>
      <input
        aria-label="Comment"
        placeholder="Anything to add? (optional)"
        maxLength={1000}
        value={comment}
        onInput={(event) => setComment((event.currentTarget as HTMLInputElement).value)}
      />
      <div class="csat-actions">
        <button type="submit" class="button primary" disabled={rating === 0}>
          Send rating
        </button>
        <button type="button" class="link" onClick={props.onDismiss}>
          Not now
        </button>
      </div>
    </form>
  );
}
