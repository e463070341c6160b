import type { Connection } from './connection';

// The hub's sockets by key (a session, a user): a frozen array per key, replaced (never changed) when
// a socket comes or goes, so a delivery loop over one is never disturbed (ClientHub).
export function addTo(map: Map<string, readonly Connection[]>, key: string, connection: Connection): void {
  const list = map.get(key);
  if (!list) map.set(key, [connection]);
  else if (!list.includes(connection)) map.set(key, [...list, connection]);
}

export function removeFrom(
  map: Map<string, readonly Connection[]>,
  key: string,
  connection: Connection,
): boolean {
  const list = map.get(key);
  if (!list?.includes(connection)) return false;
  if (list.length === 1) map.delete(key);
  else
    map.set(
      key,
      list.filter((other) => other !== connection),
    );
  return true;
}
