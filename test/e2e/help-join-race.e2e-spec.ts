import { NotificationsRepository } from '../../src/modules/notifications/notifications.repository';
import { getJson, type SessionBody } from '../helpers/app';
import { adminToken, uniqueUser, userToken } from '../helpers/tokens';
import { answerTo, connectTo, startTwoInstances, type TwoInstances } from '../helpers/two-instances';
import { SmtpSink } from '../fakes/smtp-sink';

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// Found by a help audit in session 39 (10–13 of 16 rounds). docs/protocol.md, "Help requests": the help mark "decides on the session as it is then: a takeover
// that started or ended since the request was stored is seen"; an admin who joins answers the request
// (help_pending cleared, help → join time counted). A help_request sent at the same moment as an
// admin's admin_join (two instances) leaves the session waiting for help after the admin answered
// it: once the admin leaves, the dashboard lists it "Help requested" again (help_pending true), and
// the admins were alerted about a session an admin had just taken.
describe('help request racing a takeover (e2e)', () => {
  jest.setTimeout(120_000);
  let two: TwoInstances;
  let smtp: SmtpSink;

  beforeAll(async () => {
    smtp = await SmtpSink.start();
    two = await startTwoInstances(
      { reply: 'AI answer' },
      {
        SMTP_URL: smtp.url,
        MAIL_FROM: 'chatbox@alerts.example',
        ADMIN_EMAILS: 'ops@example.com',
        PUBLIC_BASE_URL: 'https://chat.example.com',
        ALERT_RETRY_BASE: '200ms',
        RATE_LIMIT_MESSAGES_PER_SECOND: '1000',
      },
    );
  });
  afterAll(async () => {
    await two?.close();
    await smtp?.close();
  });

  it('should not leave a help request waiting once the admin who joined as it was sent has left', async () => {
    const problems: string[] = [];
    for (let round = 0; round < 16; round++) {
      const userId = uniqueUser();
      const token = userToken(userId);
      const admin = adminToken(uniqueUser('admin'), 'Hal');
      const user = await connectTo(two.first, token);
      const adm = await connectTo(two.second, admin);
      adm.client.send({ type: 'admin_join', session_id: user.sessionId, client_id: 'join' });
      await pause((round % 4) * 2);
      user.client.send({ type: 'help_request', client_id: 'h', content: 'please' });
      const [joined, helped] = await Promise.all([answerTo(adm.client, 'join'), answerTo(user.client, 'h')]);
      expect(joined.type).toBe('ack');
      expect(helped.type).toBe('ack');
      await pause(500);
      adm.client.send({ type: 'admin_leave', session_id: user.sessionId, client_id: 'leave' });
      expect((await answerTo(adm.client, 'leave')).type).toBe('ack');
      await pause(700);
      const log = await getJson<SessionBody>(`${two.first.httpUrl}/chat/sessions/${user.sessionId}`, token);
      const order = log.messages
        .map((m) => `${m.type}${m.type === 'system_message' ? `(${String(m.metadata?.help)})` : ''}`)
        .join(',');
      const page = await getJson<{ items: Array<{ id: string; help_pending: boolean }> }>(
        `${two.first.httpUrl}/chat/admin/users/${userId}/sessions`,
        admin,
      );
      const row = page.items.find((item) => item.id === user.sessionId);
      const alerts = await two.first.app.get(NotificationsRepository).find({ sessionId: user.sessionId });
      if (row?.help_pending)
        problems.push(
          `round ${round}: help_pending after the admin left; log ${order}; alerts ${alerts.length}`,
        );
      await Promise.all([user.client.close(), adm.client.close()]);
    }
    expect(problems).toEqual([]);
  });
});
