import { useEffect, useState } from 'preact/hooks';
import type { ChatClient, ChatView } from './chat-client';

// Re-renders on every change of the client (frames, link state, uploads); batched per frame.
export function useChatView(client: ChatClient): ChatView {
  const [view, setView] = useState(client.snapshot);
  useEffect(() => {
    let scheduled = 0;
    const unsubscribe = client.subscribe(() => {
      if (scheduled) return;
      scheduled = requestAnimationFrame(() => {
        scheduled = 0;
        setView(client.snapshot);
      });
    });
    // effects run after the first paint: what changed since the first render (the server's first
    // frame often comes first, on a reload) reached no listener, so the view catches up once here
    setView(client.snapshot);
    return () => {
      cancelAnimationFrame(scheduled);
      unsubscribe();
    };
  }, [client]);
  return view;
}

export function useNow(intervalMs: number, active: boolean): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (!active) return;
    const timer = setInterval(() => setNow(Date.now()), intervalMs);
    return () => clearInterval(timer);
  }, [intervalMs, active]);
  return now;
}
