import { MailerService } from '@nestjs-modules/mailer';
import { createTransport } from 'nodemailer';
import { SmtpSink } from '../../../test/fakes/smtp-sink';
import { MailSender, mailerOptions } from './mail.sender';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// MailSender against a real SMTP listener (smtp-server), through the mailer and nodemailer as the app
// configures them.
describe(MailSender.name, () => {
  let sink: SmtpSink;
  const senders: MailerService[] = [];

  beforeAll(async () => {
    sink = await SmtpSink.start();
  });
  afterAll(async () => {
    await Promise.all(senders.map((mailer) => mailer.onModuleDestroy()));
    await sink.close();
  });

  function sender(timeouts?: Parameters<typeof mailerOptions>[1]): MailSender {
    const settings = { smtpUrl: sink.url, from: 'chatbox@alerts.example', to: ['oncall@example.com'] };
    const options = mailerOptions(settings, timeouts);
    // what the mailer's own transport factory does with the options
    const mailer = new MailerService(options, {
      createTransport: () => createTransport(options.transport as Parameters<typeof createTransport>[0]),
    });
    senders.push(mailer);
    return new MailSender(mailer, settings, timeouts?.sendMs);
  }

  it('should send one mail to every admin address', async () => {
    await sender().send({ subject: 'Help requested', text: 'Event: help_request\n' });
    const mail = await sink.next((candidate) => candidate.subject === 'Help requested');
    expect(mail).toMatchObject({ from: 'chatbox@alerts.example', to: ['oncall@example.com'] });
  });

  // The mailer's sendTimeout only stopped waiting: nodemailer went on, a relay slower than the
  // timeout took the mail after the caller had been told it failed, and the retry sent it again.
  it('should end the send itself when the relay is slower than the timeout', async () => {
    const before = sink.mails.length;
    sink.delayNext(1500);
    const started = Date.now();
    const failure = await sender({ connectionMs: 1000, greetingMs: 1000, socketMs: 1000, sendMs: 300 })
      .send({ subject: 'Slow relay', text: 'x\n' })
      .catch((error: unknown) => error);
    expect(Date.now() - started).toBeLessThan(1200);
    await sleep(1800);
    // the relay never answered 250 on that connection: nothing went out behind the failure
    expect(sink.mails.length).toBe(before);
    expect(sink.abandoned).toBe(1);
    expect((failure as Error).message).toBe('smtp EABORT');
  });

  it('should end a send on a relay that stops answering by the socket timeout', async () => {
    sink.delayNext(2000);
    await expect(
      sender({ connectionMs: 1000, greetingMs: 1000, socketMs: 300, sendMs: 5000 }).send({
        subject: 'Silent relay',
        text: 'x\n',
      }),
    ).rejects.toThrow(/^smtp ETIMEDOUT$/);
  });

  // The relay's text names the address it refused ("550 <oncall@corp> rejected"): logs and the
  // stored alert get the code and the status only.
  it("should fail with the error code and the relay's status, never the relay's text", async () => {
    sink.failNext(1, { responseCode: 550, message: '<oncall@example.com> rejected: no such user' });
    const failure = await sender()
      .send({ subject: 'Refused', text: 'x\n' })
      .catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(Error);
    expect((failure as Error).message).toBe('smtp EMESSAGE 550');
    expect(JSON.stringify(failure)).not.toContain('oncall');
  });
});
