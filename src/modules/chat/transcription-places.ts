import { Inject, Injectable } from '@nestjs/common';
import { SETTINGS, type Settings } from '../../config/settings';
import { ReadGate } from '../../common/read-gate';

// a user's voice messages that may wait for a place beyond the one being transcribed (a waiting one
// holds its socket's frame, not the file's bytes); past them the next is refused RATE_LIMITED
const PER_USER_WAITING = 2;

// The instance's places for transcriptions (docs/protocol.md, "Uploads and files"):
// VOICE_TRANSCRIPTIONS_MAX at once, one per user, taken before the file is read. Each holds its
// recording (up to 25 MB) several times over while the vendor works, for up to the model's timeout.
@Injectable()
export class TranscriptionPlaces extends ReadGate {
  constructor(@Inject(SETTINGS) settings: Pick<Settings, 'voiceTranscriptionsMax'>) {
    super(settings.voiceTranscriptionsMax, PER_USER_WAITING, {
      message: 'Too many of your voice messages are being transcribed; send this one again shortly.',
      retryAfterMs: 5000,
    });
  }
}
