import type { AddressInfo } from 'node:net';
import { MailerService } from '@nestjs-modules/mailer';
import { createTransport } from 'nodemailer';
import { SMTPServer } from 'smtp-server';
import { mailerOptions } from '../../infra/mail/mail.sender';
import { AdminMailSender } from './admin-mail';

const OPS = 'ops@example.com';
const LEAD = 'lead@example.com';
const MAIL = { subject: 'Help requested', text: 'Event: help_request\n' };

interface Relay {
  url: string;
  received: Array<{ to: string[]; raw: string }>;
  // refused at RCPT TO (SMTP), or after the data (LMTP, one reply per recipient)
  refused: Set<string>;
  close(): Promise<void>;
}

// A real listener (npm smtp-server) on loopback. Its refusals name the address, as relays' do.
async function startRelay(lmtp = false): Promise<Relay> {
  const received: Relay['received'] = [];
  const refused = new Set<string>();
  const refuse = (address: string) =>
    Object.assign(new Error(`<${address}> no such user`), { responseCode: 550 });
  const server = new SMTPServer({
    lmtp,
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onRcptTo: (address, _session, callback) =>
      !lmtp && refused.has(address.address) ? callback(refuse(address.address)) : callback(),
    onData: (stream, session, callback) => {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        const to = session.envelope.rcptTo.map((rcpt) => rcpt.address);
        const taken = to.filter((address) => !refused.has(address));
        if (taken.length > 0) received.push({ to: taken, raw: Buffer.concat(chunks).toString('utf8') });
        if (!lmtp) return callback();
        // LMTP: a reply per recipient
        (callback as (error: null, replies: Array<string | Error>) => void)(
          null,
          to.map((address) => (refused.has(address) ? refuse(address) : 'OK')),
        );
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as AddressInfo).port;
  return {
    url: `smtp://127.0.0.1:${port}${lmtp ? '/?lmtp=true' : ''}`,
    received,
    refused,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

// AdminMailSender through the mailer and nodemailer as the app configures them (mailerOptions).
describe(AdminMailSender.name, () => {
  const relays: Relay[] = [];
  const mailers: MailerService[] = [];

  afterAll(async () => {
    await Promise.all(mailers.map((mailer) => mailer.onModuleDestroy()));
    await Promise.all(relays.map((relay) => relay.close()));
  });

  async function setUp(lmtp = false): Promise<{ relay: Relay; mail: AdminMailSender }> {
    const relay = await startRelay(lmtp);
    relays.push(relay);
    const settings = { smtpUrl: relay.url, from: 'chatbox@alerts.example', to: [OPS, LEAD] };
    const options = mailerOptions(settings);
    const mailer = new MailerService(options, {
      createTransport: () => createTransport(options.transport as Parameters<typeof createTransport>[0]),
    });
    mailers.push(mailer);
    return { relay, mail: new AdminMailSender(mailer, settings) };
  }

  it('should send one message to the one address, with its own envelope and To:', async () => {
    const { relay, mail } = await setUp();
    expect(mail.recipients).toEqual([OPS, LEAD]);
    await mail.send(LEAD, MAIL);
    expect(relay.received).toHaveLength(1);
    expect(relay.received[0].to).toEqual([LEAD]);
    expect(relay.received[0].raw).toMatch(/^To: lead@example\.com\r?$/m);
    expect(relay.received[0].raw).not.toContain(OPS);
  });

  it("should fail with the code and status when the relay refuses the address, never the relay's text", async () => {
    const { relay, mail } = await setUp();
    relay.refused.add(LEAD);
    const failure = await mail.send(LEAD, MAIL).catch((error: unknown) => error);
    expect((failure as Error).message).toBe('smtp EENVELOPE 550');
    expect(JSON.stringify(failure)).not.toContain('lead@');
    expect(relay.received).toHaveLength(0);
    await mail.send(OPS, MAIL);
    expect(relay.received.map((received) => received.to)).toEqual([[OPS]]);
  });

  // Over LMTP the relay answers the message once per recipient, after the data: nodemailer resolved
  // the send of a message refused for its only recipient (info.rejected), and it counted as sent.
  it('should fail a send that nodemailer resolves with its recipient rejected', async () => {
    const { relay, mail } = await setUp(true);
    relay.refused.add(LEAD);
    const failure = await mail.send(LEAD, MAIL).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(Error);
    expect((failure as Error).message).toBe('smtp EMESSAGE 550');
    expect(JSON.stringify(failure)).not.toContain('lead@');
    await expect(mail.send(OPS, MAIL)).resolves.toBeUndefined();
    expect(relay.received.map((received) => received.to)).toEqual([[OPS]]);
  });

  it('should send to no address outside ADMIN_EMAILS', async () => {
    const { relay, mail } = await setUp();
    await expect(mail.send('someone@example.com', MAIL)).rejects.toThrow('not one of ADMIN_EMAILS');
    expect(relay.received).toHaveLength(0);
  });
});
