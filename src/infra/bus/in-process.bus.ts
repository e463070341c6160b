import type { Bus, BusHandler, BusHealth } from './bus';
import { newId } from '../../common/ids';

// Instances that share one InProcessNetwork see each other's messages (tests run two hubs in one
// process this way); a lone instance has a private network, so publish() reaches nobody.
export class InProcessNetwork {
  private readonly members = new Set<InProcessBus>();

  join(bus: InProcessBus): void {
    this.members.add(bus);
  }

  leave(bus: InProcessBus): void {
    this.members.delete(bus);
  }

  deliver(from: InProcessBus, topic: string, payload: unknown): void {
    // a lone instance (no REDIS_URL): nothing to do on the hot path
    if (this.members.size < 2) return;
    // a structured clone, so no instance shares objects with another (as over Redis)
    const copy = structuredClone(payload);
    for (const member of this.members) if (member !== from) member.receive(topic, copy, from.instanceId);
  }
}

export class InProcessBus implements Bus {
  readonly instanceId = newId();
  readonly kind = 'in-process';
  private readonly handlers = new Map<string, BusHandler[]>();

  constructor(private readonly network = new InProcessNetwork()) {
    network.join(this);
  }

  publish(topic: string, payload: unknown): void {
    this.network.deliver(this, topic, payload);
  }

  publishConfirmed(topic: string, payload: unknown): Promise<boolean> {
    this.publish(topic, payload);
    return Promise.resolve(true);
  }

  subscribe(topic: string, handler: BusHandler): void {
    this.handlers.set(topic, [...(this.handlers.get(topic) ?? []), handler]);
  }

  // nothing is ever missed in process
  onResync(_handler: () => void): void {}

  receive(topic: string, payload: unknown, from: string): void {
    for (const handler of this.handlers.get(topic) ?? []) handler(payload, from);
  }

  health(): Promise<BusHealth> {
    return Promise.resolve({ up: true });
  }

  close(): Promise<void> {
    this.network.leave(this);
    return Promise.resolve();
  }
}
