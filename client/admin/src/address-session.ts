// The session an address names (?session=<id>): an alert's link opens the dashboard there
// (src/modules/notifications/alert-format.ts). Only an id of the shape session ids have is taken: it
// goes into an API path.
export function sessionFromAddress(search: string): string | null {
  const id = new URLSearchParams(search).get('session');
  return id && /^[A-Za-z0-9_-]{1,128}$/.test(id) ? id : null;
}
