import type { SessionPage, SessionQuery } from './admin-api';
import { pageQuery } from './session-pages';

const QUERY: SessionQuery = { sort: 'start_time', order: 'desc', page: 1, limit: 20 };
const shown = (asOf?: string): SessionPage => ({ items: [], total: 50, page: 1, limit: 20, as_of: asOf });

describe('pageQuery', () => {
  it('should read the pages after the first as of the first page', () => {
    const second = pageQuery(QUERY, 2, shown('2026-01-01T10:00:00.000Z'));
    expect(second).toMatchObject({ page: 2, as_of: '2026-01-01T10:00:00.000Z' });
    // a page read as of that time answers the same as_of; the next keeps it
    expect(pageQuery(second, 3, shown('2026-01-01T10:00:00.000Z'))).toMatchObject({
      page: 3,
      as_of: '2026-01-01T10:00:00.000Z',
    });
    expect(pageQuery(second, 3, shown('2026-01-01T10:05:00.000Z')).as_of).toBe('2026-01-01T10:00:00.000Z');
  });

  it('should read the first page fresh', () => {
    const second = pageQuery(QUERY, 2, shown('2026-01-01T10:00:00.000Z'));
    expect(pageQuery(second, 1, shown('2026-01-01T10:00:00.000Z')).as_of).toBeUndefined();
  });

  it('should page as before when the server names no as_of', () => {
    expect(pageQuery(QUERY, 2, shown())).toMatchObject({ page: 2, as_of: undefined });
    expect(pageQuery(QUERY, 2, null).as_of).toBeUndefined();
  });
});
