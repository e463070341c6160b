import { useEffect, useRef, useState } from 'preact/hooks';
import { mmss } from '../../../shared/format';
import { Icon } from './icons';

type Phase =
  | { kind: 'starting' }
  | { kind: 'recording' }
  | { kind: 'recorded'; file: File; url: string }
  | { kind: 'error' };

// Records with MediaRecorder, showing elapsed time and a live level meter; then play back, send or discard.
export function VoiceRecorder({ onDone }: { onDone(file: File | null): void }) {
  const [phase, setPhase] = useState<Phase>({ kind: 'starting' });
  const [elapsed, setElapsed] = useState(0);
  const [level, setLevel] = useState(0);
  const recorder = useRef<MediaRecorder | null>(null);

  useEffect(() => {
    let stream: MediaStream | undefined;
    let audio: AudioContext | undefined;
    let frame = 0;
    let cancelled = false;
    const started = Date.now();
    navigator.mediaDevices
      .getUserMedia({ audio: true })
      .then((media) => {
        if (cancelled) return media.getTracks().forEach((track) => track.stop());
        stream = media;
        const chunks: Blob[] = [];
        const mediaRecorder = new MediaRecorder(media);
        recorder.current = mediaRecorder;
        mediaRecorder.ondataavailable = (event) => chunks.push(event.data);
        mediaRecorder.onstop = () => {
          const type = mediaRecorder.mimeType || 'audio/webm';
          const extension = type.includes('ogg') ? 'ogg' : type.includes('mp4') ? 'm4a' : 'webm';
          const file = new File(chunks, `voice-${new Date().toISOString().slice(0, 19)}.${extension}`, {
            type: type.split(';')[0],
          });
          setPhase({ kind: 'recorded', file, url: URL.createObjectURL(file) });
        };
        mediaRecorder.start(250);
        setPhase({ kind: 'recording' });
        audio = new AudioContext();
        const analyser = audio.createAnalyser();
        analyser.fftSize = 512;
        audio.createMediaStreamSource(media).connect(analyser);
        const samples = new Uint8Array(analyser.fftSize);
        const tick = () => {
          analyser.getByteTimeDomainData(samples);
          let peak = 0;
          for (const sample of samples) peak = Math.max(peak, Math.abs(sample - 128));
          setLevel(peak / 128);
          setElapsed(Date.now() - started);
          frame = requestAnimationFrame(tick);
        };
        tick();
      })
      .catch(() => setPhase({ kind: 'error' }));
    return () => {
      cancelled = true;
      cancelAnimationFrame(frame);
      if (recorder.current?.state === 'recording') recorder.current.stop();
      stream?.getTracks().forEach((track) => track.stop());
      void audio?.close();
    };
  }, []);

  const stop = () => {
    if (recorder.current?.state === 'recording') recorder.current.stop();
    recorder.current?.stream.getTracks().forEach((track) => track.stop());
  };

  return (
    <div class="recorder" role="group" aria-label="Voice message">
      {phase.kind === 'error' && <p class="note error">The microphone is not available.</p>}
      {(phase.kind === 'starting' || phase.kind === 'recording') && (
        <>
          <span class="rec-dot" aria-hidden="true" />
          <span class="elapsed" aria-label="Elapsed time" data-testid="elapsed">
            {mmss(elapsed)}
          </span>
          <meter class="level" min={0} max={1} value={level} aria-label="Input level" />
          <button type="button" class="button" onClick={stop} disabled={phase.kind !== 'recording'}>
            Stop
          </button>
        </>
      )}
      {phase.kind === 'recorded' && (
        <>
          <audio controls src={phase.url} aria-label="Recorded voice message" />
          <button type="button" class="button primary" onClick={() => onDone(phase.file)}>
            Send
          </button>
        </>
      )}
      <button
        type="button"
        class="icon-button"
        title="Discard"
        onClick={() => {
          stop();
          onDone(null);
        }}
      >
        <Icon name="trash" />
        <span class="sr">Discard</span>
      </button>
    </div>
  );
}
