// Messages between the instances of chatbox. publish() tells every OTHER instance (the caller
// handles its own instance directly, so local delivery never waits on, or depends on, the network).
// Delivery per topic is in publish order from each instance; a message may be missed during an
// outage, after which onResync handlers run on every instance so they can catch up from MongoDB.
export interface Bus {
  readonly instanceId: string;
  readonly kind: 'in-process' | 'redis';
  publish(topic: string, payload: unknown): void;
  // publish(), and whether the message went out: true once Redis took it (every instance listening
  // then gets it; one whose connection was down resyncs when it is back), false when it could not be
  // sent (Redis away). What must not be missed (a kick's revoke) waits for this.
  publishConfirmed(topic: string, payload: unknown): Promise<boolean>;
  subscribe(topic: string, handler: (payload: unknown, from: string) => void): void;
  onResync(handler: () => void): void;
  // connected and answering (Redis: a PING within `timeoutMs`)
  health(timeoutMs?: number): Promise<BusHealth>;
  close(): Promise<void>;
}

export interface BusHealth {
  up: boolean;
  detail?: string;
}

export const BUS = Symbol('BUS');

export type BusHandler = (payload: unknown, from: string) => void;
