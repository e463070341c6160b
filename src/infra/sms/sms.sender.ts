import twilio from 'twilio';
import RequestClient from 'twilio/lib/base/RequestClient';
import type { SmsSettings } from '../../config/notifications.settings';

const TWILIO_API = 'https://api.twilio.com';

// The SDK's own HTTP client, with Twilio's API base swapped for TWILIO_API_URL (a proxy, or a local
// server in tests): the SDK builds every request (auth, form encoding, paths) as usual.
export class BaseUrlRequestClient extends RequestClient {
  constructor(private readonly baseUrl: string) {
    super({ timeout: 15_000 });
  }

  override request<TData>(options: RequestClient.RequestOptions<TData>) {
    const uri = options.uri.startsWith(TWILIO_API)
      ? this.baseUrl + options.uri.slice(TWILIO_API.length)
      : options.uri;
    return super.request({ ...options, uri });
  }
}

// SMS to the admins through the twilio SDK (Messages API).
export class SmsSender {
  private readonly client: twilio.Twilio;

  constructor(private readonly settings: SmsSettings) {
    this.client = twilio(settings.accountSid, settings.authToken, {
      httpClient: settings.apiUrl ? new BaseUrlRequestClient(settings.apiUrl) : undefined,
      timeout: 15_000,
      autoRetry: false,
    });
  }

  get recipients(): string[] {
    return this.settings.to;
  }

  // One message per admin phone; fails if any fails (the caller retries the whole alert channel).
  async send(body: string): Promise<void> {
    for (const to of this.settings.to)
      await this.client.messages.create({ to, from: this.settings.from, body });
  }
}
