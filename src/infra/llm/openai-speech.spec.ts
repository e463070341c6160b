import { startOpenAiFake, type OpenAiFake } from '../../../test/fakes/openai-fake';
import type { SpeechSettings } from '../../config/llm.settings';
import { LlmProviderError } from './llm-provider';
import { OpenAiAudio } from './openai-speech';

// The speech endpoint's answer is the reply's speech only when it is audio (docs/protocol.md,
// "Uploads and files").
describe(OpenAiAudio.name, () => {
  let fake: OpenAiFake;
  let audio: OpenAiAudio;
  const speech: SpeechSettings = { model: 'tts-1', voice: 'nova', format: 'mp3' };

  beforeAll(async () => {
    fake = await startOpenAiFake({});
    audio = new OpenAiAudio({ endpoint: fake.url, apiKey: 'sk-test', timeoutMs: 5000 });
  });
  afterAll(() => fake.close());
  beforeEach(() => fake.reset());

  it('should give the audio with the format its type when the endpoint answers audio', async () => {
    fake.enqueue({ speechAudio: Buffer.from('ID3 sound'), speechType: 'audio/mpeg' });
    await expect(audio.synthesize('hello', speech)).resolves.toEqual({
      data: Buffer.from('ID3 sound'),
      mimeType: 'audio/mpeg',
    });
    fake.enqueue({ speechAudio: Buffer.from('ID3 sound'), speechType: 'application/octet-stream' });
    await expect(audio.synthesize('hello', speech)).resolves.toMatchObject({ mimeType: 'audio/mpeg' });
  });

  // Found by the speech black-box audit in session 42: such a 200 was kept as the reply's speech
  it.each([
    ['application/json', '{"error":{"message":"nope"}}'],
    ['text/html; charset=utf-8', '<html>gateway says hi</html>'],
    ['text/plain', 'nope'],
  ])('should fail retryably, quoting nothing of the body, when a 200 is %s', async (type, body) => {
    fake.enqueue({ speechAudio: Buffer.from(body), speechType: type });
    const failure = await audio.synthesize('hello', speech).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(LlmProviderError);
    expect(failure).toMatchObject({ retryable: true });
    expect((failure as Error).message).not.toContain(body.slice(0, 6));
  });
});
