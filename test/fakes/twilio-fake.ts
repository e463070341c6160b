import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface TwilioError {
  status: number;
  code: number;
  message: string;
}

export interface ReceivedSms {
  accountSid: string;
  // HTTP Basic credentials the SDK sent
  username: string;
  password: string;
  form: Record<string, string>;
}

// A local HTTP server answering like Twilio's Messages API
// (POST /2010-04-01/Accounts/{AccountSid}/Messages.json, form-encoded, Basic auth, 201 + JSON
// message resource; errors as Twilio's {code, message, more_info, status}). failNext(n) answers the
// next n requests with 503; failTo(number, n, error) the next n requests to that `To` number with
// the error given (Twilio's own, naming the number, by default).
export class TwilioFake {
  readonly messages: ReceivedSms[] = [];
  rejected = 0;
  private failures = 0;
  private readonly failuresTo = new Map<string, { count: number; error: TwilioError }>();
  private server!: Server;
  private waiters: Array<() => void> = [];
  url = '';

  static async start(): Promise<TwilioFake> {
    const fake = new TwilioFake();
    fake.server = createServer((request, response) => void fake.handle(request, response));
    await new Promise<void>((resolve) => fake.server.listen(0, '127.0.0.1', resolve));
    fake.url = `http://127.0.0.1:${(fake.server.address() as AddressInfo).port}`;
    return fake;
  }

  failNext(count: number): void {
    this.failures = count;
  }

  failTo(to: string, count: number, error?: Partial<TwilioError>): void {
    this.failuresTo.set(to, {
      count,
      error: {
        status: 400,
        code: 21211,
        message: `The 'To' number ${to} is not a valid phone number.`,
        ...error,
      },
    });
  }

  // the SMS each number received
  to(number: string): ReceivedSms[] {
    return this.messages.filter((message) => message.form.To === number);
  }

  async waitFor(count: number, timeoutMs = 10_000): Promise<ReceivedSms[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.messages.length < count) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`expected ${count} SMS, got ${this.messages.length}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.messages;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const match = /^\/2010-04-01\/Accounts\/(AC[0-9a-zA-Z]+)\/Messages\.json$/.exec(request.url ?? '');
    const reply = (status: number, body: unknown) => {
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(JSON.stringify(body));
    };
    if (request.method !== 'POST' || !match) {
      reply(404, { code: 20404, message: 'The requested resource was not found', status: 404 });
      return;
    }
    const [username, password] = Buffer.from(
      (request.headers.authorization ?? '').replace(/^Basic /, ''),
      'base64',
    )
      .toString()
      .split(':');
    if (username !== match[1]) {
      reply(401, {
        code: 20003,
        message: 'Authenticate',
        more_info: 'https://www.twilio.com/docs/errors/20003',
        status: 401,
      });
      return;
    }
    if (this.failures > 0) {
      this.failures--;
      this.rejected++;
      reply(503, {
        code: 20503,
        message: 'Service unavailable',
        more_info: 'https://www.twilio.com/docs/errors/20503',
        status: 503,
      });
      return;
    }
    const form = Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString()));
    const failTo = this.failuresTo.get(form.To);
    if (failTo && failTo.count > 0) {
      failTo.count--;
      this.rejected++;
      reply(failTo.error.status, {
        ...failTo.error,
        more_info: `https://www.twilio.com/docs/errors/${failTo.error.code}`,
      });
      return;
    }
    this.messages.push({ accountSid: match[1], username, password, form });
    this.waiters.splice(0).forEach((wake) => wake());
    const now = new Date().toUTCString();
    reply(201, {
      sid: `SM${randomBytes(16).toString('hex')}`,
      account_sid: match[1],
      to: form.To,
      from: form.From,
      body: form.Body,
      status: 'queued',
      num_segments: '1',
      direction: 'outbound-api',
      api_version: '2010-04-01',
      date_created: now,
      date_updated: now,
      date_sent: null,
      error_code: null,
      error_message: null,
      price: null,
      uri: `/2010-04-01/Accounts/${match[1]}/Messages/SM.json`,
    });
  }
}
