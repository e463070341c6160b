import type { AlertEvent } from '../notifications/alert.types';
import type { AlertsService } from '../notifications/alerts.service';
import { LlmEvents, type LlmFailureEvent } from './llm-events';

describe(LlmEvents.name, () => {
  const failure = {
    modelId: 'gpt',
    vendor: 'openai',
    error: 'openai: HTTP 500',
    userId: 'u1',
    sessionId: 's1',
  };

  it('should tell subscribers about every failure and raise an admin alert for those users felt', async () => {
    const raised: AlertEvent[] = [];
    const alerts = { raise: (event: AlertEvent) => (raised.push(event), Promise.resolve()) } as AlertsService;
    const events = new LlmEvents(alerts);
    const seen: LlmFailureEvent[] = [];
    const unsubscribe = events.onFailure((event) => seen.push(event));
    events.failure({ ...failure, kind: 'retry', attempt: 1 });
    events.failure({ ...failure, kind: 'unavailable' });
    unsubscribe();
    events.failure({ ...failure, kind: 'circuit_open' });
    expect(seen.map((event) => event.kind)).toEqual(['retry', 'unavailable']);
    expect(seen[0].at).toBeInstanceOf(Date);
    await Promise.resolve();
    expect(raised).toEqual([
      expect.objectContaining({
        type: 'llm_failure',
        userId: 'u1',
        sessionId: 's1',
        details: expect.stringContaining('unavailable'),
      }),
      expect.objectContaining({ type: 'llm_failure', details: expect.stringContaining('circuit_open') }),
    ]);
  });

  it('should survive a failing subscriber and a missing alerts service', () => {
    const events = new LlmEvents();
    events.onFailure(() => {
      throw new Error('listener bug');
    });
    expect(() => events.failure({ ...failure, kind: 'interrupted' })).not.toThrow();
  });
});
