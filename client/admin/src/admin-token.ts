import { tokenClaims } from '../../shared/api';
import { takeTokenFromLocation, tokenFromLocation } from '../../chat/src/token-bridge';

// setTimeout's longest delay (about 24.8 days); a later expiry is checked again then
const MAX_TIMER_MS = 2 ** 31 - 1;

type AddressWindow = Pick<
  Window,
  'location' | 'history' | 'sessionStorage' | 'addEventListener' | 'removeEventListener'
>;

// The dashboard's token comes from its address (#token=…, kept in sessionStorage for reloads):
// nothing renews it. A fresh one pasted into this tab's address does not reload the page, so only
// hashchange tells; it is taken out of the address as on load.
export function watchAddressToken(win: AddressWindow, onToken: (token: string) => void): () => void {
  const read = () => {
    if (tokenFromLocation(win.location) === null) return;
    const token = takeTokenFromLocation(win);
    if (token) onToken(token);
  };
  win.addEventListener('hashchange', read);
  return () => win.removeEventListener('hashchange', read);
}

// Calls onExpired when the token's exp passes (at once if it has); returns the cancel.
export function watchExpiry(token: string, onExpired: () => void): () => void {
  const exp = tokenClaims(token).exp;
  if (exp === undefined) return () => undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const check = () => {
    const left = exp * 1000 - Date.now();
    if (left <= 0) return onExpired();
    timer = setTimeout(check, Math.min(left, MAX_TIMER_MS));
  };
  check();
  return () => clearTimeout(timer);
}
