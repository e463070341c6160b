// Whether an open WebSocket still reaches the server (docs/protocol.md, "Socket limits"). A link can
// go silent without a close reaching the page (a wifi hand-over, a NAT that forgot the connection):
// the browser's TCP keeps it for many minutes, the server's pings are invisible to a page, and the
// server sends nothing at app level while idle. Until the client audit (t3) such a page said
// "Connected" and "Sending…" for ever, though the server had closed its end within its heartbeat.
// So the client asks: a probe (ChatSocket: an `auth_refresh` with the token in hand, which the server
// answers at once, beside the conversation's frames, and on both socket paths) when a frame it sent
// with a client_id had no answer of any kind for SEND_PROBE_AFTER_MS, or nothing at all came for
// IDLE_PROBE_AFTER_MS; a probe with nothing back for PROBE_TIMEOUT_MS ends the link, and the socket
// connects again (a resume: nothing missed, the unacked resent with their client_id).

// a message's ack comes in milliseconds unless the link is gone (a slow frame: the probe answers)
export const SEND_PROBE_AFTER_MS = 4_000;
// the server's heartbeat (HEARTBEAT_INTERVAL, 30 s by default) ends a silent socket on its side
export const IDLE_PROBE_AFTER_MS = 30_000;
export const PROBE_TIMEOUT_MS = 8_000;
// the probe's client_id: its answer is the socket's own, no one else's
export const PROBE_PREFIX = 'probe:';

export interface LivenessHost {
  // send a probe with this client_id
  probe(clientId: string): void;
  // nothing came back: the link is gone
  dead(): void;
}

// One socket's watch, from its connection_status to its close.
export class LinkLiveness {
  private heardAt = 0;
  // the first frame sent since anything was heard
  private waitingSince: number | null = null;
  private probedAt: number | null = null;
  private probes = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private timerAt = Infinity;
  private watching = false;

  constructor(private readonly host: LivenessHost) {}

  start(): void {
    this.watching = true;
    this.heard();
    this.arm();
  }

  stop(): void {
    this.watching = false;
    clearTimeout(this.timer);
    this.timerAt = Infinity;
  }

  // A frame came: the link works. (No timer is touched: a stream's deltas come by the hundred.)
  heard(): void {
    this.heardAt = Date.now();
    this.waitingSince = null;
    this.probedAt = null;
  }

  // A frame went that the server answers (it has a client_id).
  sent(): void {
    if (!this.watching) return;
    this.waitingSince ??= Date.now();
    this.arm();
  }

  private get dueAt(): number {
    if (this.probedAt !== null) return this.probedAt + PROBE_TIMEOUT_MS;
    const idle = this.heardAt + IDLE_PROBE_AFTER_MS;
    return this.waitingSince === null ? idle : Math.min(idle, this.waitingSince + SEND_PROBE_AFTER_MS);
  }

  private arm(): void {
    const at = this.dueAt;
    if (!this.watching || at >= this.timerAt) return;
    clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => this.check(), Math.max(0, at - Date.now()));
  }

  private check(): void {
    this.timerAt = Infinity;
    if (!this.watching) return;
    if (Date.now() >= this.dueAt) {
      if (this.probedAt !== null) {
        this.stop();
        return this.host.dead();
      }
      this.probedAt = Date.now();
      this.host.probe(`${PROBE_PREFIX}${++this.probes}-${Date.now().toString(36)}`);
    }
    this.arm();
  }
}
