import { SettingsError } from './env-readers';
import { loadRoomSettings } from './rooms.settings';

describe(loadRoomSettings.name, () => {
  it('should default to 90 days of retention, an hourly sweep, 10 messages a second, 30 s of presence and a 20 s @ai lease', () => {
    expect(loadRoomSettings({})).toEqual({
      retentionMs: 90 * 86_400_000,
      sweepIntervalMs: 3_600_000,
      messagesPerSecond: 10,
      maxOwnedRooms: 200,
      presenceTimeoutMs: 30_000,
      listCacheMs: 1000,
      aiLeaseMs: 20_000,
    });
  });

  it('should read each setting when it is given', () => {
    expect(
      loadRoomSettings({
        ROOM_RETENTION: '30d',
        ROOM_SWEEP_INTERVAL: '5m',
        ROOM_RATE_LIMIT_MESSAGES_PER_SECOND: '3',
        ROOM_MAX_OWNED: '7',
        PRESENCE_TIMEOUT: '45s',
        ROOM_LIST_CACHE: '0',
        ROOM_AI_LEASE: '4s',
      }),
    ).toEqual({
      retentionMs: 30 * 86_400_000,
      sweepIntervalMs: 300_000,
      messagesPerSecond: 3,
      maxOwnedRooms: 7,
      presenceTimeoutMs: 45_000,
      listCacheMs: 0,
      aiLeaseMs: 4000,
    });
  });

  it.each([
    ['ROOM_RETENTION', 'forever'],
    ['ROOM_RETENTION', '10ms'],
    ['ROOM_SWEEP_INTERVAL', '0'],
    ['ROOM_RATE_LIMIT_MESSAGES_PER_SECOND', '0'],
    ['ROOM_MAX_OWNED', '0'],
    ['PRESENCE_TIMEOUT', '1ms'],
    ['ROOM_LIST_CACHE', '2m'],
    ['ROOM_AI_LEASE', '1s'],
  ])('should stop boot naming %s when it is %s', (name, value) => {
    expect(() => loadRoomSettings({ [name]: value })).toThrow(SettingsError);
    expect(() => loadRoomSettings({ [name]: value })).toThrow(name);
  });
});
