import { tokenClaims } from '../../shared/api';
import { backoffDelay } from './backoff';
import type { ChatSocket } from './chat-socket';
import { newClientId } from './client-id';
import type { TokenBridge } from './token-bridge';
import { refreshDelay, tokenExpiry } from './token-clock';

// asks for a token, while none in hand works, before the parent is told with an error
export const TOKEN_ASKS_BEFORE_ERROR = 5;
const REFUSED_TOKENS_KEPT = 8;

// What the chat around the token does when it changes hands.
export interface TokenKeeperHost {
  // another user signed in on this page: the last one's thread and unsent messages are dropped
  userSwitched(): void;
  // a token worth connecting with after none was: the notice shown meanwhile goes
  clearNotice(): void;
  notify(code: string): void;
  changed(): void;
}

// The JWT the socket connects with, through its life: the parent's new one (useToken), one the server
// refused (onRefused), asks while none works (askForToken) and before it runs out (scheduleRefresh).
export class TokenKeeper {
  private tokenArrivedAt = Date.now();
  // the token before the parent's last one, while that one is untried: kept if the new one is refused
  private previousToken: { token: string; arrivedAt: number } | null = null;
  // tokens the server refused: handed again (a parent's cache), they are not tried again
  private refusedTokens: string[] = [];
  private refreshTimer: ReturnType<typeof setTimeout> | undefined;
  // the token the refresh timer is for, and the `expiring` asks in a row that got a short one back
  private refreshFor: string | null = null;
  private shortRefreshes = 0;
  // the `exp` of the token the last refresh asked to replace
  private refreshedExp: number | undefined;
  // `expired` asks while no token works (askForToken)
  private askTimer: ReturnType<typeof setTimeout> | undefined;
  private tokenAsks = 0;
  private nextAskAt = 0;

  constructor(
    private token: string | null,
    private readonly socket: ChatSocket,
    private readonly bridge: TokenBridge,
    private readonly host: TokenKeeperHost,
  ) {}

  get currentToken(): string | null {
    return this.token;
  }

  useToken(token: string): void {
    // refused by the server already (a parent's cached or badly signed token): not tried again; the
    // parent is asked again, less and less often (askForToken)
    if (this.refusedTokens.includes(token)) return;
    // the one in hand, handed again (a parent's cache): the next ask waits longer
    if (token === this.token && this.socket.state.kind !== 'signed_out') return this.scheduleRefresh();
    clearTimeout(this.askTimer);
    const first = this.token === null;
    // another user signed in on this page (a shared device): nothing of the last one's thread or
    // unsent messages may reach the new one's session (an auth_refresh of another user is refused)
    const switched = !first && tokenClaims(token).sub !== tokenClaims(this.token ?? '').sub;
    this.previousToken =
      first || switched || !this.token ? null : { token: this.token, arrivedAt: this.tokenArrivedAt };
    this.token = token;
    this.tokenArrivedAt = Date.now();
    if (switched) this.host.userSwitched();
    if (first || switched || this.socket.state.kind === 'signed_out') {
      this.host.clearNotice();
      this.socket.restart();
    } else if (this.socket.state.kind === 'connected') {
      this.socket.send({ type: 'auth_refresh', content: token, client_id: newClientId() });
    } else {
      // offline or connecting again: the next socket connects with this token, so its refresh is
      // asked for on its own clock from now. Until the chat-client-under-faults browser audit of
      // session 43 it waited for the next connection_status, and a token handed during an outage
      // could run out before the chat was back (it came back to a 4401)
      this.scheduleRefresh();
    }
    this.host.changed();
  }

  // the token works (a connection_status): no more asks, and the one before it is not needed
  tokenWorks(): void {
    clearTimeout(this.askTimer);
    this.tokenAsks = 0;
    this.nextAskAt = 0;
    this.previousToken = null;
  }

  // an auth_refresh's ack: the server took the new token
  refreshTaken(): void {
    this.previousToken = null;
    this.scheduleRefresh();
  }

  // The server refused the token the socket used (4401/4403, or a refused upgrade).
  onRefused(refused: string | null): void {
    clearTimeout(this.refreshTimer);
    this.refreshFor = null;
    if (refused) this.refusedTokens = [...this.refusedTokens.slice(1 - REFUSED_TOKENS_KEPT), refused];
    const isRefused = (token: string) => this.refusedTokens.includes(token);
    // the parent's new token was refused (a bad signature) while the one before may still hold: that
    // one goes on, and is dropped in turn if refused too
    const previous = this.previousToken;
    this.previousToken = null;
    if (this.token && isRefused(this.token) && previous && !isRefused(previous.token)) {
      this.token = previous.token;
      this.tokenArrivedAt = previous.arrivedAt;
    }
    if (this.token && !isRefused(this.token)) return this.socket.restart();
    this.bridge.post({ type: 'chatbox:signed_out' });
    this.askForToken();
  }

  // Asks the parent for a token while none in hand works: at once, then 1, 2, 4 … 30 s after the
  // last ask, so a parent that hands back an expired token from its cache, a refused one or none is
  // not asked in a loop; after TOKEN_ASKS_BEFORE_ERROR asks it is told so with an error, once.
  private askForToken(): void {
    clearTimeout(this.askTimer);
    const wait = this.nextAskAt - Date.now();
    if (wait > 0) {
      this.askTimer = setTimeout(() => this.askForToken(), wait);
      return;
    }
    this.tokenAsks++;
    this.nextAskAt = Date.now() + backoffDelay(this.tokenAsks - 1);
    if (this.tokenAsks === TOKEN_ASKS_BEFORE_ERROR) {
      this.bridge.post({
        type: 'chatbox:error',
        code: 'TOKEN_EXPIRED',
        message: 'The app has no valid sign-in token for the chat.',
        recoverable: true,
      });
      this.host.notify('UNAUTHORIZED');
    }
    this.bridge.request('expired');
    // nothing usable comes back (no answer, or a token refused already): asked again then
    this.askTimer = setTimeout(() => this.askForToken(), this.nextAskAt - Date.now());
  }

  // Asks for the next token before this one runs out, on the token's own clock (token-clock.ts):
  // one timer per token, so acks meanwhile do not push it back.
  scheduleRefresh(): void {
    const token = this.token;
    if (!token || token === this.refreshFor) return;
    const expiry = tokenExpiry(token, this.tokenArrivedAt);
    if (!expiry) return;
    clearTimeout(this.refreshTimer);
    // a parent that hands a new short-lived token each time is asked on each one's own clock; only
    // one that hands back a token expiring no later than the last (a cached one) is asked less often
    if (this.refreshedExp === undefined || expiry.exp > this.refreshedExp) this.shortRefreshes = 0;
    const { wait, short } = refreshDelay(expiry, Date.now(), this.shortRefreshes);
    if (!short) this.shortRefreshes = 0;
    this.refreshFor = token;
    this.refreshTimer = setTimeout(() => {
      this.refreshFor = null;
      this.refreshedExp = expiry.exp;
      if (short) this.shortRefreshes++;
      this.bridge.request('expiring', new Date(expiry.exp * 1000).toISOString());
    }, wait);
  }
}
