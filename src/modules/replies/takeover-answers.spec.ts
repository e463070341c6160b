import type { Bus } from '../../infra/bus/bus';
import { SessionEvents } from '../realtime/session-events';
import type { SessionsService } from '../sessions/sessions.service';
import type { ReplyService } from './reply.service';
import { TakeoverAnswers } from './takeover-answers';
import type { TurnWatchService } from './turn-watch.service';

// A takeover's start reaches the other instances on the bus; one that was cut off from it missed it.
describe(TakeoverAnswers.name, () => {
  it('should stop, once the bus is back, the replies streaming here for sessions an admin took over meanwhile', async () => {
    let resync: (() => void) | undefined;
    const bus = { onResync: (handler: () => void) => (resync = handler) } as unknown as Bus;
    const replies = {
      streaming: jest.fn().mockReturnValue(['assisted', 'free', 'gone']),
      takeoverStarted: jest.fn(),
    };
    const takeover = { sessionId: 'assisted', adminId: 'ada', adminName: 'Ada', startedAt: new Date() };
    const sessions = {
      assistanceState: jest.fn().mockImplementation((sessionId: string) =>
        sessionId === 'gone'
          ? Promise.reject(new Error('store away'))
          : Promise.resolve({
              session_id: sessionId,
              takeover: sessionId === 'assisted' ? takeover : null,
            }),
      ),
    };
    const answers = new TakeoverAnswers(
      new SessionEvents(),
      replies as unknown as ReplyService,
      sessions as unknown as SessionsService,
      { watch: jest.fn() } as unknown as TurnWatchService,
      bus,
    );
    answers.onModuleInit();
    resync?.();
    await new Promise((resolve) => setImmediate(resolve));
    await answers.stopOverAdmins();
    expect(replies.takeoverStarted.mock.calls).toEqual([['assisted'], ['assisted']]);
  });
});
