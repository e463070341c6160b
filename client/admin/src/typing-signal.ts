// at most one typing: true this often while the admin keeps typing (the user's side shows it for a
// while), and typing: false after this long without a key
export const TYPING_REPEAT_MS = 2_000;
export const TYPING_IDLE_MS = 3_000;

// The admin's typing indicator, throttled: a frame per keystroke ran past the server's 10 frames a
// second and was refused RATE_LIMITED.
export class TypingSignal {
  private typing = false;
  private lastSentAt = 0;
  private idle: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly send: (typing: boolean) => void) {}

  // the reply box's text after a key
  input(text: string): void {
    if (!text.trim()) return this.stop();
    const now = Date.now();
    if (!this.typing || now - this.lastSentAt >= TYPING_REPEAT_MS) {
      this.typing = true;
      this.lastSentAt = now;
      this.send(true);
    }
    clearTimeout(this.idle);
    this.idle = setTimeout(() => this.stop(), TYPING_IDLE_MS);
  }

  // the message was sent, the box emptied, the admin went idle or left
  stop(): void {
    clearTimeout(this.idle);
    if (!this.typing) return;
    this.typing = false;
    this.send(false);
  }
}
