import { TwilioFake } from '../../../test/fakes/twilio-fake';
import { SmsSender } from './sms.sender';

const SETTINGS = {
  accountSid: `AC${'0123456789abcdef'.repeat(2)}`,
  authToken: 'token',
  from: '+15550001111',
  to: ['+15550002222', '+15550003333'],
};

// SmsSender through the twilio SDK against a local server speaking Twilio's Messages API.
describe(SmsSender.name, () => {
  let twilio: TwilioFake;

  beforeAll(async () => {
    twilio = await TwilioFake.start();
  });
  afterAll(() => twilio.close());

  it('should send one message to the number it is given', async () => {
    const sender = new SmsSender({ ...SETTINGS, apiUrl: twilio.url });
    expect(sender.recipients).toEqual(SETTINGS.to);
    await sender.send('+15550003333', 'chatbox: Help requested');
    expect(twilio.messages.map((message) => message.form)).toEqual([
      { To: '+15550003333', From: '+15550001111', Body: 'chatbox: Help requested' },
    ]);
  });

  // Twilio's message names the number ("The 'To' number +49… is not a valid phone number."): logs
  // and the stored alert get the status and Twilio's error code only.
  it("should fail with Twilio's status and error code, never its text", async () => {
    twilio.failTo('+15550002222', 1);
    const failure = await new SmsSender({ ...SETTINGS, apiUrl: twilio.url })
      .send('+15550002222', 'x')
      .catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(Error);
    expect((failure as Error).message).toBe('twilio 400 21211');
    expect(JSON.stringify(failure)).not.toContain('5550002222');
  });

  it('should name the network error when Twilio cannot be reached', async () => {
    const closed = await TwilioFake.start();
    await closed.close();
    const failure = await new SmsSender({ ...SETTINGS, apiUrl: closed.url })
      .send('+15550002222', 'x')
      .catch((error: unknown) => error);
    expect((failure as Error).message).toBe('twilio ECONNREFUSED');
  });
});
