import type { Settings } from '../../config/settings';
import type { AlertsService } from '../notifications/alerts.service';
import type { ClientHub } from '../realtime/client-hub';
import type { Connection } from '../realtime/connection';
import type { RecordInput, RecordService } from '../replies/record.service';
import type { AssistanceState, HelpMark } from '../sessions/session.types';
import type { SessionsService } from '../sessions/sessions.service';
import { HELP_ALREADY_HERE_TEXT, HELP_NOTIFIED_TEXT, HelpService } from './help.service';

function state(overrides: Partial<AssistanceState> = {}): AssistanceState {
  return {
    session_id: 's1',
    user_id: 'u1',
    seq: 0,
    is_active: true,
    console: false,
    help_pending: false,
    help_requested_at: null,
    help_client_id: null,
    takeover: null,
    ...overrides,
  };
}

// Fakes of the session's help fields and log: `stored` holds what the record path stored (a resend
// of a client_id of the user's, or of the system's answer, gets the stored copy: duplicate).
// (a stored event has its time: the record path stamps it when it stores it)
type Stored = RecordInput['message'] & { timestamp?: Date };
function setup(options: { session?: AssistanceState; mark?: HelpMark; log?: Stored[] } = {}) {
  const stored: Array<Stored & { seq: number }> = (options.log ?? []).map((message, index) => ({
    ...message,
    seq: index + 1,
  }));
  const records = {
    ack: jest.fn(),
    record: jest.fn().mockImplementation((input: RecordInput) => {
      const previous = stored.find(
        (message) =>
          message.client_id !== undefined &&
          message.client_id === input.message.client_id &&
          message.sender === input.message.sender,
      );
      if (previous)
        return Promise.resolve({ message: { ...previous, id: `m${previous.seq}` }, duplicate: true });
      const message = { ...input.message, seq: stored.length + 1, timestamp: new Date() };
      stored.push(message);
      return Promise.resolve({ message: { ...message, id: `m${message.seq}` }, duplicate: false });
    }),
  };
  const sessions = {
    assistanceState: jest.fn().mockResolvedValue(options.session ?? state()),
    markHelpRequested: jest
      .fn()
      .mockResolvedValue(options.mark ?? { taken: true, alert: true, outcome: 'notified' }),
    helpAfterLapse: jest.fn().mockResolvedValue(null),
    storedAfter: jest
      .fn()
      .mockImplementation((_id: string, after: number) =>
        Promise.resolve(stored.filter((message) => message.seq > after)),
      ),
  };
  let finishRaise: () => void = () => undefined;
  const alerts = {
    raise: jest.fn().mockImplementation(
      () =>
        new Promise((resolve) => {
          finishRaise = () => resolve(undefined);
        }),
    ),
  };
  const hub = { send: jest.fn() };
  const service = new HelpService(
    sessions as unknown as SessionsService,
    records as unknown as RecordService,
    alerts as unknown as AlertsService,
    hub as unknown as ClientHub,
    { shutdownGraceMs: 10_000 } as Settings,
  );
  const connection = { id: 'c1', sessionId: 's1', principal: { userId: 'u1' } } as unknown as Connection;
  return { service, sessions, records, alerts, hub, connection, stored, finish: () => finishRaise() };
}

const help = (client_id?: string, content?: string) => ({
  type: 'help_request' as const,
  client_id,
  content,
});

describe(HelpService.name, () => {
  it('should store the request, mark the session, answer the user and alert the admins', async () => {
    const { service, sessions, alerts, connection, stored } = setup();
    await service.request(connection, help('h1', ' My invoice '));
    expect(sessions.markHelpRequested).toHaveBeenCalledWith('s1', 'u1', {
      seq: 1,
      clientId: 'h1',
      at: expect.any(Date),
    });
    expect(stored.map((message) => [message.type, message.client_id, message.content])).toEqual([
      ['help_request', 'h1', 'My invoice'],
      ['system_message', 'h1', HELP_NOTIFIED_TEXT],
    ]);
    expect(alerts.raise).toHaveBeenCalledWith(
      expect.objectContaining({ type: 'help_request', userId: 'u1', sessionId: 's1', reason: 'My invoice' }),
    );
  });

  // the audit's item 1: the instance that stored the request died before anything else
  it('should take the steps a resend finds not taken: answer stored, admins alerted', async () => {
    const first = {
      type: 'help_request' as const,
      sender: 'user' as const,
      client_id: 'h1',
      content: 'Late',
    };
    const { service, alerts, connection, stored, sessions } = setup({
      log: [{ ...first, timestamp: new Date() }],
    });
    await service.request(connection, help('h1', 'Late'));
    expect(sessions.markHelpRequested).toHaveBeenCalledWith('s1', 'u1', expect.objectContaining({ seq: 1 }));
    expect(stored.map((message) => message.type)).toEqual(['help_request', 'system_message']);
    expect(alerts.raise).toHaveBeenCalledTimes(1);
    expect(alerts.raise).toHaveBeenCalledWith(expect.objectContaining({ reason: 'Late' }));
  });

  it('should raise nothing again for a resend whose steps were taken', async () => {
    const { service, alerts, connection, stored } = setup({
      session: state({ help_pending: true, help_client_id: 'h1' }),
      mark: { taken: false, alert: false, outcome: 'notified' },
    });
    await service.request(connection, help('h1'));
    await service.request(connection, help('h1'));
    expect(alerts.raise).not.toHaveBeenCalled();
    // its answer is sent again, stored once
    expect(stored.map((message) => message.type)).toEqual(['help_request', 'system_message']);
  });

  // the audit's item 4
  it('should answer a repeat while help waits with an ack, storing and raising nothing', async () => {
    const { service, alerts, connection, records, hub, sessions } = setup({
      session: state({ help_pending: true, help_client_id: 'h1' }),
    });
    await service.request(connection, help('h2', 'again'));
    await service.request(connection, help(undefined));
    expect(records.record).not.toHaveBeenCalled();
    expect(sessions.markHelpRequested).not.toHaveBeenCalled();
    expect(alerts.raise).not.toHaveBeenCalled();
    expect(hub.send).toHaveBeenCalledWith(connection, {
      type: 'ack',
      session_id: 's1',
      client_id: 'h2',
      metadata: { help_requested: true, already_requested: true },
    });
    expect(hub.send).toHaveBeenCalledTimes(2);
  });

  it('should answer "already here" and alert nobody while an admin assists', async () => {
    const { service, alerts, connection, stored } = setup({
      mark: { taken: true, alert: false, outcome: 'assisted' },
    });
    await service.request(connection, help('h1'));
    expect(stored[1]).toMatchObject({ content: HELP_ALREADY_HERE_TEXT, metadata: { help: 'assisted' } });
    expect(alerts.raise).not.toHaveBeenCalled();
  });

  // the audit's item 2
  it('should alert the admins, with the request reason, when a takeover it was answered by lapses', async () => {
    const { service, sessions, alerts } = setup({
      log: [
        { type: 'admin_join', sender: 'admin', timestamp: new Date() },
        { type: 'help_request', sender: 'user', client_id: 'h1', content: 'Hello?', timestamp: new Date() },
      ],
    });
    const startedAt = new Date();
    await service.takeoverLapsed({ sessionId: 's1', startedAt });
    expect(alerts.raise).not.toHaveBeenCalled();
    sessions.helpAfterLapse.mockResolvedValue({ userId: 'u1', seq: 2 });
    await service.takeoverLapsed({ sessionId: 's1', startedAt });
    expect(sessions.helpAfterLapse).toHaveBeenCalledWith('s1', startedAt, expect.any(Date));
    expect(alerts.raise).toHaveBeenCalledWith(
      expect.objectContaining({ type: 'help_request', userId: 'u1', sessionId: 's1', reason: 'Hello?' }),
    );
  });

  it('should wait for the alerts being raised before the server stops', async () => {
    const { service, connection, finish } = setup();
    await service.request(connection, help('h1'));
    let stopped = false;
    const stopping = service.beforeApplicationShutdown().then(() => (stopped = true));
    await new Promise((resolve) => setImmediate(resolve));
    expect(stopped).toBe(false);
    finish();
    await stopping;
    expect(stopped).toBe(true);
  });
});
