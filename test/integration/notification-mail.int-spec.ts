import type { AddressInfo } from 'node:net';
import { Test, type TestingModule } from '@nestjs/testing';
import { SMTPServer } from 'smtp-server';
import type { Settings } from '../../src/config/settings';
import type { NotificationRecord } from '../../src/modules/notifications/alert.types';
import { AlertsService } from '../../src/modules/notifications/alerts.service';
import { DeliveryService } from '../../src/modules/notifications/delivery.service';
import { NotificationsModule } from '../../src/modules/notifications/notifications.module';
import { NotificationsRepository } from '../../src/modules/notifications/notifications.repository';
import { TrafficWatch } from '../../src/modules/notifications/traffic-watch.service';
import { parseMail } from '../fakes/smtp-sink';
import { testSettings } from '../helpers/env';
import { databaseModules } from '../helpers/nest';

const OPS = 'ops@example.com';
const LEAD = 'lead@example.com';

interface Received {
  to: string[];
  subject: string;
  text: string;
}

// A relay (npm smtp-server on loopback) that refuses the addresses in `refused` at RCPT TO with a
// 550 naming them, as relays do ("550 <lead@…> no such user"), and accepts the rest: the message goes
// to those it accepted, and nodemailer resolves it with the refused ones in `info.rejected`.
async function startRelay() {
  const received: Received[] = [];
  const refused = new Set<string>();
  let rcptRefusals = 0;
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onRcptTo: (address, _session, callback) => {
      if (!refused.has(address.address)) return callback();
      rcptRefusals++;
      const error = new Error(`<${address.address}> no such user`) as Error & { responseCode: number };
      error.responseCode = 550;
      callback(error);
    },
    onData: (stream, session, callback) => {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        const { subject, text } = parseMail(Buffer.concat(chunks).toString('utf8'));
        received.push({ to: session.envelope.rcptTo.map((rcpt) => rcpt.address), subject, text });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as AddressInfo).port;
  return {
    url: `smtp://127.0.0.1:${port}`,
    received,
    refused,
    refusals: () => rcptRefusals,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// Email to the admins through the module as the app wires it (MailerModule, nodemailer over
// SMTP_URL) against a real relay, alerts stored in FerretDB: one message per admin address, each
// recorded on its own (docs/protocol.md, "Alert limits and digests").
describe('alert email per admin address', () => {
  let relay: Awaited<ReturnType<typeof startRelay>>;
  let module: TestingModule;
  let settings: Settings;

  beforeAll(async () => {
    relay = await startRelay();
    settings = testSettings({
      SMTP_URL: relay.url,
      MAIL_FROM: 'chatbox@alerts.example',
      ADMIN_EMAILS: `${OPS}, ${LEAD}`,
      ALERT_RULES: 'help_request:email',
      ALERT_LIMIT_PER_TYPE: '1000',
      ALERT_RETRY_BASE: '50ms',
      ALERT_RETRY_MAX: '100ms',
      PUBLIC_BASE_URL: 'https://chat.example.com',
    });
    module = await Test.createTestingModule({
      imports: [...databaseModules(settings), NotificationsModule],
    })
      // abnormal traffic reads the metrics module's counters: not what is tested here
      .overrideProvider(TrafficWatch)
      .useValue({})
      .compile();
    // no timers: the test drives the retries itself
    await module.get(NotificationsRepository).onModuleInit();
  });
  afterAll(async () => {
    await module?.close();
    await relay?.close();
  });

  const mailsTo = (address: string, sessionId: string) =>
    relay.received.filter((mail) => mail.to.includes(address) && mail.text.includes(`Session: ${sessionId}`));
  const stored = async (id: string) =>
    (await module.get(NotificationsRepository).get(id)) as NotificationRecord;

  async function retryUntil(id: string, done: (record: NotificationRecord) => boolean, rounds = 40) {
    for (let round = 0; round < rounds; round++) {
      const record = await stored(id);
      if (done(record)) return record;
      await sleep(60);
      await module.get(DeliveryService).tick();
    }
    return stored(id);
  }

  // A relay that refused one admin at RCPT TO took the message for the other and nodemailer
  // resolved the send: the alert was marked sent and the refused admin was never retried.
  it('should send the accepted address one message and retry the refused one until the relay takes it', async () => {
    relay.refused.add(LEAD);
    const sessionId = `refused-${Date.now()}`;
    const raised = (await module.get(AlertsService).raise({
      type: 'help_request',
      sessionId,
      userId: 'u-mail',
      reason: 'my invoice',
    })) as NotificationRecord;
    expect(raised.channels).toEqual(['email']);
    expect(mailsTo(OPS, sessionId)).toHaveLength(1);
    expect(mailsTo(LEAD, sessionId)).toHaveLength(0);
    const first = await stored(raised.id);
    expect(first).toMatchObject({ status: 'pending', sent: [], attempts: 1 });
    expect(first.sent_to).toEqual([`email:${OPS}`]);
    // the refused address by its place in ADMIN_EMAILS, the relay's status: not the relay's text
    expect(first.last_error).toBe('email 2 of 2: smtp EENVELOPE 550');

    // retries while the relay still refuses it: the accepted address is left alone
    const refusals = relay.refusals();
    const retried = await retryUntil(raised.id, (record) => record.attempts >= 3);
    expect(retried).toMatchObject({ status: 'pending', sent: [] });
    expect(relay.refusals() - refusals).toBeGreaterThanOrEqual(2);
    expect(mailsTo(OPS, sessionId)).toHaveLength(1);
    expect(mailsTo(LEAD, sessionId)).toHaveLength(0);

    relay.refused.delete(LEAD);
    const settled = await retryUntil(raised.id, (record) => record.status !== 'pending');
    expect(settled).toMatchObject({ status: 'sent', sent: ['email'], last_error: null });
    expect(settled.sent_to?.sort()).toEqual([`email:${LEAD}`, `email:${OPS}`]);
    expect(mailsTo(OPS, sessionId)).toHaveLength(1);
    expect(mailsTo(LEAD, sessionId)).toHaveLength(1);
    // one envelope per admin: neither sees the other's address, and no message went to both
    for (const mail of relay.received.filter((candidate) => candidate.text.includes(sessionId)))
      expect(mail.to).toHaveLength(1);
    const [mail] = mailsTo(LEAD, sessionId);
    expect(mail.subject).toBe(`[chatbox] Help requested (session ${sessionId})`);
    expect(mail.text).toContain('Reason: my invoice');
  });

  it('should retry every admin address when the relay refuses them all, and send each one message', async () => {
    relay.refused.add(LEAD).add(OPS);
    const sessionId = `all-refused-${Date.now()}`;
    const raised = (await module
      .get(AlertsService)
      .raise({ type: 'help_request', sessionId, userId: 'u-mail-all' })) as NotificationRecord;
    const first = await stored(raised.id);
    expect(first).toMatchObject({ status: 'pending', sent: [], sent_to: [] });
    expect(first.last_error).toBe('email 1 of 2: smtp EENVELOPE 550; email 2 of 2: smtp EENVELOPE 550');
    relay.refused.clear();
    const settled = await retryUntil(raised.id, (record) => record.status !== 'pending');
    expect(settled).toMatchObject({ status: 'sent', sent: ['email'] });
    expect(mailsTo(OPS, sessionId)).toHaveLength(1);
    expect(mailsTo(LEAD, sessionId)).toHaveLength(1);
  });
});
