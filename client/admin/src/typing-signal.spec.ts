import { TYPING_IDLE_MS, TYPING_REPEAT_MS, TypingSignal } from './typing-signal';

describe(TypingSignal.name, () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  const signal = () => {
    const sent: boolean[] = [];
    return { sent, typing: new TypingSignal((typing) => sent.push(typing)) };
  };

  it('should send at most one typing frame per 2 s however fast the admin types', () => {
    const { sent, typing } = signal();
    // 20 keys a second for 3 s: past the server's 10 frames a second if each were sent
    for (let key = 1; key <= 60; key++) {
      typing.input('x'.repeat(key));
      jest.advanceTimersByTime(50);
    }
    expect(sent).toEqual([true, true]);
    expect(sent.length).toBeLessThanOrEqual(Math.ceil(3000 / TYPING_REPEAT_MS));
  });

  it('should send typing false after the admin stops typing', () => {
    const { sent, typing } = signal();
    typing.input('h');
    jest.advanceTimersByTime(TYPING_IDLE_MS - 1);
    expect(sent).toEqual([true]);
    jest.advanceTimersByTime(1);
    expect(sent).toEqual([true, false]);
  });

  it('should send typing false at once when the box is emptied or the message sent', () => {
    const { sent, typing } = signal();
    typing.input('h');
    typing.input('');
    expect(sent).toEqual([true, false]);
    typing.input('again');
    typing.stop();
    typing.stop();
    expect(sent).toEqual([true, false, true, false]);
    // no false left to send when the idle time comes
    jest.advanceTimersByTime(TYPING_IDLE_MS);
    expect(sent).toEqual([true, false, true, false]);
  });
});
