import twilio from 'twilio';
import RequestClient from 'twilio/lib/base/RequestClient';
import type { SmsSettings } from '../../config/notifications.settings';

const TWILIO_API = 'https://api.twilio.com';
// one request, at most (DeliveryService starts no send it could not finish in its attempt's window)
export const SMS_TIMEOUT_MS = 15_000;

// The SDK's own HTTP client, with Twilio's API base swapped for TWILIO_API_URL (a proxy, or a local
// server in tests): the SDK builds every request (auth, form encoding, paths) as usual.
export class BaseUrlRequestClient extends RequestClient {
  constructor(private readonly baseUrl: string) {
    super({ timeout: SMS_TIMEOUT_MS });
  }

  override request<TData>(options: RequestClient.RequestOptions<TData>) {
    const uri = options.uri.startsWith(TWILIO_API)
      ? this.baseUrl + options.uri.slice(TWILIO_API.length)
      : options.uri;
    return super.request({ ...options, uri });
  }
}

// SMS to the admins through the twilio SDK (Messages API), one phone at a time: the caller records
// each phone reached and retries only the others (docs/protocol.md, "Alert limits and digests").
export class SmsSender {
  private readonly client: twilio.Twilio;

  constructor(private readonly settings: SmsSettings) {
    this.client = twilio(settings.accountSid, settings.authToken, {
      httpClient: settings.apiUrl ? new BaseUrlRequestClient(settings.apiUrl) : undefined,
      timeout: SMS_TIMEOUT_MS,
      autoRetry: false,
    });
  }

  get recipients(): string[] {
    return this.settings.to;
  }

  // Fails with the HTTP status and Twilio's error code only: Twilio's text names the number ("The
  // 'To' number +49… is not a valid phone number."), and the failure is logged and stored.
  async send(to: string, body: string): Promise<void> {
    try {
      await this.client.messages.create({ to, from: this.settings.from, body });
    } catch (error) {
      throw new Error(smsFailure(error));
    }
  }
}

// "twilio 400 21211", "twilio ECONNREFUSED"
export function smsFailure(error: unknown): string {
  const { status, code } = (error ?? {}) as { status?: unknown; code?: unknown };
  const parts = [
    typeof status === 'number' && Number.isInteger(status) ? String(status) : '',
    typeof code === 'number' && Number.isInteger(code) ? String(code) : '',
    typeof code === 'string' && /^[A-Z0-9_]{1,32}$/.test(code) ? code : '',
  ].filter((part) => part.length > 0);
  return `twilio ${parts.length > 0 ? parts.join(' ') : 'ERROR'}`;
}
