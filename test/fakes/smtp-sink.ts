import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

export interface ReceivedMail {
  from: string;
  to: string[];
  subject: string;
  text: string;
  raw: string;
}

export interface SmtpFailure {
  responseCode: number;
  message: string;
}

const BUSY: SmtpFailure = { responseCode: 451, message: 'mailbox busy, try again later' };

// A real SMTP listener (npm smtp-server) on loopback that keeps what it receives. failNext(n) answers
// the next n messages with a temporary failure (451 by default), as a busy relay would; failFor(ms)
// every message until then (an outage). delayNext(ms) holds the answer to the next message that
// long, as a slow relay would: a mail counts as received when its 250 goes out; one whose client
// hung up first is counted in `abandoned` instead.
export class SmtpSink {
  readonly mails: ReceivedMail[] = [];
  rejected = 0;
  abandoned = 0;
  private failures = 0;
  private failure: SmtpFailure = BUSY;
  private failingUntil = 0;
  private delay = 0;
  private readonly closed = new Set<string>();
  private waiters: Array<() => void> = [];
  private server!: SMTPServer;
  port = 0;

  get url(): string {
    return `smtp://127.0.0.1:${this.port}`;
  }

  static async start(): Promise<SmtpSink> {
    const sink = new SmtpSink();
    sink.server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS', 'AUTH'],
      logger: false,
      onClose: (session) => {
        sink.closed.add(session.id);
      },
      onData: (stream, session, callback) => {
        const chunks: Buffer[] = [];
        stream.on('data', (chunk: Buffer) => chunks.push(chunk));
        stream.on('end', () => {
          const answer = () => {
            if (sink.failures > 0 || Date.now() < sink.failingUntil) {
              if (sink.failures > 0) sink.failures--;
              sink.rejected++;
              const error = new Error(sink.failure.message) as Error & { responseCode: number };
              error.responseCode = sink.failure.responseCode;
              callback(error);
              return;
            }
            if (sink.closed.has(session.id)) {
              sink.abandoned++;
              return;
            }
            const raw = Buffer.concat(chunks).toString('utf8');
            sink.mails.push({
              ...parseMail(raw),
              from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
              to: session.envelope.rcptTo.map((recipient) => recipient.address),
              raw,
            });
            sink.waiters.splice(0).forEach((wake) => wake());
            callback();
          };
          const delay = sink.delay;
          sink.delay = 0;
          if (delay > 0) setTimeout(answer, delay);
          else answer();
        });
      },
    });
    await new Promise<void>((resolve) => sink.server.listen(0, '127.0.0.1', resolve));
    sink.port = (sink.server.server.address() as AddressInfo).port;
    return sink;
  }

  failNext(count: number, failure: SmtpFailure = BUSY): void {
    this.failures = count;
    this.failure = failure;
  }

  failFor(ms: number, failure: SmtpFailure = BUSY): void {
    this.failingUntil = Date.now() + ms;
    this.failure = failure;
  }

  delayNext(ms: number): void {
    this.delay = ms;
  }

  async next(match: (mail: ReceivedMail) => boolean, timeoutMs = 10_000): Promise<ReceivedMail> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.mails.find(match);
      if (found) return found;
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(`no matching mail; got ${this.mails.map((mail) => mail.subject).join(' | ')}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

// Enough MIME for what nodemailer sends here: headers, a text/plain body in 7bit, quoted-printable
// or base64.
export function parseMail(raw: string): { subject: string; text: string } {
  const split = raw.indexOf('\r\n\r\n');
  const head = raw.slice(0, split).replace(/\r\n[ \t]+/g, ' ');
  let body = raw.slice(split + 4);
  const header = (name: string) => new RegExp(`^${name}:\\s*(.*)$`, 'im').exec(head)?.[1]?.trim() ?? '';
  const encoding = header('Content-Transfer-Encoding').toLowerCase();
  if (encoding === 'quoted-printable') {
    const bytes = body
      .replace(/=\r\n/g, '')
      .replace(/=([0-9A-F]{2})/gi, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
    body = Buffer.from(bytes, 'latin1').toString('utf8');
  } else if (encoding === 'base64') {
    body = Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
  }
  return { subject: decodeWords(header('Subject')), text: body.replace(/\r\n/g, '\n') };
}

function decodeWords(value: string): string {
  return value.replace(/=\?utf-8\?([qb])\?([^?]*)\?=\s*/gi, (_, kind: string, data: string) =>
    kind.toLowerCase() === 'b'
      ? Buffer.from(data, 'base64').toString('utf8')
      : Buffer.from(
          data
            .replace(/_/g, ' ')
            .replace(/=([0-9A-F]{2})/gi, (__, hex: string) => String.fromCharCode(parseInt(hex, 16))),
          'latin1',
        ).toString('utf8'),
  );
}
