import { Injectable } from '@nestjs/common';

// sessions remembered, the oldest forgotten first: a deleted session's replies are all dropped within
// seconds of its delete, long before this many more are deleted on one instance
const KEPT = 10_000;

// The sessions this instance knows their users deleted (docs/protocol.md, "Session library"): told by
// the delete (here or over the bus), or by a reply's write the store refused as gone. Nothing more of
// them is asked of a model here: a reply queued or being assembled is dropped before its vendor call.
// The store refuses every write to them anyway (SessionAppender); this saves the vendor the text.
@Injectable()
export class DeletedSessions {
  private readonly sessions = new Set<string>();

  add(sessionId: string): void {
    if (this.sessions.has(sessionId)) return;
    this.sessions.add(sessionId);
    if (this.sessions.size > KEPT) this.sessions.delete(this.sessions.values().next().value as string);
  }

  has(sessionId: string): boolean {
    return this.sessions.has(sessionId);
  }
}
