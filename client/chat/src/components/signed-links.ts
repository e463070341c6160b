import { useEffect, useRef, useState } from 'preact/hooks';
import { SignedMediaSource, signedFileUrl } from '../uploads';

export function useSignedUrl(url: string, token: string | null): string | null {
  const [signed, setSigned] = useState<string | null>(null);
  useEffect(() => {
    if (!token) return;
    let live = true;
    signedFileUrl(url, token).then(
      (value) => live && setSigned(value),
      () => live && setSigned(null),
    );
    return () => {
      live = false;
    };
  }, [url, token]);
  return signed;
}

// A player's link expires (SIGNED_URL_TTL) while the page stays open: a play or a seek then fails
// (403) and the element errors. It gets a fresh link, once per failure, and goes on where it was.
export function useSignedMedia(url: string, token: string | null) {
  const [signed, setSigned] = useState<string | null>(null);
  const media = useRef<SignedMediaSource | null>(null);
  // where the player was when its link failed, to go on from there with the fresh one
  const resume = useRef<{ at: number; playing: boolean } | null>(null);
  useEffect(() => {
    if (!token) return;
    let live = true;
    const source = new SignedMediaSource(url, token, (value) => live && setSigned(value));
    media.current = source;
    source.start().catch(() => live && setSigned(null));
    return () => {
      live = false;
      media.current = null;
    };
  }, [url, token]);
  const onError = (event: Event) => {
    const element = event.currentTarget as HTMLMediaElement;
    resume.current = { at: element.currentTime, playing: !element.paused };
    media.current?.failed().catch(() => undefined);
  };
  const onLoadedMetadata = (event: Event) => {
    const element = event.currentTarget as HTMLMediaElement;
    media.current?.played();
    const where = resume.current;
    resume.current = null;
    if (!where) return;
    element.currentTime = where.at;
    if (where.playing) element.play().catch(() => undefined);
  };
  return { signed, onError, onLoadedMetadata };
}
