import type { ComponentChildren } from 'preact';

// Previous, "Page n of m", Next, and whatever the list adds after them (a page size): the sessions
// table's and the rooms section's lists.
export function Pager({
  page,
  pages,
  onPage,
  children,
}: {
  page: number;
  pages: number;
  onPage(page: number): void;
  children?: ComponentChildren;
}) {
  return (
    <nav class="pager" aria-label="Pages">
      <button type="button" class="button" disabled={page <= 1} onClick={() => onPage(page - 1)}>
        Previous
      </button>
      <span>
        Page {page} of {pages}
      </span>
      <button type="button" class="button" disabled={page >= pages} onClick={() => onPage(page + 1)}>
        Next
      </button>
      {children}
    </nav>
  );
}
